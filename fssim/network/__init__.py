"""The network: which sites, where, with which hours and agents, and the buses' rotations.

In: a config and the territory. Out: the network table (one row per site: id, commune, coordinates, hours,
agents, opening date) and buses with their stops. ``build`` turns the ANCT list, a config's sites or a
placement into that table; ``placement`` solves where N sites go (maximal covering, demand-aware);
``rotation`` designs bus rotations; ``buses`` generates and checks bus stops.
"""
