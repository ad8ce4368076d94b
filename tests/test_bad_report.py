"""`fssim rerun` on damaged reports: a missing or wrong checksum, a foreign or truncated file, all refused
with a message naming the file and the fix, and nothing written."""
from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from conftest import small_network
from fssim.cli import app
from fssim.config import config_from_dict
from fssim.errors import InputError
from fssim.report import read_embedded, rerun, write_report
from fssim.run import simulate


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    cfg = config_from_dict({**small_network(), "replications": 1, "horizon": {"start": "2024-04-01", "days": 7}})
    run_dir = simulate(cfg).save(tmp_path_factory.mktemp("run") / "small")
    path = write_report(run_dir, run_dir / "report.html")
    return path, path.read_text(encoding="utf-8")


def edit_embedded(html: str, change) -> str:
    """The report with its embedded document passed through ``change`` (dict -> dict)."""
    m = re.search(r'(<script type="application/json" id="fssim-config">)(.*?)(</script>)', html, re.S)
    doc = change(json.loads(m.group(2)))
    return html[:m.start(2)] + json.dumps(doc).replace("<", "\\u003c") + html[m.end(2):]


def refused(tmp_path, text: str, pattern: str, name="bad.html"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=pattern) as info:
        rerun(path, tmp_path / "out")
    assert str(info.value).startswith(str(path))
    assert not (tmp_path / "out").exists()
    return str(info.value)


def drop_checksum(doc):
    doc["manifest"].pop("config_sha256")
    return doc


def test_missing_checksum_is_refused(report, tmp_path):
    _, html = report
    refused(tmp_path, edit_embedded(html, drop_checksum), r"manifest\.config_sha256: .*no valid config_sha256")


def test_missing_checksum_and_edited_config_is_refused(report, tmp_path):
    _, html = report

    def change(doc):
        doc["config"]["seed"] += 1
        return drop_checksum(doc)

    refused(tmp_path, edit_embedded(html, change), r"no valid config_sha256.*fssim report RUN_DIR")


def test_edited_config_is_refused(report, tmp_path):
    _, html = report

    def change(doc):
        doc["config"]["replications"] = 3
        return doc

    refused(tmp_path, edit_embedded(html, change), r"does not match the manifest's config_sha256")


def test_missing_manifest_is_refused(report, tmp_path):
    _, html = report

    def change(doc):
        doc.pop("manifest")
        return doc

    refused(tmp_path, edit_embedded(html, change), r"manifest: .*no manifest")


@pytest.mark.parametrize("where", ["before", "inside", "after"])
def test_truncated_report(report, tmp_path, where):
    """Cut before, inside or after the embedded element: always 'truncated', never 'not a report'."""
    _, html = report
    start = html.index('id="fssim-config"')
    cut = {"before": start // 2, "inside": start + 200, "after": len(html) - 100}[where]
    refused(tmp_path, html[:cut], r"the report is truncated")


def test_not_an_fssim_report(tmp_path):
    refused(tmp_path, "<html><body><p>hello</p></body></html>", r"not an fssim report")
    (tmp_path / "bin.html").write_bytes(b"\xff\xfe\x00<\x00h")
    with pytest.raises(InputError, match="not a UTF-8 text file"):
        read_embedded(tmp_path / "bin.html")


def test_cli_rerun_exit_code_2_without_traceback(report, tmp_path):
    _, html = report
    path = tmp_path / "bad.html"
    path.write_text(edit_embedded(html, drop_checksum), encoding="utf-8")
    res = CliRunner().invoke(app, ["rerun", str(path), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "config_sha256" in res.output
