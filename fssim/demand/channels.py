"""Each citizen's channel draws: the uniforms deciding their channel and its durations, drawn up front.

One named stream per draw (``channel``, ``station_time``, ``station_help``, ``station_help_time``,
``visio_lead``, ``back_office_return``, ``back_office_delay``), read at the citizen's key (day, index in the
day) like every other attribute (:func:`fssim.demand.arrivals.generate_arrivals`): turning channels or
stations on changes what happens to citizens, never who they are, when they come or for what (common random
numbers). Nothing is drawn when every visit stays at the counter, so existing runs keep their numbers.
"""
from __future__ import annotations

import numpy as np

from fssim.config.resources import uses_channels

#: the columns of ``Arrivals.channel_u``, one stream each
DRAWS = ("channel", "station_time", "station_help", "station_help_time", "visio_lead", "back_office_return",
         "back_office_delay")
COLUMN = {name: j for j, name in enumerate(DRAWS)}


def channel_uniforms(config, entity, draw) -> np.ndarray | None:
    """citizens × :data:`DRAWS` uniforms for a fixed site whose visits can take other channels, else None."""
    if getattr(entity, "stops", None) is not None or not uses_channels(config):
        return None  # a bus serves every visit at the counter
    return np.column_stack([draw(name) for name in DRAWS])
