"""Geography: the embedded territory, travel times and coverage.

In: the territory shipped with the package (communes, cantons, outlines) and optionally a travel matrix.
Out: ``Territory`` tables, nearest-site travel times (``travel.travel_times``), coverage figures by threshold
and canton (``coverage``), with bus stops and their frequency (``bus_coverage``).
"""
