"""The network: which sites, where, with which hours and agents, and the buses' rotations.

In: a config and the territory. Out: the network table (one row per site: id, commune, coordinates, hours,
agents, opening date) and buses with their stops. ``build`` turns the ANCT list, a config's sites or a
placement into that table; ``placement`` solves where N sites go (maximal covering: coverage sets and their
search in ``covering``, relief of overloaded sites in ``demand_aware``, placed vs real in ``comparison``);
``rotation`` designs bus rotations (bases and stops in ``rotation_stops``, slots and day travel in
``rotation_timetable``, tours in ``tour``); ``buses`` generates and checks bus stops.
"""
