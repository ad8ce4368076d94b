"""Bad (and odd but valid) scenario YAML, as a new user writes it: every error names the file, the field or the
YAML line and the fix; valid oddities are accepted."""
import pytest
import yaml

from fssim.config import MAX_YAML_BYTES, load_config
from fssim.errors import InputError
from fssim.experiment.design import load_experiment
from fssim.run import simulate

from conftest import REPO, small_network

ONE_SITE = (REPO / "configs" / "one-site.yaml").read_text(encoding="utf-8")


def write(tmp_path, text, name="scenario.yaml"):
    p = tmp_path / name
    p.write_text(text if isinstance(text, str) else yaml.safe_dump(text, allow_unicode=True), encoding="utf-8")
    return p


def message(path) -> str:
    with pytest.raises(InputError) as e:
        load_config(path)
    msg = str(e.value)
    assert path.name in msg, msg
    return msg


def one_site(tmp_path, old, new):
    assert old in ONE_SITE
    return write(tmp_path, ONE_SITE.replace(old, new))


@pytest.mark.parametrize("old, new, expect", [
    ("start: 2024-01-01", "start: 2024-02-30", ["line 8", "'2024-02-30' is not a real date", "YYYY-MM-DD"]),
    ("seed: 2024", "seed: 2024\nseed: 7", ["line 11", "duplicate key 'seed'", "first given at line 10"]),
    ("visits_per_open_day: 14", "visits_per_open_day: .inf", ["demand.visits_per_open_day", "not a finite number"]),
    ("visits_per_open_day: 14", "visits_per_open_day: .nan", ["demand.visits_per_open_day", "not a finite number"]),
    ("days: 365", "days: 100000", ["horizon.days", "274 years", "at most 50 years"]),
    ("days: 365", "days: 30\n  warmup_days: 30", ["horizon.warmup_days", "shorter than the horizon"]),
    ("replications: 5", "replications: 5\nholidays: {subdiv: '99'}", ["holidays.subdiv", "'99'", "57"]),
    ('commune: "08105"', 'commune: "8105"', ["sites[0].commune", "not an INSEE commune code", '"08105"']),
    ('commune: "08105"', "commune: 8105", ["sites[0].commune", "write it in quotes"]),
    ('commune: "08105"', 'commune: "2C004"', ["sites[0].commune", "not an INSEE commune code"]),
    ("lat: 49.7625\n    lon: 4.7253", "lat: 4.7253\n    lon: 49.7625", ["sites[0].lat", "look swapped"]),
    ("lat: 49.7625\n    lon: 4.7253", "lat: 40.4\n    lon: -3.7", ["sites[0].lat", "outside France"]),
    ("lat: 49.7625\n    lon: 4.7253", "lat: 43.60\n    lon: 1.44", ["sites[0].lat", "km from the town hall",
                                                                   "far_from_commune: true"]),
    ("lat: 49.7625\n    lon: 4.7253", "lat: 49.7625", ["sites[0].lon", "give both lat and lon"]),
])
def test_bad_scenario_names_file_field_and_fix(tmp_path, old, new, expect):
    msg = message(one_site(tmp_path, old, new))
    for text in expect:
        assert text in msg, msg


def test_service_time_infinite(tmp_path):
    data = small_network()
    data["demarches"] = [{"name": "a", "share": 1, "service": {"dist": "fixed", "value": float("inf")}}]
    data["demand"]["mix_shifts"] = []
    msg = message(write(tmp_path, data))
    assert "demarches[0].service.value" in msg and "not a finite number" in msg


def test_latin1_file_says_utf8_and_how_to_convert(tmp_path):
    p = tmp_path / "scenario.yaml"
    p.write_bytes(ONE_SITE.replace("(rural)", "(Sévérac)").encode("latin-1", errors="replace"))
    msg = message(p)
    assert "not UTF-8" in msg and "iconv -f latin1 -t utf-8" in msg and "line " in msg


def test_folder_given_as_config(tmp_path):
    folder = tmp_path / "scenario.yaml"
    folder.mkdir()
    assert "folder, not a file" in message(folder)


def test_oversized_file_refused_before_parsing(tmp_path):
    p = tmp_path / "scenario.yaml"
    with open(p, "w") as f:
        f.write("junk: [")
        f.write("1, " * (MAX_YAML_BYTES // 3 + 10))
    msg = message(p)
    assert "too large" in msg and "MB" in msg


def test_experiment_file_gets_the_same_checks(tmp_path):
    p = write(tmp_path, "base: ../configs/one-site.yaml\nbase: x.yaml\n", "exp.yaml")
    with pytest.raises(InputError, match="duplicate key 'base'") as e:
        load_experiment(p)
    assert "exp.yaml" in str(e.value)


def test_duplicate_keys_refused_but_merge_keys_may_be_overridden(tmp_path):
    data = ONE_SITE.replace("sites:\n  - id: fs-rural-01", "site_defaults: &common {appointments: true}\nsites:\n"
                            "  - <<: *common\n    id: fs-rural-01")
    assert load_config(write(tmp_path, data)).sites[0].appointments is False  # the site's own value wins
    msg = message(write(tmp_path, data.replace("    agents: 2\n", "    agents: 2\n    agents: 4\n", 1)))
    assert "duplicate key 'agents'" in msg


def test_far_site_accepted_when_flagged(tmp_path):
    p = one_site(tmp_path, "lat: 49.7625\n    lon: 4.7253", "lat: 43.60\n    lon: 1.44\n    far_from_commune: true")
    assert load_config(p).sites[0].lat == 43.60


def test_commune_written_as_a_number_and_overseas_codes(tmp_path):
    p = one_site(tmp_path, 'commune: "08105"\n    lat: 49.7625\n    lon: 4.7253',
                 "commune: 51108\n    lat: 48.957\n    lon: 4.362")
    assert load_config(p).sites[0].commune == "51108"
    p = one_site(tmp_path, 'commune: "08105"\n    lat: 49.7625\n    lon: 4.7253',
                 'commune: "97411"\n    lat: -20.88\n    lon: 55.45')
    assert load_config(p).sites[0].commune == "97411"


def test_site_with_zero_demand_simulates_to_zero(tmp_path):
    data = small_network()
    data["sites"][0]["demand"] = {"visits_per_open_day": 0}
    result = simulate(load_config(write(tmp_path, data)))
    counts = result.visits.groupby("site_id", observed=False).size()
    assert counts["a"] == 0 and counts["b"] > 0
    site = result.summary[(result.summary["scope"] == "site") & (result.summary["kpi"] == "utilisation")]
    assert float(site.set_index("key").loc["a", "mean"]) == 0.0


def test_own_catalogue_keeps_only_the_default_shifts_that_fit(tmp_path):
    data = small_network()
    data["demarches"] = [
        {"name": "caf", "share": 0.5, "service": {"dist": "fixed", "value": 10}},
        {"name": "autre", "share": 0.5, "service": {"dist": "fixed", "value": 20}},
    ]
    cfg = load_config(write(tmp_path, data))
    assert cfg.demand.mix_shifts and {s.demarche for s in cfg.demand.mix_shifts} <= {"caf", "autre"}
    assert any("default seasonal shifts" in n and "dgfip" in n for n in cfg.notes)
    # a shift the user wrote that names an unknown démarche stays an error
    data["demand"]["mix_shifts"] = [{"demarche": "dgfip", "start": "04-15", "end": "06-10", "factor": 2}]
    assert "unknown démarche 'dgfip'" in message(write(tmp_path, data))


def test_error_raised_while_building_names_the_config(tmp_path):
    data = small_network()
    data["territory"] = {"departements": ["99"]}  # checked when the territory is built, not by the schema
    data["network"] = {"source": "placement", "placement": {"n_sites": 2}}
    data["sites"] = []
    p = write(tmp_path, data)
    with pytest.raises(InputError) as e:
        simulate(p)
    assert "scenario.yaml" in str(e.value) and "territory.departements" in str(e.value), str(e.value)
