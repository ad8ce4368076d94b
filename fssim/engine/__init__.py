"""The engine: the SimPy model of the counter and the buses, the only place SimPy runs the model.

In: sites (or buses) with their opening sessions (``calendar``) and arrivals. Out: one record per visit and
per session. ``counter`` serves a session's queue (FCFS walk-ins, bookings, reneging, agents on and off
duty, capacity carried over closures); ``stations`` puts the other channels around it (self-service stations
served by the same kernel, visio slots, back-office referrals); ``simulation`` runs sites and buses as SimPy
processes; ``kernel`` (with ``session_kernel``, one session) is the same counter compiled with numba, a site's
or a bus's whole horizon in one call, identical bit for bit;
``queueing`` holds the analytic results (Erlang C, Erlang A) the model is validated against and that size
staffing.
"""
