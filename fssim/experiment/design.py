"""Experiment definitions: a base scenario, factors and their levels, replications, a baseline.

An experiment file (``experiments/*.yaml``) names a base scenario config and what to vary::

    base: ../configs/one-site.yaml          # relative to the experiment file
    overrides: {demand.visits_per_open_day: 20}
    factors:                                 # config path → levels
      sites[*].agents: [2, 3, 4]
    design: full_factorial                   # or: list, with scenarios: [{name, set: {path: value}}]
    baseline: agents=2                       # a scenario name, or {agents: 2}
    replications: {min: 5, max: 40, kpis: [p90_wait_min], relative_half_width: 0.05}
    costs: {agent: 40000, site: 50000, bus: 32500}   # € a year (the defaults, estimates: fssim.experiment.costs)

Every scenario runs with the same seed, so replication r of every scenario sees the same citizens
(common random numbers; fssim's streams are keyed by seed, replication, site and stream name).
``load_experiment`` validates the file and every scenario's config; errors name the file and the field.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, ValidationError, model_validator

from fssim.metrics import kpis as kpi_registry
from fssim.config import Config, config_from_dict, format_validation_error, load_config, read_yaml
from fssim.errors import InputError
from fssim.experiment.costs import CostSpec
from fssim.experiment.paths import get_setting, set_setting, short_name, tokens


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReplicationRule(_Model):
    """Sequential replications: run ``min``, then more in batches until the 95 % half-width of every
    chosen KPI, in every scenario, is below ``relative_half_width`` × |mean| (or ``absolute_half_width``
    when given), or ``max`` is reached."""

    min: int = Field(5, ge=2, description="replications of the first batch (at least 2 for an interval)")
    max: PositiveInt = 50
    kpis: list[str] = Field(default_factory=lambda: ["mean_wait_min"], min_length=1)
    relative_half_width: PositiveFloat = 0.05
    absolute_half_width: PositiveFloat | None = Field(
        None, description="also accept a half-width at most this (for KPIs near 0, such as abandonment)")

    @model_validator(mode="after")
    def _check(self):
        bad = [k for k in self.kpis if kpi_registry.find(k) is None]
        if bad:
            raise ValueError(f"kpis: {kpi_registry.unknown(bad[0])}")
        if self.max < self.min:
            raise ValueError(f"max: {self.max} is below min ({self.min})")
        return self


class ScenarioSpec(_Model):
    name: str = Field(min_length=1)
    set: dict[str, Any] = Field(default_factory=dict, description="config path → value")
    levels: dict[str, Any] | None = Field(
        None, description="factor columns of this scenario in the results (default: the values at the set paths)")


class ExperimentSpec(_Model):
    name: str | None = None
    description: str = ""
    base: str = Field(description="scenario config, relative to the experiment file")
    overrides: dict[str, Any] = Field(default_factory=dict, description="config path → value, for every scenario")
    factors: dict[str, list[Any]] = Field(default_factory=dict, description="config path → levels")
    design: Literal["full_factorial", "list"] = "full_factorial"
    scenarios: list[ScenarioSpec] = Field(default_factory=list)
    baseline: str | dict[str, Any] | None = None
    replications: PositiveInt | ReplicationRule | None = Field(
        None, description="a number, or a sequential rule; default: the base config's replications")
    seed: int | None = Field(None, ge=0, description="common seed of every scenario; default: the base's")
    confidence: float = Field(0.95, gt=0.5, lt=1)
    costs: CostSpec = Field(default_factory=CostSpec,
                            description="yearly unit costs of agents, sites and buses (fssim.experiment.costs) [E]")

    @model_validator(mode="after")
    def _check(self):
        for where, paths in (("factors", self.factors), ("overrides", self.overrides)):
            for p in paths:
                _check_path(p, where)
        for name, levels in self.factors.items():
            if not levels:
                raise ValueError(f"factors.{name}: give at least one level")
        if self.design == "full_factorial":
            if not self.factors:
                raise ValueError("factors: a full_factorial design needs at least one factor (path: [levels])")
            if self.scenarios:
                raise ValueError("scenarios: only with design: list (a full factorial builds its scenarios)")
        else:
            if not self.scenarios:
                raise ValueError("scenarios: a list design needs scenarios: [{name, set: {path: value}}]")
            if self.factors:
                raise ValueError("factors: only with design: full_factorial; in a list, put each setting "
                                 "under scenarios[i].set")
            names = [s.name for s in self.scenarios]
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"scenarios: duplicate names {dup}")
            for i, s in enumerate(self.scenarios):
                for p in s.set:
                    _check_path(p, f"scenarios[{i}].set")
        return self


def _check_path(path: str, where: str) -> None:
    try:
        toks = tokens(path)
    except InputError:
        raise ValueError(f"{where}: {path!r} is not a config path (dotted keys, [i] or [*], e.g. "
                         "sites[*].agents)") from None
    if toks[0] in ("seed", "replications"):
        raise ValueError(f"{where}: {path!r} cannot vary between scenarios: set the experiment's 'seed' and "
                         "'replications' (every scenario shares them, which is what pairs the replications)")


@dataclass
class PlannedScenario:
    """One scenario of an experiment: its name, the settings applied to the base, the factor levels
    (column → value, for the output tables) and its validated config."""

    name: str
    settings: dict[str, Any]
    levels: dict[str, Any]
    config: Config


@dataclass
class Experiment:
    spec: ExperimentSpec
    path: Path | None
    base_path: Path
    base: Config
    scenarios: list[PlannedScenario]
    baseline: str
    seed: int
    rule: ReplicationRule | None          # sequential rule, or None for a fixed number
    fixed_replications: int
    factor_columns: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec.name or (self.path.stem if self.path else "experiment")

    def scenario(self, name: str) -> PlannedScenario:
        for s in self.scenarios:
            if s.name == name:
                return s
        raise KeyError(name)

    def digest(self) -> str:
        """sha256 of the definition and every scenario's resolved config."""
        blob = json.dumps({"spec": self.spec.model_dump(mode="json"),
                           "scenarios": {s.name: s.config.digest() for s in self.scenarios}},
                          sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()


_KEYS = {
    "": "name, description, base, overrides, factors, design, scenarios, baseline, replications, seed, confidence, "
        "costs",
    "costs": "agent, site, bus, currency",
    "replications": "min, max, kpis, relative_half_width, absolute_half_width",
    "scenarios": "name, set, levels",
}


def _explain(e: dict, parts: list) -> str | None:
    """The experiment definition's own words for some pydantic errors (see ``format_validation_error``)."""
    tags = [p for p in e["loc"] if isinstance(p, str)]
    if "replications" in tags and {"int", "constrained-int"} & set(tags) and isinstance(e.get("input"), dict):
        return ""  # a mapping given: the rule's own errors say what is wrong, not "should be an integer"
    if e["type"] == "extra_forbidden":
        return f"unknown key; {'an experiment' if len(parts) == 1 else 'this block'} has " + \
            _KEYS.get(str(parts[0]) if len(parts) > 1 else "", "see the documentation")
    if e["type"] == "list_type" and parts and parts[0] == "factors":
        return "give a list of levels, e.g. [2, 3, 4]"
    return None


def _format(err: ValidationError, file: str) -> InputError:
    return format_validation_error(err, file, what="experiment definition", explain=_explain)


def _fmt(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return str(value)


def _effective(data: dict, path: str) -> Any:
    """The value at a path in a resolved config: one value, or the list of values when a wildcard finds
    different ones."""
    vals = get_setting(data, path)
    uniq = {json.dumps(v, sort_keys=True, default=str) for v in vals}
    if not vals:
        return None
    return vals[0] if len(uniq) == 1 else vals


def _columns(paths: list[str]) -> dict[str, str]:
    """A readable column per path: its last key when unique, else the whole path."""
    shorts = [short_name(p) for p in paths]
    return {p: (s if shorts.count(s) == 1 else p) for p, s in zip(paths, shorts)}


def experiment_from_dict(data: dict, *, source: str = "<experiment>", base_dir: Path | None = None) -> Experiment:
    """Validate an experiment mapping and every scenario config it implies."""
    if not isinstance(data, dict):
        raise InputError("the top level must be a mapping (base, factors, replications…)", file=source)
    try:
        spec = ExperimentSpec.model_validate(data)
    except ValidationError as e:
        raise _format(e, source) from None
    base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
    base_path = Path(spec.base)
    if not base_path.is_absolute():
        base_path = (base_dir / base_path)
    if not base_path.exists():
        raise InputError(f"base config {spec.base!r} not found (looked for {base_path}); give a path relative "
                         "to the experiment file", file=source, field="base")
    base = load_config(base_path)
    seed = spec.seed if spec.seed is not None else base.seed
    resolved = base.model_dump(mode="json")
    for path, value in spec.overrides.items():
        try:
            set_setting(resolved, path, value)
        except InputError as e:
            raise InputError(str(e), file=source, field=f"overrides.{path}") from None
    # the plan: (name, settings, levels)
    if spec.design == "full_factorial":
        cols = _columns(list(spec.factors))
        plan = []
        for combo in itertools.product(*spec.factors.values()):
            settings = dict(zip(spec.factors, combo))
            name = " ".join(f"{cols[p]}={_fmt(v)}" for p, v in settings.items())
            plan.append((name, settings, {cols[p]: v for p, v in settings.items()}))
    else:
        paths = list(dict.fromkeys(p for s in spec.scenarios for p in s.set))
        cols = _columns(paths)
        explicit = any(s.levels for s in spec.scenarios)
        plan = [(s.name, dict(s.set), dict(s.levels or {}) if explicit else None) for s in spec.scenarios]
    scenarios = []
    for name, settings, levels in plan:
        data_s = json.loads(json.dumps(resolved))
        for path, value in settings.items():
            try:
                set_setting(data_s, path, value)
            except InputError as e:
                where = "factors" if spec.design == "full_factorial" else "scenarios"
                raise InputError(f"scenario {name!r}: {e}", file=source, field=f"{where}.{path}") from None
        if levels is None:  # list design: the value each set path has in this scenario
            levels = {cols[p]: _effective(data_s, p) for p in paths}
        data_s["seed"] = seed
        data_s["name"] = f"{base.name} [{name}]"
        try:
            cfg = config_from_dict(data_s, source=f"{source} (scenario {name!r} on {base_path.name})",
                                   base=base_path.parent)
        except InputError as e:
            raise InputError(f"{e}\n  (check the factor levels / scenario settings: "
                             f"{', '.join(f'{k}={_fmt(v)}' for k, v in settings.items()) or 'none'})") from None
        scenarios.append(PlannedScenario(name, settings, levels, cfg))
    baseline = _baseline(spec, scenarios, cols, source)
    if isinstance(spec.replications, ReplicationRule):
        rule, fixed = spec.replications, spec.replications.min
    else:
        rule, fixed = None, int(spec.replications or base.replications)
    return Experiment(spec, None, base_path, base, scenarios, baseline, seed, rule, fixed,
                      factor_columns=list(dict.fromkeys(c for s in scenarios for c in s.levels)))


def _baseline(spec: ExperimentSpec, scenarios: list[PlannedScenario], cols: dict[str, str], source: str) -> str:
    names = [s.name for s in scenarios]
    b = spec.baseline
    if b is None:
        return names[0]
    if isinstance(b, str):
        if b not in names:
            raise InputError(f"no scenario named {b!r}; scenarios are: {', '.join(names)}", file=source,
                             field="baseline")
        return b
    want = {cols.get(k, k): v for k, v in b.items()}
    for s in scenarios:
        if all(k in s.levels and s.levels[k] == v for k, v in want.items()):
            return s.name
    raise InputError(f"no scenario has the levels {want}; scenarios are: {', '.join(names)}", file=source,
                     field="baseline")


_SCHEDULER = re.compile(r"^(?:(?:tcp|tls|inproc|ucx|ws|wss)://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")


def scheduler_address(address: str | None) -> str | None:
    """Check a Dask scheduler address (``tcp://host:8786``) before anything is built; InputError if malformed."""
    if address is None:
        return None
    text = address.strip()
    m = _SCHEDULER.match(text)
    if not m or not 0 < int(m.group(1)) < 65536:
        raise InputError(f"{address!r} is not a Dask scheduler address; write tcp://HOST:PORT, e.g. "
                         "tcp://10.0.0.5:8786 (the address `dask scheduler` prints)", field="--scheduler")
    return text


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an experiment file (``experiments/*.yaml``) and all its scenario configs."""
    path = Path(path)
    data = read_yaml(path, "an experiment YAML (see experiments/)")
    exp = experiment_from_dict(data, source=str(path), base_dir=path.parent)
    exp.path = path
    return exp
