"""A credible plan: demand-aware placement (a populous commune hosts several sites, no site above its capacity,
nesting kept) and agents sized to volume (never below the density rule nor the label's 2)."""

import datetime as dt

import numpy as np
import pandas as pd

from fssim.demand.catchment import CatchmentProblem
from fssim.config import Catchment, Config
from fssim.network.build import from_placement, placed_site_ids
from fssim.network.demand_aware import SiteCapacity
from fssim.network.placement import PlacementProblem
from fssim.scenario import site_capacity, volume_staffing
from fssim.geo.travel import RoadModel

RATE = 0.12          # first visits a year per inhabitant at zero minutes
CAPACITY = 20_000.0  # first visits a year one site can take
DAY = dt.date(2022, 6, 1)


def territory(seed: int = 3, n: int = 120) -> pd.DataFrame:
    """Small rural communes around one city of 600,000 inhabitants (≈ 3.5 sites of demand on its own)."""
    rng = np.random.default_rng(seed)
    pop = rng.integers(200, 3000, n)
    pop[0] = 600_000
    return pd.DataFrame({
        "code": [f"{10000 + i}" for i in range(n)], "name": [f"Commune {i}" for i in range(n)], "dep": "10",
        "region": "44", "canton": [f"K{i % 6}" for i in range(n)],
        "lat": np.r_[45.8, rng.uniform(45.0, 46.6, n - 1)], "lon": np.r_[3.0, rng.uniform(2.0, 4.2, n - 1)],
        "population": pop, "density_class": np.where(np.arange(n) == 0, "dense", "peu_dense"),
    })


def place(communes: pd.DataFrame, n_sites: int) -> PlacementProblem:
    return PlacementProblem(communes, n_sites=n_sites, max_minutes=30, one_per_canton=True,
                            capacity=SiteCapacity(CAPACITY, RATE, 30.0)).solve(method="nested")


def simulated_volumes(communes: pd.DataFrame, selected: pd.DataFrame) -> pd.Series:
    """Site volumes by the simulation's own catchment rule (fssim.demand.catchment), not the placement's."""
    sites = pd.DataFrame({"site_id": placed_site_ids(selected["code"]), "commune": selected["code"].to_numpy(),
                          "lat": selected["lat"].to_numpy(float), "lon": selected["lon"].to_numpy(float),
                          "opens_on": None, "closes_on": None})
    pop = float(communes["population"].sum())
    spec = Catchment(model="population", annual_visits=RATE * pop, decay_half_minutes=30.0)
    cp = CatchmentProblem(communes, sites, spec, RoadModel(), population_share=1.0).solve([DAY], DAY)
    return cp.volumes.set_index("site_id")["visits_per_year"]


def test_big_commune_gets_several_sites_and_no_site_exceeds_its_capacity():
    communes = territory()
    p = place(communes, 15)
    codes = p.selected["code"]
    assert (codes == "10000").sum() >= 3  # 600,000 × 0.12 ≈ 70,000 visits a year: several sites
    vol = simulated_volumes(communes, p.selected)
    assert len(vol) == len(p.selected) == 15
    assert vol.max() <= CAPACITY * (1 + 1e-6)
    assert np.allclose(np.sort(vol.to_numpy()), np.sort(p.selected["expected_visits"].to_numpy()), rtol=1e-6)


def test_demand_aware_placement_stays_nested():
    communes = territory(seed=5)
    orders = {n: list(place(communes, n).selected["code"]) for n in (4, 9, 10, 16)}
    for a, b in [(4, 9), (9, 10), (10, 16)]:
        assert orders[b][:a] == orders[a]
    assert len(set(orders[16])) < 16  # several sites in one commune, and still nested


def test_a_placed_paris_hosts_several_sites_from_the_config():
    cfg = Config.model_validate({
        "name": "paris", "horizon": {"start": "2022-01-03", "days": 7}, "territory": {"departements": ["75"]},
        "network": {"source": "placement", "placement": {"n_sites": 12, "max_minutes": 30}},
        "catchment": {"annual_visits": 7_900_000}})
    from fssim.scenario import load_scenario_territory

    terr = load_scenario_territory(cfg)
    table = from_placement(cfg, terr.communes, RoadModel()).sites
    assert "p-75056-2" in set(table["site_id"])
    assert table.attrs["placement"]["communes_with_several_sites"] >= 1


def _net(agents: int, visits: float, cfg: Config):
    net = pd.DataFrame({"site_id": ["s"], "agents": [agents], "hours": [dict(cfg.network.hours)]})

    class Volumes:
        volumes = pd.DataFrame({"site_id": ["s"], "start": [DAY], "visits_per_year": [visits]})
    return net, Volumes()


def test_volume_rule_is_the_default_of_placed_networks_and_never_below_density_or_two():
    cfg = Config.model_validate({
        "name": "x", "horizon": {"start": "2022-01-03", "days": 7},
        "network": {"source": "placement", "placement": {"n_sites": 3}, "agents": {"peu_dense": 1}}})
    assert cfg.network.staffing.rule == "volume"
    net, cp = _net(1, 10.0, cfg)  # density rule 1, almost no demand: the label's 2
    assert volume_staffing(cfg, net, cp, DAY) == [2]
    net, cp = _net(4, 10.0, cfg)  # never below the density rule
    assert volume_staffing(cfg, net, cp, DAY) == [4]
    cap = site_capacity(cfg)
    net, cp = _net(2, cap, cfg)   # a site at capacity needs max_agents, no more
    assert volume_staffing(cfg, net, cp, DAY) == [cfg.network.staffing.max_agents]
    net, cp = _net(2, cap * 0.5, cfg)
    assert 2 < volume_staffing(cfg, net, cp, DAY)[0] < cfg.network.staffing.max_agents
