"""What a report is made from: a run directory read once, visits read lazily and only the needed columns.

Required: ``config.yaml``, ``manifest.json``, ``summary.parquet``, ``daily.parquet``. Optional tables
(``visits.parquet``, ``coverage.parquet``, ``rollout.parquet``, ``experiment.parquet``, ``stops.parquet``,
``access.parquet``) switch their
report sections on when present.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import yaml

from fssim.config import Config, config_from_dict
from fssim.errors import InputError

REQUIRED = ("config.yaml", "manifest.json", "summary.parquet", "daily.parquet")
OPTIONAL = ("coverage", "rollout", "experiment", "network", "stops", "access")


@dataclass
class RunData:
    path: Path
    config: Config
    config_dict: dict          # config.yaml as written by the run (the resolved config)
    manifest: dict
    summary: pd.DataFrame
    daily: pd.DataFrame
    extras: dict[str, pd.DataFrame] = field(default_factory=dict)
    day: object = None         # fssim.report.day.DayChoice: the day at a site asked for (``--day-site``, ``--day``)

    @property
    def replications(self) -> int:
        return int(self.config.replications)

    @property
    def title(self) -> str:
        """The report's title: the experiment's name for an experiment's results, else the scenario's."""
        exp = self.manifest.get("experiment")
        return str(exp["name"]) if isinstance(exp, dict) and exp.get("name") else self.config.name

    @property
    def threshold(self) -> float:
        return float(self.config.outputs.wait_threshold_min)

    @cached_property
    def sites(self) -> list:
        """The fixed sites simulated: listed in the config, or built by the scenario (network.parquet)."""
        import json

        from fssim.config import Site

        out = list(self.config.sites)
        net = self.extras.get("network")
        if net is None and (self.path / "network.parquet").exists():
            net = pd.read_parquet(self.path / "network.parquet")
        if net is not None and len(net) and "hours_json" in net.columns:
            for r in net.itertuples(index=False):
                opens = None if pd.isna(r.opens_on) else pd.Timestamp(r.opens_on).date()
                out.append(Site(id=str(r.site_id), name=str(r.name), commune=r.commune, lat=r.lat, lon=r.lon,
                                hours=json.loads(r.hours_json), agents=int(r.agents),
                                appointments=bool(r.appointments), opens_on=opens, kind=str(r.format)))
        return out

    @cached_property
    def has_visits(self) -> bool:
        return (self.path / "visits.parquet").exists()

    def visits(self, columns: list[str]) -> pd.DataFrame:
        """Only ``columns`` of visits.parquet (millions of rows stay cheap); empty frame when absent."""
        if not self.has_visits:
            return pd.DataFrame(columns=columns)
        path = self.path / "visits.parquet"
        have = set(pq.read_schema(path).names)
        lacking = [c for c in columns if c not in have]
        if lacking:
            raise InputError(f"column(s) {lacking} missing; rerun with this fssim version", file=str(path))
        return pd.read_parquet(path, columns=columns)

    def served_waits(self) -> pd.Series:
        v = self.visits(["outcome", "wait_min"])
        return v.loc[v["outcome"].astype(str) == "served", "wait_min"].astype(float)

    def network(self, kpi: str) -> pd.Series | None:
        s = self.summary
        row = s[(s["scope"] == "network") & (s["kpi"] == kpi)]
        return None if row.empty else row.iloc[0]

    def breakdown(self, scope: str, kpi: str) -> pd.DataFrame:
        s = self.summary
        return s[(s["scope"] == scope) & (s["kpi"] == kpi)].reset_index(drop=True)


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise InputError(f"not a readable Parquet file ({type(e).__name__}: {e})", file=str(path)) from None


def load_experiment_dir(path: Path) -> RunData:
    """An experiment's results directory seen as a run: its baseline scenario's configuration and network KPIs
    (from experiment.parquet), with the comparison of every scenario in the experiment section."""
    try:
        manifest = json.loads((path / "experiment.json").read_text(encoding="utf-8"))
        baseline = manifest["baseline"]
        entry = next(s for s in manifest["scenarios"] if s["name"] == baseline)
        config_dict = yaml.safe_load((path / entry["config"]).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, KeyError, StopIteration, OSError, yaml.YAMLError) as e:
        raise InputError(f"not a complete fssim experiment directory ({e}); give a folder written by "
                         "`fssim experiment`", file=str(path / "experiment.json")) from None
    config = config_from_dict(config_dict, source=str(path / entry["config"]))
    exp = _read_parquet(path / "experiment.parquet")
    base = exp[exp["scenario"] == baseline]
    summary = pd.DataFrame({"scope": "network", "key": "", "kpi": base["kpi"].to_numpy(),
                            **{c: base[c].to_numpy() for c in ("mean", "std", "n", "half_width", "ci_low",
                                                                 "ci_high")}})
    run_manifest = {"fssim_run": 1, "scenario": config.name, "config_sha256": entry.get("config_sha256"),
                    "seed": manifest.get("seed"), "replications": config.replications,
                    "versions": manifest.get("versions", {}), "created": manifest.get("created"),
                    "timings_s": manifest.get("timings_s", {}), "experiment": manifest}
    extras = {"experiment": exp}
    return RunData(path, config, config_dict, run_manifest, summary, pd.DataFrame(), extras)


def load_run_dir(path: str | Path) -> RunData:
    """Read a run directory written by ``fssim run``, or an experiment's results directory written by
    ``fssim experiment`` (InputError naming what is missing)."""
    path = Path(path)
    if not path.is_dir():
        raise InputError("not a directory; give a run directory written by `fssim run` (e.g. runs/one-site)",
                         file=str(path))
    if (path / "experiment.json").exists() and not (path / "manifest.json").exists():
        return load_experiment_dir(path)
    missing = [n for n in REQUIRED if not (path / n).exists()]
    if missing:
        raise InputError(f"not an fssim run directory (missing {', '.join(missing)}); "
                         "give a folder written by `fssim run`", file=str(path))
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"not valid JSON ({e})", file=str(path / "manifest.json")) from None
    if not isinstance(manifest, dict) or "fssim_run" not in manifest:
        raise InputError("not an fssim manifest (no 'fssim_run' key)", file=str(path / "manifest.json"))
    try:
        config_dict = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise InputError(f"not valid YAML ({e})", file=str(path / "config.yaml")) from None
    config = config_from_dict(config_dict, source=str(path / "config.yaml"))
    summary = _read_parquet(path / "summary.parquet")
    need = ["scope", "key", "kpi", "mean", "std", "n", "half_width", "ci_low", "ci_high"]
    lacking = [c for c in need if c not in summary.columns]
    if lacking:
        raise InputError(f"column(s) {lacking} missing; not a summary written by `fssim run`",
                         file=str(path / "summary.parquet"))
    daily = _read_parquet(path / "daily.parquet")
    extras = {name: _read_parquet(path / f"{name}.parquet") for name in OPTIONAL
              if (path / f"{name}.parquet").exists()}
    return RunData(path, config, config_dict, manifest, summary, daily, extras)
