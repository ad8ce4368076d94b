"""Demand: how many citizens come to each site, when, and for which démarches.

In: the network table, the territory and the config. Out: each site's volume schedule (``catchment``, from
the model fitted on observed actes by ``calibration``) and, per site and replication, the arrivals with
their attributes (``arrivals``; the uniforms of their channel, ``channels``; where in a day or a stop visit
they come, ``profiles``), drawn from named random streams (``randomness``; its uniforms and the démarche picks compiled in ``compiled``)
so that common random numbers survive changes elsewhere; ``distributions`` holds the service-time and patience laws.
"""
