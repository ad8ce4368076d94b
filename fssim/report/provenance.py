"""Reproducing a report: the embedded config + manifest, reading them back, and redoing the run.

The report carries one ``<script type="application/json" id="fssim-config">`` element holding
``{"fssim_report": 1, "config": <config.yaml of the run>, "manifest": <manifest.json>}``, escaped so that no
``</script>`` or ``<!--`` can appear in it. :func:`rerun` reads it, checks the config against the manifest's
sha256, and simulates again: same config and seed, same tables.
"""
from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

from fssim.config import config_from_dict
from fssim.errors import InputError
from fssim.report.blocks import Code, Downloads, Paragraph, Section, Table
from fssim.report.i18n import Translator
from fssim.report.rundata import RunData

ELEMENT_ID = "fssim-config"


def embedded_document(run: RunData) -> dict:
    return {"fssim_report": 1, "config": run.config_dict, "manifest": run.manifest}


class _Finder(HTMLParser):
    """Collects the text of the first <script id="fssim-config">."""

    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.inside = False
        self.found = False
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "script" and dict(attrs).get("id") == ELEMENT_ID and not self.found:
            self.inside = self.found = True

    def handle_endtag(self, tag):
        if tag == "script" and self.inside:
            self.inside = False

    def handle_data(self, data):
        if self.inside:
            self.parts.append(data)


REGENERATE = "regenerate it from the run directory with `fssim report RUN_DIR`"


def _looks_like_fssim(text: str) -> bool:
    return '<meta name="generator" content="fssim' in text[:4096]


def read_embedded(report_html: str | Path) -> dict:
    """The config and manifest embedded in an fssim report (InputError if the file is not one, is truncated
    or its embedded element is damaged)."""
    path = Path(report_html)
    if not path.is_file():
        raise InputError("file not found; give an HTML report written by `fssim report`", file=str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError("not a UTF-8 text file; give an HTML report written by `fssim report`",
                         file=str(path)) from None
    ours = _looks_like_fssim(text)
    truncated = ours and not text.rstrip().endswith("</html>")
    finder = _Finder()
    finder.feed(text)
    if truncated or finder.inside:
        raise InputError("the report is truncated (it stops before its end, </html>): copy the whole file again "
                         f"or {REGENERATE}", file=str(path))
    if not finder.found:
        lead = ("an fssim report without its embedded configuration" if ours else "not an fssim report")
        raise InputError(f"{lead} (no <script id=\"{ELEMENT_ID}\"> element); give an HTML report "
                         "written by `fssim report`", file=str(path))
    try:
        doc = json.loads("".join(finder.parts))
    except json.JSONDecodeError as e:
        raise InputError(f"the embedded configuration is not valid JSON ({e}); the report was damaged: "
                         f"{REGENERATE}", file=str(path)) from None
    if not isinstance(doc, dict) or doc.get("fssim_report") != 1 or not isinstance(doc.get("config"), dict):
        raise InputError(f"the embedded element is not an fssim report configuration; {REGENERATE}",
                         file=str(path))
    if not isinstance(doc.get("manifest"), dict):
        raise InputError(f"the embedded element has no manifest (the run's manifest.json); {REGENERATE}",
                         file=str(path), field="manifest")
    return doc


def rerun(report_html: str | Path, out_dir: str | Path):
    """Redo the run described by a report and write it to ``out_dir``; returns the :class:`RunResult`.

    The embedded config must match the manifest's ``config_sha256``: a missing checksum is refused like a
    wrong one (the config could have been edited and nothing would tell).
    """
    from fssim.run import simulate

    doc = read_embedded(report_html)
    original = doc["manifest"]
    expected = original.get("config_sha256")
    if not isinstance(expected, str) or len(expected) != 64:
        raise InputError("the embedded manifest has no valid config_sha256, so the embedded config cannot be "
                         f"checked against the run it describes (the report was edited or damaged); {REGENERATE}",
                         file=str(report_html), field="manifest.config_sha256")
    config = config_from_dict(doc["config"], source=f"{report_html} (embedded config)")
    if config.digest() != expected:
        raise InputError("the embedded config does not match the manifest's config_sha256: the report was "
                         f"edited; {REGENERATE}", file=str(report_html), field="manifest.config_sha256")
    result = simulate(config)
    result.manifest["rerun_of"] = {"report": Path(report_html).name, "config_sha256": expected,
                                   "created": original.get("created")}
    result.manifest["command"] = f"fssim rerun {Path(report_html).name}"
    result.save(out_dir)
    return result


def section_reproduce(run: RunData, t: Translator, *, report_name: str = "report.html") -> Section:
    man, cfg = run.manifest, run.config
    tm = man.get("timings_s") or {}
    versions = man.get("versions") or {}
    rows = [
        [t("doc.scenario"), str(man.get("scenario", cfg.name))],
        [t("doc.config_hash"), str(man.get("config_sha256", t("doc.unknown")))],
        [t("scenario.seed"), str(man.get("seed", cfg.seed))],
        [t("scenario.replications"), str(man.get("replications", cfg.replications))],
        [t("reproduce.rows"), t.int(man["visits"]) if "visits" in man else t("doc.unknown")],
        [t("reproduce.deferred"), t.int(man["visits_deferred_beyond_horizon"])
         if "visits_deferred_beyond_horizon" in man else t("doc.unknown")],
        [t("doc.run_created"), str(man.get("created", t("doc.unknown")))],
        [t("reproduce.timings"), ", ".join(f"{k} {t.num(v, 1)} s" for k, v in tm.items()) or t("doc.unknown")],
        [t("reproduce.command"), str(man.get("command") or t("doc.unknown"))],
        [t("reproduce.versions"), ", ".join(f"{k} {v}" for k, v in versions.items()) or t("doc.unknown")],
    ]
    files = sorted(p.name for p in run.path.iterdir() if p.suffix in (".parquet", ".yaml", ".json"))
    rows.append([t("reproduce.files"), ", ".join(files)])
    blocks = [
        Paragraph(t("reproduce.lead")),
        Code(f"fssim rerun {report_name} --out runs/{cfg.name}-rerun"),
        Code(f"python -c \"from fssim.report import rerun; rerun('{report_name}', 'runs/{cfg.name}-rerun')\""),
        Paragraph(t("reproduce.report")),
        Code(f"fssim report runs/{cfg.name}-rerun"),
        Table([t("param"), t("value")], rows, title=t("reproduce.manifest"), css="params"),
    ]
    from fssim.report.export import download_links

    links = download_links(run, lang=t.lang)
    if links:
        blocks += [Paragraph(t("reproduce.downloads")), Downloads(links),
                   Code(f"fssim export runs/{cfg.name} --format xlsx --lang {t.lang}")]
    return Section("reproduce", t("reproduce.title"), blocks)
