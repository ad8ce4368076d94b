"""Levers of the explorer: what-if controls turned into config settings (``path → value``).

Each lever reads its baseline value from the resolved config and, when moved, gives the settings that the
experiments' path machinery (:func:`fssim.experiment.paths.set_setting`) applies, so a lever is nothing but
a list of experiment factors: ``sites[0].agents = 3``, ``behaviour.no_show = 0.1``… A lever left at its
baseline value gives no setting, so the untouched levers reproduce the baseline exactly (same digest, same
citizens). The result is validated by the ordinary config loading (:func:`fssim.config.config_from_dict`):
a negative number of agents or an impossible hour gives the error the CLI gives, for the page to show.

Scope: listed sites (one site or several) are changed site by site; a network (``network:`` block) through
its rules: agents by density class (``network.agents.*``, with the volume rule the floor of each site),
``network.hours`` and ``catchment.multiplier``.
"""
from __future__ import annotations

import copy
from typing import Any

from fssim.clock import WEEKDAYS
from fssim.config import Config, config_from_dict, parse_day_hours
from fssim.errors import InputError
from fssim.experiment.paths import get_setting, set_setting

#: what an added half-day opens (the usual France services hours, fssim.defaults.DEFAULT_HOURS)
MORNING, AFTERNOON = "09:00-12:00", "14:00-16:45"
NOON = 13 * 60
LEVER_NAMES = ("agents", "saturday", "half_day", "half_day_action", "appointment_share", "slot_minutes", "no_show",
               "demand_multiplier", "mix_demarche", "mix_share", "buses", "replications", "horizon_days")


def scope(cfg: Config) -> str:
    """``site`` (one listed site), ``sites`` (several) or ``network`` (a network block)."""
    if cfg.network is not None:
        return "network"
    return "site" if len(cfg.sites) == 1 else "sites"


def _text(hours) -> str:
    return " / ".join(hours) if isinstance(hours, list) else (hours or "")


def baseline_levers(cfg: Config) -> dict[str, Any]:
    """The lever values that reproduce ``cfg``: the controls' initial state."""
    data = cfg.model_dump(mode="json")
    net = scope(cfg) == "network"
    hours = data["network"]["hours"] if net else (data["sites"][0]["hours"] if data["sites"] else {})
    offered = net or any(s["appointments"] for s in data["sites"])
    first = max(cfg.demarches, key=lambda d: d.share)
    return {
        "agents": 0 if net else _max_agents(data["sites"][0]["agents"]) if data["sites"] else 0,
        "saturday": _text(hours.get("sat")),
        "half_day": "", "half_day_action": "add",
        "appointment_share": float(cfg.behaviour.appointment_share) if offered else 0.0,
        "slot_minutes": int(cfg.behaviour.slot_minutes),
        "no_show": float(cfg.behaviour.no_show),
        "demand_multiplier": 1.0,
        "mix_demarche": first.name, "mix_share": float(first.share),
        "buses": bool(cfg.buses) or (net and cfg.network.mobile != "none"),
        "replications": int(cfg.replications),
        "horizon_days": int(cfg.horizon.days),
    }


def _max_agents(agents) -> int:
    if isinstance(agents, int):
        return agents
    return max(max(v) if isinstance(v, list) else v for v in agents.values())


def _number(levers: dict, name: str, kind=float):
    value = levers.get(name)
    if value is None or value == "":
        raise InputError("give a number", field=f"lever {name}")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise InputError(f"{value!r} is not a number", field=f"lever {name}") from None


def settings(cfg: Config, levers: dict[str, Any]) -> list[tuple[str, Any]]:
    """The config settings (path, value) of the levers that differ from ``cfg``'s own values, in lever order."""
    data = cfg.model_dump(mode="json")  # a working copy: the settings so far are applied to it as they come
    base = baseline_levers(cfg)
    lev = {**base, **{k: v for k, v in levers.items() if k in LEVER_NAMES}}
    net = scope(cfg) == "network"
    out: list[tuple[str, Any]] = []
    changed = lambda name: lev[name] != base[name]  # noqa: E731
    if changed("agents"):
        n = _number(lev, "agents", int)
        if net:  # a shift of every density class's agents (the volume rule's floor)
            for cls, a in data["network"]["agents"].items():
                out.append((f"network.agents.{cls}", a + n))
        else:
            out += [(f"sites[{i}].agents", n) for i in range(len(data["sites"]))]
    def hours_of():  # read after the levers before it: Saturday's hours, then a half-day on Saturday
        for path, value in out:
            set_setting(data, path, value)
        return ([("network", data["network"]["hours"], None)] if net else
                [(f"sites[{i}]", s["hours"], s["agents"]) for i, s in enumerate(data["sites"])])

    if changed("saturday"):
        for where, hours, agents in hours_of():
            out += _day_settings(where, "sat", str(lev["saturday"] or "").strip(), agents)
    if lev["half_day"]:
        day = str(lev["half_day"])
        if day not in WEEKDAYS:
            raise InputError(f"{day!r} is not a weekday; choose one of {', '.join(WEEKDAYS)}", field="lever half_day")
        for where, hours, agents in hours_of():
            out += _day_settings(where, day, _half_day(hours.get(day), lev["half_day_action"], f"{where}.hours.{day}"),
                                 agents)
    if changed("appointment_share"):
        share = _number(lev, "appointment_share")
        out.append(("behaviour.appointment_share", share))
        if not net:
            out += [(f"sites[{i}].appointments", share > 0) for i in range(len(data["sites"]))]
    for name, path, kind in (("slot_minutes", "behaviour.slot_minutes", int), ("no_show", "behaviour.no_show", float),
                             ("replications", "replications", int), ("horizon_days", "horizon.days", int)):
        if changed(name):
            out.append((path, _number(lev, name, kind)))
    if changed("demand_multiplier"):
        m = _number(lev, "demand_multiplier")
        if m <= 0:
            raise InputError(f"{m:g}: the demand multiplier must be above 0 (1 keeps the demand)",
                             field="lever demand_multiplier")
        if net:
            out.append(("catchment.multiplier", data["catchment"]["multiplier"] * m))
        else:
            out += [(f"sites[{i}].demand.multiplier", s["demand"]["multiplier"] * m)
                    for i, s in enumerate(data["sites"])]
    if changed("mix_share") or lev["mix_demarche"] != base["mix_demarche"]:
        out += _mix_settings(data["demarches"], str(lev["mix_demarche"]), _number(lev, "mix_share"))
    if changed("buses") and not lev["buses"]:
        if data["buses"]:
            out.append(("buses", []))
        if net and data["network"]["mobile"] != "none":
            out.append(("network.mobile", "none"))
    return out


def _day_settings(where: str, day: str, hours: str, agents) -> list[tuple[str, Any]]:
    """A day's new hours, and its agents when they are given per interval (one number for the whole day)."""
    out: list[tuple[str, Any]] = [(f"{where}.hours.{day}", hours)]
    if isinstance(agents, dict):
        own = agents.get(day)
        n = (max(own) if isinstance(own, list) else own) if own is not None else _max_agents(agents)
        out.append((f"{where}.agents.{day}", n))
    return out


def _half_day(hours, action: str, field: str) -> str:
    """A day's hours with a half-day added (the morning or afternoon it lacks) or removed (its afternoon)."""
    try:
        iv = parse_day_hours(hours)
    except ValueError as e:
        raise InputError(str(e), field=field) from None
    text = [h.strip() for h in _text(hours).split("/") if h.strip()]
    morning = [t for t, (a, b) in zip(sorted(text, key=_start), iv) if a < NOON]
    afternoon = [t for t, (a, b) in zip(sorted(text, key=_start), iv) if a >= NOON]
    if action == "remove":
        if not afternoon and not morning:
            raise InputError("this day is already closed; choose an open day to remove a half-day from", field=field)
        return " / ".join(morning if afternoon else [])
    if action != "add":
        raise InputError(f"{action!r}: choose add or remove", field="lever half_day_action")
    if morning and afternoon:
        raise InputError("this day is already open morning and afternoon; choose another day", field=field)
    return " / ".join(morning + [AFTERNOON] if morning else [MORNING] + afternoon)


def _start(interval: str) -> int:
    return parse_day_hours(interval)[0][0]


def _mix_settings(demarches: list[dict], name: str, share: float) -> list[tuple[str, Any]]:
    """One démarche's share set, the others scaled so that the shares still sum to 1."""
    names = [d["name"] for d in demarches]
    if name not in names:
        raise InputError(f"unknown démarche {name!r}; known: {', '.join(names)}", field="lever mix_demarche")
    if not 0 <= share <= 1 or (share == 1 and len(names) > 1):
        raise InputError(f"{share:g}: a démarche's share is between 0 and 1 (below 1 when there are others)",
                         field="lever mix_share")
    rest = sum(d["share"] for d in demarches if d["name"] != name)
    out = []
    for i, d in enumerate(demarches):
        if d["name"] == name:
            out.append((f"demarches[{i}].share", share))
        else:
            scaled = d["share"] / rest * (1 - share) if rest > 0 else (1 - share) / (len(names) - 1)
            out.append((f"demarches[{i}].share", round(scaled, 12)))
    fix = 1 - sum(v for _, v in out)  # rounding: the shares sum to 1 within the schema's 1e-6
    j = next(k for k, d in enumerate(demarches) if d["name"] != name) if len(names) > 1 else 0
    out[j] = (out[j][0], out[j][1] + fix)
    return out


def apply(cfg: Config, levers: dict[str, Any], *, source: str = "explorer levers") -> tuple[Config, list]:
    """The scenario of ``levers`` on ``cfg`` and its settings; InputError (naming the field) when invalid."""
    changes = settings(cfg, levers)
    data = copy.deepcopy(cfg.model_dump(mode="json"))
    for path, value in changes:
        set_setting(data, path, value)
    new = config_from_dict(data, source=source, base=cfg.base_dir)
    return new, changes


def current(cfg: Config, path: str) -> list:
    """The values of ``cfg`` at a config path (wildcards allowed): for showing what a lever changes."""
    return get_setting(cfg.model_dump(mode="json"), path)
