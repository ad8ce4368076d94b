"""Bad input gets a clear error naming the file, the field path and what is expected."""
import pytest
import yaml

from fssim.config import config_from_dict, load_config
from fssim.errors import InputError

from conftest import small_network


def write(tmp_path, data, name="scenario.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return p


def error_of(tmp_path, data) -> str:
    with pytest.raises(InputError) as e:
        load_config(write(tmp_path, data))
    msg = str(e.value)
    assert "scenario.yaml" in msg
    assert "Traceback" not in msg
    return msg


def test_valid_small_network_loads(tmp_path):
    cfg = load_config(write(tmp_path, small_network()))
    assert [s.id for s in cfg.sites] == ["a", "b"]
    assert cfg.sites[1].schedule["mon"] == [(540, 720, 3), (810, 1020, 2)]
    assert cfg.sites[0].weekly_hours() == pytest.approx(5 * (3 + 2.75))  # default 9-12 and 14-16:45 (≈ 29 h)
    assert abs(sum(d.share for d in cfg.demarches) - 1) < 1e-9


@pytest.mark.parametrize("mutate, field, expect", [
    (lambda d: d.update(horizn={"days": 3}), "horizn", "unknown key"),
    (lambda d: d["sites"][0].update(agents=-1), "sites[0].agents", "cannot be negative"),
    (lambda d: d["sites"][0].update(agents="two"), "sites[0].agents", ""),
    (lambda d: d["sites"][0].update(hours={"mon": "09:00-12:00 / 11:00-13:00"}), "sites[0].hours.mon", "overlap"),
    (lambda d: d["sites"][0].update(hours={"mon": "14:00-12:00"}), "sites[0].hours.mon", "ends before it starts"),
    (lambda d: d["sites"][0].update(hours={"tue": "09:00-25:00"}), "sites[0].hours.tue", "not a valid time"),
    (lambda d: d["sites"][1]["agents"].update(mon=[2]), "sites[1].agents.mon", "one number per interval"),
    (lambda d: d.update(demarches=[{"name": "a", "share": 0.5, "service": {"dist": "fixed", "value": 5}},
                                   {"name": "b", "share": 0.4, "service": {"dist": "fixed", "value": 5}}],
                        demand={"visits_per_open_day": 3, "mix_shifts": []}), "demarches", "sum to 0.9000"),
    (lambda d: d.update(demand={"visits_per_open_day": 3, "mix_shifts": [
        {"demarche": "impots", "start": "04-15", "end": "06-10", "factor": 2}]}),
     "demand.mix_shifts[0].demarche", "unknown démarche 'impots'"),
    (lambda d: d.update(demand={"visits_per_open_day": 3, "visits_per_year": 10}), "demand", "exactly one"),
    (lambda d: d["sites"].append({"id": "a"}), "sites", "duplicate site or bus ids"),
    (lambda d: d.update(demarches=[{"name": "a", "share": 1, "service": {"dist": "lognormal", "mean": 20}}],
                        demand={"visits_per_open_day": 3, "mix_shifts": []}), "demarches[0].service.lognormal.cv",
     "required"),
    (lambda d: d.update(sites=[]), "sites", "at least one site or bus, or a network block"),
])
def test_bad_config_names_field_and_fix(tmp_path, mutate, field, expect):
    data = small_network()
    mutate(data)
    msg = error_of(tmp_path, data)
    assert field.replace(".lognormal", "") in msg, msg
    assert expect in msg, msg


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(InputError, match="line 3"):
        load_config(write(tmp_path, "name: x\nsites: [\n"))
    with pytest.raises(InputError, match="top level must be a mapping"):
        load_config(write(tmp_path, "- just\n- a list\n"))


def test_empirical_service_times_from_a_csv(tmp_path):
    (tmp_path / "durations.csv").write_text("minutes\n10\n20\n30\n")
    data = small_network()
    data["demarches"] = [{"name": "a", "share": 1, "service": {"dist": "empirical", "file": "durations.csv"}}]
    data["demand"] = {"visits_per_open_day": 5, "mix_shifts": []}
    cfg = load_config(write(tmp_path, data))
    assert cfg.demarches[0].service.expected == pytest.approx(20)
    (tmp_path / "durations.csv").write_text("minutes\n10\n-3\n")
    cfg = load_config(write(tmp_path, data))
    with pytest.raises(InputError, match="non-negative"):
        cfg.demarches[0].service.expected


def test_resolved_config_round_trips_with_the_same_digest():
    cfg = config_from_dict(small_network())
    again = config_from_dict(yaml.safe_load(cfg.to_yaml()))
    assert again.digest() == cfg.digest()
    other = config_from_dict(small_network(seed=12))
    assert other.digest() != cfg.digest()
