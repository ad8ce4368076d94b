"""Sources: the official files fssim reads, checked on the way in.

In: the data directory (``data_dir``, ``FSSIM_DATA_DIR`` or ``../shared/data``). Out: plain tables.
``datadir`` finds the folder and reads CSV text safely; ``fetch`` downloads the sources with their SHA-256;
``anct`` loads the ANCT lists of France services (sites, formats, hours parsed by ``hours``); ``barometre``
loads the Baromètre des résultats (monthly actes, labels by département).
"""
