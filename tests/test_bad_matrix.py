"""Bad travel matrices (territory.travel_matrix): every fault is an InputError naming the file, the column or
line and the fix; a matrix between communes serves placed sites."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from fssim.config import load_config
from fssim.errors import InputError
from fssim.scenario import network_coverage
from fssim.geo.territory import load_territory
import fssim.geo.travel as travel
from fssim.geo.travel import RoadModel, TravelMatrix, travel_times

DEP = "90"  # Territoire de Belfort: about a hundred communes, quick


def placement_config(tmp_path, matrix: str | None = None, **territory) -> "Path":
    data = {
        "name": "placed",
        "horizon": {"start": "2024-01-01", "days": 7},
        "territory": {"departements": [DEP], **({"travel_matrix": matrix} if matrix else {}), **territory},
        "network": {"source": "placement", "placement": {"n_sites": 4, "max_minutes": 10}},
    }
    path = tmp_path / "placed.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def commune_matrix(dest_column: str = "destination") -> pd.DataFrame:
    """All pairs of communes of DEP with the road model's minutes: the same times as the default model."""
    com = load_territory().subset(deps=[DEP]).communes
    t = RoadModel().minutes(com.lat, com.lon, com.density_class, com.lat, com.lon)
    return pd.DataFrame({"origin": np.repeat(com.code.to_numpy(), len(com)),
                         dest_column: np.tile(com.code.to_numpy(), len(com)), "minutes": t.ravel()})


# ------------------------------------------------------------------ placement + matrix


@pytest.mark.parametrize("dest_column", ["destination", "destination_commune"])
def test_a_matrix_between_communes_serves_placed_sites(tmp_path, dest_column):
    """Placed site ids are generated (p0001…): the sites are found in the matrix by their commune, so the
    coverage equals the one computed with the same times from the road model (it was 0 %)."""
    commune_matrix(dest_column).to_csv(tmp_path / "times.csv", index=False)
    with_matrix = network_coverage(load_config(placement_config(tmp_path, "times.csv")))
    by_model = network_coverage(load_config(placement_config(tmp_path)))
    assert by_model.share_within[30] > 0.5
    assert with_matrix.share_within == pytest.approx(by_model.share_within)


def test_a_matrix_naming_none_of_the_network_sites_is_an_error(tmp_path):
    """Destinations that are neither site ids nor communes (e.g. ANCT ids): a clear error, not 0 %."""
    m = commune_matrix()
    m["destination"] = "fs" + m["destination"]
    m.to_csv(tmp_path / "times.csv", index=False)
    cfg = load_config(placement_config(tmp_path, "times.csv"))
    with pytest.raises(InputError, match=r"times\.csv: destination: .*placement chooses communes.*INSEE code"):
        network_coverage(cfg)
    with pytest.raises(InputError, match=r"times\.csv: destination: .*placement"):
        travel.check_matrix_file(cfg)  # caught by `fssim validate` too


def test_travel_times_refuses_a_matrix_that_names_none_of_the_sites():
    com = pd.DataFrame({"code": ["01033"], "lat": [45.0], "lon": [5.0], "density_class": "peu_dense"})
    tm = TravelMatrix.from_frame(pd.DataFrame({"origin": ["01033"], "destination": ["a"], "minutes": [3.0]}),
                                 source="t.csv")
    sites = pd.DataFrame({"site_id": ["p0001"], "lat": [45.0], "lon": [5.0], "commune": ["01034"]})
    with pytest.raises(InputError, match=r"t\.csv: destination: none of the 1 sites .*'p0001'"):
        travel_times(com, sites, tm)
    # the site's commune as destination: found
    tm2 = TravelMatrix.from_frame(pd.DataFrame({"origin": ["01033"], "destination": ["01034"], "minutes": [3.0]}))
    assert travel_times(com, sites, tm2).nearest_site.tolist() == ["p0001"]


# ------------------------------------------------------------------ codes


def test_many_unknown_origins_are_an_error_with_count_and_examples(tmp_path):
    m = commune_matrix()
    m["origin"] = m["origin"].str.lstrip("9")  # '90001' -> '0001': codes mangled
    path = tmp_path / "times.csv"
    m.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"times\.csv: origin: \d+ of the \d+ origin codes .* e\.g\. '0001'"):
        TravelMatrix.from_file(path)


def test_a_few_unknown_origins_are_a_warning_and_a_note(tmp_path):
    known = load_territory().communes.code.head(int(2 / travel.MAX_UNKNOWN_ORIGIN_SHARE)).tolist()
    m = pd.DataFrame({"origin": known + ["99999"], "destination": "a", "minutes": 5.0})
    path = tmp_path / "times.csv"
    m.to_csv(path, index=False)
    with pytest.warns(UserWarning, match=r"times\.csv: 1 of the \d+ origin codes .* '99999'"):
        tm = TravelMatrix.from_file(path)
    assert any("99999" in n for n in tm.notes)
    assert len(tm.table) == len(m)


def test_unpadded_codes_get_the_leading_zero_hint(tmp_path):
    path = tmp_path / "times.csv"
    path.write_text("origin,destination,minutes\n1033,a,5\n1034,a,6\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"lost their leading zero: write '01033'"):
        TravelMatrix.from_file(path)


# ------------------------------------------------------------------ the file itself


def test_missing_matrix_file_is_caught_at_validate(tmp_path):
    cfg = load_config(placement_config(tmp_path, "nowhere/times.csv"))
    with pytest.raises(InputError, match=r"nowhere/times\.csv: territory\.travel_matrix: file not found"):
        travel.check_matrix_file(cfg)


@pytest.mark.parametrize("content, encoding, pattern", [
    ("origin;destination;minutes\n01033;a;5\n", "utf-8",
     r"wrong separator: this file uses ';' — fssim expects ','"),
    ("origin\tdestination\tminutes\n01033\ta\t5\n", "utf-8", r"wrong separator: this file uses a tab"),
    ("origin,destination,minutes\n01033,Bâgé,5\n", "latin-1", r"not UTF-8 text \(byte 0xe2 on line 2.*UTF-8"),
    ("origin,destination,minutes,minutes\n01033,a,5,6\n", "utf-8",
     r"minutes: column 'minutes' appears twice in the header \(columns 3 and 4\)"),
    ("", "utf-8", r"the file is empty"),
    ("origin,destination,minutes\n", "utf-8", r"the travel matrix has no row"),
    ("origin,destination,minutes\n01033,a,-3\n", "utf-8", r"minutes: negative travel time at line 2"),
    ("origin,destination,minutes\n01033,a,vingt\n", "utf-8", r"minutes: not a finite number at line 2: 'vingt'"),
    ('origin,destination,minutes\n01033,a,"12,5"\n', "utf-8", r"use a decimal point"),
    ("origin,destination,minutes\n01033,a,5\n01034,a,6\n01033,a,7\n", "utf-8",
     r"origin: pair \(01033, a\) given twice, at line 2 and again at line 4"),
    ("origin,destination,minutes\n01033,a,5,9\n", "utf-8", r"not a readable CSV"),
    ("PAR1\x00\x00junk", "latin-1", r"this is a Parquet file, not a CSV"),
])
def test_bad_csv_files_name_the_file_and_the_fix(tmp_path, content, encoding, pattern):
    path = tmp_path / "times.csv"
    path.write_bytes(content.encode(encoding))
    with pytest.raises(InputError, match=pattern) as info:
        TravelMatrix.from_file(path)
    assert str(info.value).startswith(str(path))


def test_a_file_with_a_bom_is_read(tmp_path):
    path = tmp_path / "times.csv"
    path.write_bytes("origin,destination,minutes\n01033,a,5\n".encode("utf-8-sig"))
    assert TravelMatrix.from_file(path).table["origin"].tolist() == ["01033"]


def test_not_a_parquet_file(tmp_path):
    path = tmp_path / "times.parquet"
    path.write_text("origin,destination,minutes\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"times\.parquet: cannot read this Parquet file"):
        TravelMatrix.from_file(path)
