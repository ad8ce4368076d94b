"""Where citizens live: each visit's commune of residence, drawn from its site's catchment origins.

In: a site (its ``demand.origins``, commune → share, filled by the network builder from the catchment) or a
bus (its stops). Out: commune codes and, per citizen, the index of its commune, from the citizen's own uniform
(stream "origin"), so that the draw changes no other attribute.
"""
from __future__ import annotations

import numpy as np


def origin_communes(entity) -> tuple[list[str], np.ndarray]:
    """Where the citizens of a site or bus live: commune codes and cumulative shares. A site's
    ``demand.origins`` (filled by the network builder from the catchment), else its own commune ('' if
    unknown); a bus's stops, one each (its citizens live at the stop they come to)."""
    stops = getattr(entity, "stops", None)
    if stops is not None:
        return [s.commune or "" for s in stops], np.array([])
    origins = entity.demand.origins
    if not origins:
        return [entity.commune or ""], np.array([1.0])
    w = np.array(list(origins.values()), dtype=float)
    cum = np.cumsum(w / w.sum())
    cum[-1] = 1.0
    return list(origins), cum


def origins(entity, u: np.ndarray) -> np.ndarray:
    """Each citizen's commune of residence (index in :func:`origin_communes`), from its own uniform."""
    codes, cum = origin_communes(entity)
    if not len(cum):  # a bus: the stop of the visit, filled by the counter from the sessions
        return np.full(len(u), -1, dtype=np.int32)
    return np.searchsorted(cum, u, side="right").clip(max=len(codes) - 1).astype(np.int32)


__all__ = ["origin_communes", "origins"]
