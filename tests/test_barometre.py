"""Baromètre series (fssim.sources.barometre): monthly actes IND-323 and labels by département."""

import pandas as pd
import pytest

from conftest import SHARED_DATA
from fssim.sources.barometre import ACTES_FILE, LABELS_FILE, load_actes, load_labels
from fssim.errors import InputError
from fssim.geo.territory import load_territory

ACTES_HEADER = "indic_id,enforce_zone_id,metric_enforce_date,maille,indic_vi,indic_va,indic_vc,indic_ta\n"
LABELS_HEADER = "mesure,indicateur,id_indicateur,code_departement,libelle_departement,date,valeur,unite\n"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_actes_of_the_data_folder_match_its_readme():
    series = load_actes(data_dir=SHARED_DATA)
    assert len(series.actes) + len(series.targets) == 476  # README: 476 rows
    assert set(series.actes.columns) >= {"level", "zone", "dep", "month", "actes"}
    national = series.national.set_index("month")["actes"]
    for month, value in {"2022-05-01": 510_034, "2023-01-01": 650_165, "2023-06-01": 890_580,
                         "2023-09-01": 738_638, "2023-10-01": 867_403, "2024-01-01": 879_233}.items():
        assert national[pd.Timestamp(month)] == value
    target = series.targets[series.targets["level"] == "national"]
    assert target["target"].iloc[0] == pytest.approx(1_053_711.89)
    deps = series.departements
    assert deps["dep"].nunique() == 67 and len(deps) == 67 * 6
    assert set(deps["dep"]) <= set(load_territory().departements["code"])
    assert {"2A", "971", "976"} & set(deps["dep"]) == {"971", "976"}
    assert deps["actes"].gt(0).all() and series.problems.empty
    assert pd.api.types.is_datetime64_any_dtype(deps["month"])


def test_labels_of_the_data_folder_match_its_readme():
    series = load_labels(data_dir=SHARED_DATA)
    assert len(series.labels) == 3636
    assert series.labels["dep"].nunique() == 101
    assert set(series.labels["dep"]) == set(load_territory().departements["code"]) - {"978"}
    national = series.national().set_index("month")["labels"]
    assert national[pd.Timestamp("2020-01-01")] == 460
    assert national[pd.Timestamp("2020-09-01")] == 856
    assert national[pd.Timestamp("2021-01-01")] == 1123
    assert (series.labels.groupby("dep")["new"].sum() == series.labels.groupby("dep")["labels"].last()).all()
    # one cumulative count falls (Val-d'Oise): reported, the row kept
    assert series.problems["problem"].tolist() == ["decreasing_cumulative"]
    assert series.labels.loc[series.labels["source_row"] == series.problems["source_row"].iloc[0], "dep"].iloc[0] == "95"


def test_labels_file_with_other_indicators_keeps_only_the_france_services_rows(tmp_path):
    rows = [
        "m,i,nb-logement-accompagnement,01,Ain,2020-01-31,353.0,logements",
        "m,i,nb-labellisations-france-services,1,Ain,2020-01-31,1.0,labellisations",
        "m,i,nb-labellisations-france-services,01,Ain,2020-02-29,3.0,labellisations",
        "m,i,nb-labellisations-france-services,2A,Corse-du-Sud,2020-01-31,2.0,labellisations",
    ]
    series = load_labels(write(tmp_path, "sector.csv", LABELS_HEADER + "\n".join(rows) + "\n"))
    assert series.labels[["dep", "labels", "new"]].values.tolist() == [["01", 1.0, 1.0], ["01", 3.0, 2.0],
                                                                        ["2A", 2.0, 2.0]]
    assert sorted(series.problems["problem"]) == ["other_indicator", "unpadded_code"]


def test_upstream_layout_with_regions_and_unknown_codes_is_reported(tmp_path):
    rows = ["IND-323,FRANCE,2022-05-01,NAT,510034.0,,,", "IND-323,R01,2022-05-01,REG,2122.0,,,",
            "IND-323,D01,2022-05-01,DEPT,5447.0,,,", "IND-323,D01,2023-01-01,DEPT,,6642.0,,",
            "IND-323,D99,2023-01-01,DEPT,,10.0,,", "IND-323,D02,2023-01-01,DEPT,,,,"]
    series = load_actes(write(tmp_path, "ind.csv", ACTES_HEADER + "\n".join(rows) + "\n"))
    assert series.actes["level"].value_counts().to_dict() == {"departement": 4, "national": 1, "region": 1}
    assert series.departements.set_index("dep").loc["01", "actes"].tolist() == [5447.0, 6642.0]
    assert sorted(series.problems["problem"]) == ["no_value", "unknown_departement"]


@pytest.mark.parametrize("text, field, fix", [
    ("indic_id,enforce_zone_id,maille\nIND-323,FRANCE,NAT\n", "metric_enforce_date", "missing column"),
    (ACTES_HEADER + "IND-323,FRANCE,May 2022,NAT,1.0,,,\n", "metric_enforce_date", "YYYY-MM-DD"),
    (ACTES_HEADER + "IND-323,FRANCE,2022-05-01,NAT,,lots,,\n", "indic_va", "not a count"),
    (ACTES_HEADER + "IND-323,FRANCE,2022-05-01,NAT,,-5,,\n", "indic_va", "not a count"),
    (ACTES_HEADER + "IND-246,FRANCE,2022-05-01,NAT,,5,,\n", "indic_id", "ind-323.csv"),
    (ACTES_HEADER + "IND-323,D01,2022-05-01,NAT,,5,,\n", "enforce_zone_id", "does not fit maille"),
    (ACTES_HEADER + "IND-323,D01,2022-05-01,DEPT,,5,,\nIND-323,D01,2022-05-01,DEPT,,6,,\n",
     "metric_enforce_date", "given twice, on lines 2, 3"),
])
def test_bad_actes_file_is_a_clear_error(tmp_path, text, field, fix):
    path = write(tmp_path, "bad.csv", text)
    with pytest.raises(InputError, match=fix) as info:
        load_actes(path)
    assert info.value.file == str(path) and info.value.field == field


@pytest.mark.parametrize("text, field, fix", [
    ("code_departement,date,valeur\n01,2020-01-31,1\n", "id_indicateur", "missing column"),
    (LABELS_HEADER + "m,i,nb-logement-accompagnement,01,Ain,2020-01-31,1,x\n", "id_indicateur", "no row of indicator"),
    (LABELS_HEADER + "m,i,nb-labellisations-france-services,01,Ain,31/01/2020,1,x\n", "date", "YYYY-MM-DD"),
    (LABELS_HEADER + "m,i,nb-labellisations-france-services,01,Ain,2020-01-31,un,x\n", "valeur", "not a count"),
    (LABELS_HEADER + "m,i,nb-labellisations-france-services,01,Ain,2020-01-31,1,x\n"
     "m,i,nb-labellisations-france-services,01,Ain,2020-01-31,2,x\n", "date", "given twice"),
])
def test_bad_labels_file_is_a_clear_error(tmp_path, text, field, fix):
    path = write(tmp_path, "bad.csv", text)
    with pytest.raises(InputError, match=fix) as info:
        load_labels(path)
    assert info.value.file == str(path) and info.value.field == field


def test_files_are_found_in_the_data_folder_or_named_when_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSIM_DATA_DIR", str(SHARED_DATA))
    assert load_actes().source.endswith(ACTES_FILE)
    assert load_labels().source.endswith(LABELS_FILE)
    with pytest.raises(InputError, match=ACTES_FILE):
        load_actes(data_dir=tmp_path)
    with pytest.raises(InputError, match="no such file"):
        load_labels(tmp_path / "nope.csv")
