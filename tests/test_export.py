"""Exports of a run's KPI tables: the Excel workbook, the CSV files, the report's download links, refusals."""
import base64
import io
import shutil

import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

import fssim
from fssim.cli import app
from fssim.errors import InputError
from fssim.report.export import LEVELS, download_links, export_run
from fssim.report.rundata import load_run_dir

runner = CliRunner()

#: a placed network in Lozère with two rollout phases: network, site, démarche, month, weekday, hour, phase
LOZERE = {
    "name": "export-48", "horizon": {"start": "2024-03-04", "days": 42}, "seed": 48, "replications": 2,
    "territory": {"departements": ["48"]},
    "network": {"source": "placement", "placement": {"n_sites": 5, "max_minutes": 30},
                "phases": [{"date": "2024-03-04", "sites": 3, "label": "vague 1"},
                           {"date": "2024-03-25", "sites": 5, "label": "vague 2"}]},
    "catchment": {"model": "population", "annual_visits": 30_000_000},
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("export") / "run"
    fssim.simulate(LOZERE).save(d)
    return d


@pytest.fixture(scope="module")
def territorial_run(run_dir):
    """The run itself: its summary holds région, département and canton scopes (where citizens live)."""
    return run_dir


def keys_of(run_dir, scope):
    s = pd.read_parquet(run_dir / "summary.parquet")
    return list(dict.fromkeys(s.loc[s["scope"] == scope, "key"].astype(str)))


def test_workbook_has_one_sheet_per_level_one_row_per_key_and_numbers(run_dir, tmp_path):
    path = fssim.export(run_dir, format="xlsx", out=tmp_path / "x.xlsx")
    sheets = pd.read_excel(path, sheet_name=None, dtype={"Site": str, "Commune": str})
    scopes = list(dict.fromkeys(pd.read_parquet(run_dir / "summary.parquet")["scope"]))
    assert list(sheets) == [lvl for lvl in LEVELS if lvl in scopes] + ["about"]
    assert {"network", "site", "demarche", "phase", "month"} <= set(sheets)
    for level in sheets:
        if level == "about":
            continue
        df = sheets[level]
        assert len(df) == len(keys_of(run_dir, level)), level
        kpi_cols = [c for c in df.columns if "(" in c or "IC 95" in c]
        assert kpi_cols and all(pd.api.types.is_numeric_dtype(df[c]) for c in kpi_cols), level
    site = sheets["site"].set_index("Site")
    assert sorted(site.index) == sorted(keys_of(run_dir, "site"))
    # the workbook's values are the summary's, and names sit beside the codes
    s = pd.read_parquet(run_dir / "summary.parquet")
    p90 = s[(s["scope"] == "site") & (s["kpi"] == "p90_wait_min")].set_index("key")
    assert site["Attente P90 (min)"].to_dict() == pytest.approx(p90["mean"].to_dict(), nan_ok=True)
    assert site["Attente P90 (min) – IC 95 % haut"].to_dict() == pytest.approx(p90["ci_high"].to_dict(),
                                                                               nan_ok=True)
    net = pd.read_parquet(run_dir / "network.parquet").set_index("site_id")
    assert site["Nom"].to_dict() == net["name"].to_dict()
    mende = site[site["Commune"] == "48095"]
    assert len(mende) == 1 and mende["Nom de la commune"].iloc[0] == "Mende"
    assert list(sheets["month"]["Nom"]) == ["mars", "avril"]


def test_workbook_formats_rates_as_percent_and_freezes_the_header(run_dir, tmp_path):
    path = export_run(run_dir, "xlsx", tmp_path / "x.xlsx", lang="en")
    wb = openpyxl.load_workbook(path)
    assert wb.properties.creator == "fssim"
    ws = wb["site"]
    heads = [c.value for c in ws[1]]
    rate = heads.index("Abandonment rate (%)") + 1
    wait = heads.index("Mean wait (min)") + 1
    assert "%" in ws.cell(2, rate).number_format and "%" not in ws.cell(2, wait).number_format
    assert ws.cell(2, wait).data_type == "n" and isinstance(ws.cell(2, wait).value, float)
    assert ws.freeze_panes == "E2"  # header row, and site, name, commune, commune name
    width = {j: ws.column_dimensions[openpyxl.utils.get_column_letter(j)].width for j in range(1, len(heads) + 1)}
    assert all(width[j] >= 12 for j in range(5, len(heads) + 1))  # KPI columns: room for a wrapped header
    longest_name = max(len(str(c.value)) for c in ws["B"][1:])
    assert width[2] >= min(longest_name, 46)


def test_territorial_scopes_get_their_names_and_any_kpi_a_column(territorial_run, tmp_path):
    path = export_run(territorial_run, "xlsx", tmp_path / "t.xlsx", lang="en")
    sheets = pd.read_excel(path, sheet_name=None, dtype={"Region": str, "Département": str, "Canton": str})
    assert list(sheets)[:5] == ["network", "region", "departement", "canton", "site"]
    assert sheets["region"]["Name"].tolist() == ["Occitanie"]
    assert sheets["departement"]["Name"].tolist() == ["Lozère"]
    assert sorted(sheets["canton"]["Canton"]) == sorted(keys_of(territorial_run, "canton"))
    assert all(isinstance(n, str) and n for n in sheets["canton"]["Name"])
    s = pd.read_parquet(territorial_run / "summary.parquet")
    low = s[(s["scope"] == "network") & (s["kpi"] == "population_served_within_targets")]["ci_low"].tolist()
    col = [c for c in sheets["network"].columns if c.startswith("Population served within targets") and "low" in c]
    assert col and sheets["network"][col[0]].tolist() == pytest.approx(low, nan_ok=True)


def test_csv_files_french_and_english(run_dir, tmp_path):
    fr = export_run(run_dir, "csv", tmp_path / "fr")
    en = export_run(run_dir, "csv", tmp_path / "en", lang="en")
    levels = [p.stem for p in sorted(fr.glob("*.csv")) if p.stem != "columns"]
    assert sorted(levels) == sorted(set(pd.read_parquet(run_dir / "summary.parquet")["scope"]))
    raw = (fr / "site.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    a = pd.read_csv(fr / "site.csv", sep=";", decimal=",", encoding="utf-8-sig", dtype={"Site": str})
    b = pd.read_csv(en / "site.csv", sep=",", encoding="utf-8-sig", dtype={"Site": str})
    assert len(a) == len(keys_of(run_dir, "site")) and a["Site"].is_unique
    num_a = a.select_dtypes("number").to_numpy()
    num_b = b.select_dtypes("number").to_numpy()
    assert num_a.shape == num_b.shape and num_a.shape[1] >= 3 * 20
    assert pd.DataFrame(num_a).equals(pd.DataFrame(num_b))
    s = pd.read_parquet(run_dir / "summary.parquet")
    share = s[(s["scope"] == "network") & (s["kpi"] == "abandonment_rate")]["mean"].iloc[0]
    net = pd.read_csv(en / "network.csv", encoding="utf-8-sig")
    assert net["Abandonment rate (share 0-1)"].iloc[0] == pytest.approx(share, rel=1e-11)  # a fraction, not %
    cols = pd.read_csv(en / "columns.csv", encoding="utf-8-sig")
    assert {"mean", "ci_low", "ci_high"} <= set(cols["Statistic"].dropna())


def test_refuses_to_replace_what_fssim_did_not_write(run_dir, tmp_path):
    foreign = tmp_path / "budget.xlsx"
    foreign.write_bytes(b"PK not ours")
    with pytest.raises(InputError, match="not written by fssim"):
        export_run(run_dir, "xlsx", foreign)
    assert foreign.read_bytes() == b"PK not ours"
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="not an fssim export"):
        export_run(run_dir, "csv", folder)
    assert (folder / "notes.txt").read_text() == "keep me"
    with pytest.raises(InputError, match="run directory being exported"):
        export_run(run_dir, "csv", run_dir, force=True)
    assert (run_dir / "summary.parquet").exists()
    # a previous export is replaced; --force replaces a foreign file
    ours = export_run(run_dir, "xlsx", tmp_path / "again.xlsx")
    assert export_run(run_dir, "xlsx", ours) == ours
    csv = export_run(run_dir, "csv", tmp_path / "csv")
    assert export_run(run_dir, "csv", csv) == csv
    export_run(run_dir, "xlsx", foreign, force=True)
    assert openpyxl.load_workbook(foreign).sheetnames[0] == "network"


def test_cli_export_and_its_errors(run_dir, tmp_path):
    res = runner.invoke(app, ["export", str(run_dir), "--out", str(tmp_path / "a.xlsx")])
    assert res.exit_code == 0 and (tmp_path / "a.xlsx").exists(), res.output
    res = runner.invoke(app, ["export", str(run_dir), "--format", "csv", "--out", str(tmp_path / "c"), "--lang", "en"])
    assert res.exit_code == 0 and (tmp_path / "c" / "network.csv").exists(), res.output
    (tmp_path / "theirs.xlsx").write_text("x")
    for args, expect in ((["export", str(tmp_path / "nowhere")], "not a directory"),
                         (["export", str(run_dir), "--format", "pdf"], "choose xlsx or csv"),
                         (["export", str(run_dir), "--lang", "de"], "choose fr"),
                         (["export", str(run_dir), "--out", str(tmp_path / "theirs.xlsx")], "not written by fssim"),
                         (["export", str(run_dir), "--out", str(tmp_path / "a.csv")], "ends in .xlsx")):
        res = runner.invoke(app, args)
        assert res.exit_code == 2 and expect in res.output and "Traceback" not in res.output, (args, res.output)


def test_download_links_are_the_csv_tables_and_appear_in_the_report(run_dir):
    from fssim.report import render_report

    run = load_run_dir(run_dir)
    links = download_links(run)
    assert [name.rsplit("-", 1)[1] for _, name, _ in links] == \
        [lvl + ".csv" for lvl in LEVELS if lvl in set(run.summary["scope"])]
    label, name, uri = next(x for x in links if x[1].endswith("-site.csv"))
    text = base64.b64decode(uri.split("base64,", 1)[1]).decode("utf-8-sig")
    df = pd.read_csv(io.StringIO(text), sep=";", decimal=",")
    assert len(df) == len(keys_of(run_dir, "site")) and str(len(df)) in label
    html = render_report(run)
    assert f'download="{name}"' in html and uri[:200] in html
