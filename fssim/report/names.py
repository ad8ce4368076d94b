"""Display names: what the reader sees instead of codes and identifiers.

Sites by their name (``p1509`` → "France services de Lormes"), démarches by their label in the report's
language (``france_titres`` → "Titres : identité, passeport, permis, carte grise"), communes, cantons,
départements and régions by their names from the embedded territory. One place for all of them, so that the
charts, the points d'attention, the maps and the exports say the same thing.
"""
from __future__ import annotations

from functools import lru_cache

from fssim import defaults as D

AREA_LEVELS = ("commune", "canton", "departement", "region")


@lru_cache(maxsize=1)
def _area_tables() -> dict[str, dict[str, str]]:
    try:
        from fssim.geo.territory import load_territory
        terr = load_territory()
    except Exception:  # names are a nicety: without the territory the codes are shown
        return {level: {} for level in AREA_LEVELS}
    tables = {"commune": terr.communes, "canton": terr.cantons, "departement": terr.departements,
              "region": terr.regions}
    return {level: dict(zip(tab["code"].astype(str), tab["name"].astype(str))) for level, tab in tables.items()}


def area_names(level: str) -> dict[str, str]:
    """Code → name of the communes, cantons, départements or régions of the embedded territory (empty if
    it cannot be read)."""
    return _area_tables()[level]


def demarche_label(name: str, lang: str = "fr", demarches=()) -> str:
    """A démarche's display name: its ``label`` in the config if given (shown as written), else the
    catalogue's label in ``lang``, else the identifier with spaces."""
    for d in demarches:
        if d.name == name and getattr(d, "label", ""):
            return d.label
    pair = D.DEMARCHE_LABELS.get(name)
    if pair:
        return pair[0 if lang == "fr" else 1]
    return str(name).replace("_", " ").capitalize()


def site_label(site_id: str, sites=()) -> str:
    """A site's (or bus's) name from the run's configuration, else its identifier."""
    for s in sites:
        if s.id == site_id:
            return s.name or site_id
    return str(site_id)


def site_labels(keys, sites) -> list[str]:
    """Names of the sites ``keys``; a name shared by two sites gets its identifier in brackets."""
    by_id = {s.id: (s.name or s.id) for s in sites}
    names = [by_id.get(str(k), str(k)) for k in keys]
    seen: dict[str, int] = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    return [f"{n} ({k})" if seen[n] > 1 and n != str(k) else n for n, k in zip(names, keys)]


__all__ = ["area_names", "demarche_label", "site_label", "site_labels", "AREA_LEVELS"]
