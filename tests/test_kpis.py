"""The KPI registry (fssim.metrics.kpis): one entry per KPI, used by both engines, the targets and the report.

Both engines — the run tables (fssim.metrics.tables.kpis, from the visits and sessions) and the experiment
partials (fssim.experiment.partials, from the workers' sums) — compute every KPI through the registry, so a
KPI added to the registry appears in both without any other edit.
"""
import math

import numpy as np
import pandas as pd
import pytest

from fssim.metrics import kpis as registry
from fssim.config import Target, config_from_dict, default_targets
from fssim.demand.arrivals import DemandModel
from fssim.experiment.partials import SUMS, kpis_from_sums, unit_partials
from fssim.experiment.runner import _long, replication_tables
from fssim.metrics.tables import BREAKDOWNS, kpi_sums, kpis, sessions_table, summary_table, visits_table
from fssim.report.i18n import Translator
from fssim.engine.simulation import simulate_sites
from fssim.metrics.geography import Geography

from conftest import small_network

WARMUP = 3


def two_stop_bus() -> dict:
    return {"id": "b1", "agents": 1, "stops": [
        {"commune": "23001", "weekday": "mon", "start": "09:00", "end": "12:00", "visits_per_visit": 12},
        {"commune": "23002", "weekday": "thu", "start": "14:00", "end": "16:30", "visits_per_visit": 8}]}


@pytest.fixture(scope="module")
def tables():
    """Two sites and a bus over five weeks, a warm-up, two replications: the plans and the run tables."""
    cfg = config_from_dict({**small_network(), "horizon": {"start": "2024-04-01", "days": 35, "warmup_days": WARMUP},
                            "buses": [two_stop_bus()]})
    model = DemandModel(cfg)
    runs = [(r, simulate_sites(cfg, cfg.sites + cfg.buses, r, model)) for r in range(2)]
    return cfg, runs, visits_table(cfg, runs), sessions_table(cfg, runs)


def run_kpis(t, by=None):
    cfg, _, visits, sessions = t
    return kpis(visits, sessions, by, threshold=cfg.outputs.wait_threshold_min, warmup_days=WARMUP,
                origin=cfg.horizon.start)


# --------------------------------------------------------------------------- every list is the registry's


def test_every_kpi_of_the_run_tables_and_the_partials_is_registered(tables):
    names = set(registry.names())
    assert len(names) == len(registry.REGISTRY)  # one entry per name
    keys = {"replication", "site_id", "stop", "demarche", "weekday", "hour", "month", "channel"}
    for by in [None, *BREAKDOWNS]:
        cols = set(run_kpis(tables, by).columns) - keys
        assert cols and cols <= names, (by, cols - names)
    local = set(registry.optional_kpis("geography"))
    assert local == {"population_served_within_targets"}
    absence = set(registry.optional_kpis("absences"))  # runs with agent absences only (tests/test_absences.py)
    assert absence == {"absent_agent_days", "absence_closure_days"}
    booking = set(registry.optional_kpis("booking"))  # runs with a booking calendar only (tests/test_booking.py)
    assert booking == {"mean_booking_lead_days", "no_slot_share"}
    resources = set(registry.optional_kpis("resources"))  # runs with stations or a visio room only (tests/test_channels.py)
    assert resources == {"station_utilisation", "visio_utilisation"}
    optional = absence | booking | resources  # none of them in this run
    assert set(run_kpis(tables).columns) - keys == names - local - optional  # without the geography, all but those
    cfg, _, visits, sessions = tables
    geo = Geography(pd.DataFrame({"code": ["23001", "23002"], "population": [500, 300], "canton": ["2301", "2301"],
                                  "dep": ["23", "23"], "region": ["75", "75"], "minutes": [5.0, 40.0],
                                  "site_id": ["b1", "b1"]}), {"a": "", "b": "", "b1": "23001"})
    with_geo = kpis(visits, sessions, threshold=cfg.outputs.wait_threshold_min, geography=geo)
    assert set(with_geo.columns) - keys == names - optional  # with it, every KPI but the optional ones
    with_resources = sessions.assign(**{k: 1.0 for k in registry.RESOURCE_SUMS})
    assert set(kpis(visits, with_resources, geography=geo).columns) - keys == names - absence - booking
    cfg, runs, _, _ = tables
    sums = unit_partials(cfg, runs[0][1]).frame()  # the partials carry every sum (resources' 0 without channels)
    assert list(kpis_from_sums(sums).columns) == [k for k in registry.names() if k not in local]


def test_the_lists_of_shown_kpis_name_registered_kpis():
    from fssim.cli import RUN_KPIS
    from fssim.experiment.commands import SHOWN, differences_table
    from fssim.experiment.design import ReplicationRule
    from fssim.report.experiment import DIFFERENCE_KPIS, EXPERIMENT_KPIS
    from fssim.report.sections import HEADLINE, NETWORK_TABLE

    shown = [*RUN_KPIS, *SHOWN, *EXPERIMENT_KPIS, *DIFFERENCE_KPIS, *HEADLINE, *NETWORK_TABLE,
             *differences_table.__defaults__[0], *ReplicationRule().kpis, *(t.kpi for t in default_targets())]
    assert [k for k in shown if registry.find(k) is None] == []


def test_a_target_on_an_unknown_kpi_lists_the_registered_ones():
    with pytest.raises(ValueError) as e:
        Target(kpi="p99_wait_min", max=30)
    for name in registry.names():
        assert name in str(e.value)
    assert Target(kpi="bus_lost_share", max=0.1).kpi == "bus_lost_share"


# --------------------------------------------------------------------------- the entries


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_every_kpi_has_a_label_and_a_unit_in_both_languages(lang):
    t = Translator(lang, threshold=20)
    for k in registry.REGISTRY:
        label = t.kpi(k.name)
        assert label and label != k.name and "{" not in label, (lang, k.name)
        assert k.unit in registry.UNITS and k.direction in registry.DIRECTIONS
        assert t.kpi_value(k.name, 0.5) not in ("", "—")
    assert "20" in t.kpi("share_wait_over_threshold")  # the threshold goes into the label
    assert t.kpi_value("p90_wait_min", 12.0).endswith("min") and t.kpi_value("abandonment_rate", 0.05).endswith("%")


def test_formulas_read_only_their_inputs_and_are_undefined_exactly_when_said():
    for k in registry.REGISTRY:
        if k.formula is None:
            assert k.quantile is not None and 0 < k.quantile < 1 and k.undefined_when
            continue
        assert k.inputs and set(k.inputs) <= set(registry.SUMS)
        some = {s: 10.0 if s == "visits" else 2.0 for s in k.inputs}
        assert math.isfinite(k.of(some)), k.name  # a KeyError here: the formula reads a sum it does not list
        empty = k.of({s: 0.0 for s in k.inputs})
        assert math.isnan(empty) == bool(k.undefined_when), k.name


def test_a_malformed_entry_is_refused():
    with pytest.raises(ValueError, match="unit"):
        registry.Kpi("x", "X", "X", "hours", "lower", "sum", ("visits",), lambda s: s["visits"])
    with pytest.raises(ValueError, match="unknown sum"):
        registry.Kpi("x", "X", "X", "count", "lower", "sum", ("visitors",), lambda s: s["visitors"])
    with pytest.raises(ValueError, match="quantile"):
        registry.Kpi("x", "X", "X", "minutes", "lower", "quantile", ("wait_sum",), lambda s: s["wait_sum"])


# --------------------------------------------------------------------------- the two engines agree


def test_both_engines_have_the_same_sums_and_kpis_from_the_same_visits(tables):
    cfg, runs, visits, sessions = tables
    thr = cfg.outputs.wait_threshold_min
    ref = kpi_sums(visits, sessions, "site", threshold=thr, warmup_days=WARMUP, origin=cfg.horizon.start)
    shared = [s for s in SUMS if s in ref.columns]
    # (the optional features' sums: tests/test_absences.py, tests/test_booking.py, tests/test_channels.py)
    needed = {s for k in registry.REGISTRY for s in k.inputs} - set(registry.GEOGRAPHY_SUMS) - set(
        registry.ABSENCE_SUMS) - set(registry.BOOKING_SUMS) - set(registry.RESOURCE_SUMS)
    assert needed <= set(shared), needed - set(shared)  # the run tables have every sum a KPI needs
    assert ref["bus_late_min"].sum() >= 0 and ref["bus_open_min"].gt(0).any() and ref["overtime_min"].gt(0).any()
    for r, plans in runs:
        got = unit_partials(cfg, plans).frame().set_index("site_id")
        want = ref.loc[r]
        want.index = want.index.astype(str)
        got = got.loc[want.index]
        for s in shared:
            np.testing.assert_allclose(got[s].to_numpy(float), want[s].to_numpy(float), rtol=1e-12, atol=1e-9,
                                       err_msg=s)
        for k in registry.REGISTRY:  # the same values through the registry, quantiles exact per site
            if k.name in registry.optional_kpis("geography") or k.name in registry.optional_kpis("absences"):
                continue  # runs only: they need where citizens live; no absences in this scenario
            if k.name in registry.optional_kpis("booking") or k.name in registry.optional_kpis("resources"):
                continue  # in a run's tables only with a calendar or channels (tests/test_booking.py, test_channels.py)
            a = kpis_from_sums(got)[k.name].to_numpy(float)
            b = registry.from_sums(want)[k.name].to_numpy(float)
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-9, err_msg=k.name)
            assert np.isfinite(a).any(), k.name


# --------------------------------------------------------------------------- adding a KPI is one entry


def test_a_new_registry_entry_appears_in_the_run_tables_and_the_partials(tables, monkeypatch):
    new = registry.Kpi("gave_up_per_served", "Abandons par usager servi", "Gave up per citizen served",
                       "decimal", "lower", "ratio", ("gave_up", "served"),
                       lambda s: registry._ratio(s["gave_up"], s["served"]), undefined_when="no citizen served")
    cfg, runs, visits, sessions = tables
    assert "gave_up_per_served" not in run_kpis(tables).columns
    with pytest.raises(ValueError, match="unknown KPI"):
        Target(kpi="gave_up_per_served", max=0.1)
    monkeypatch.setattr(registry, "REGISTRY", registry.REGISTRY + (new,))

    net = run_kpis(tables)
    want = net["gave_up"] / net["served"]
    assert net["gave_up"].gt(0).all()
    np.testing.assert_allclose(net["gave_up_per_served"], want, rtol=1e-12)
    assert "gave_up_per_served" in run_kpis(tables, "weekday").columns
    summary = summary_table(visits, sessions, threshold=cfg.outputs.wait_threshold_min, warmup_days=WARMUP,
                            origin=cfg.horizon.start)
    assert {"network", "site", "demarche"} <= set(summary.loc[summary["kpi"] == "gave_up_per_served", "scope"])

    for r, plans in runs:
        network, per_site = replication_tables([(p.site.id, unit_partials(cfg, [p])) for p in plans])
        assert network["gave_up_per_served"] == pytest.approx(want.iloc[r], rel=1e-12)
        assert "gave_up_per_served" in per_site.columns
        long = _long(per_site.reset_index(), ["site_id"])
        assert "gave_up_per_served" in set(long["kpi"])

    assert Target(kpi="gave_up_per_served", max=0.1).kpi == "gave_up_per_served"
    assert Translator("en").kpi("gave_up_per_served") == "Gave up per citizen served"
    assert Translator("fr").kpi_value("gave_up_per_served", 0.375) == "0,4"


def test_from_sums_takes_a_mapping_of_numbers_and_given_quantiles():
    sums = {s: 0.0 for s in registry.SUMS} | {"visits": 10, "served": 8, "gave_up": 1, "no_show": 0,
                                               "wait_sum": 40.0, "staffed_min": 600.0, "busy_min": 300.0}
    got = registry.from_sums(sums, {"p90_wait_min": 12.5}).iloc[0]
    assert got["mean_wait_min"] == 5.0 and got["abandonment_rate"] == 0.1 and got["utilisation"] == 0.5
    assert got["p90_wait_min"] == 12.5 and "median_wait_min" not in got.index  # no value given: left out
    assert math.isnan(got["no_show_rate"]) and got["bus_lost_share"] == 0.0
    assert isinstance(registry.from_sums(pd.DataFrame([sums])), pd.DataFrame)
