"""Build the HTML report of a run directory: sections → Jinja2 template → one self-contained file.

The file embeds plotly.js once (it opens offline), every figure's data in JSON script blocks with fixed
ids, and the run's resolved config and manifest (for :func:`fssim.report.rerun`). Nothing in it depends on
when or where it was generated: the only date is the manifest's ``created``.
"""
from __future__ import annotations

from fssim.files import write_text

from datetime import date
from pathlib import Path
from typing import Callable

import jinja2
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from fssim import __version__
from fssim.report.blocks import Section, script_json
from fssim.report.day import choose_day, section_day
from fssim.report.experiment import section_experiment
from fssim.report.extras import section_coverage, section_rollout
from fssim.report.figures import PLOTLY_CONFIG
from fssim.report.sitemap import section_map
from fssim.report.validation import section_validation
from fssim.report.i18n import LABELS, MONTHS, MONTHS_SHORT, WEEKDAYS, WEEKDAYS_SHORT, Translator, check_lang
from fssim.report.method import section_methodology
from fssim.report.provenance import ELEMENT_ID, embedded_document, section_reproduce
from fssim.report.rundata import RunData, load_run_dir
from fssim.report.sections import (section_abandonment, section_daily, section_kpis, section_overview, section_scenario,
                       section_utilisation, section_waits)
from fssim.report.stress import section_stress

SectionBuilder = Callable[[RunData, Translator], "Section | None"]

#: The report's sections in order; a builder returning None (no data) leaves its section out.
SECTIONS: list[SectionBuilder] = [
    section_experiment,  # an experiment's report answers it first
    section_overview, section_scenario, section_kpis, section_map, section_waits, section_utilisation,
    section_abandonment, section_daily, section_day, section_coverage, section_rollout, section_validation,
    section_methodology,
    section_reproduce, section_stress,
]


def _environment(t: Translator) -> jinja2.Environment:
    """Autoescaping on; every printed text gets the language's typography (Markup, e.g. JSON, is left alone)."""

    def finalize(value):
        return value if isinstance(value, Markup) or not isinstance(value, str) else t.typography(value)

    return jinja2.Environment(loader=jinja2.PackageLoader("fssim.report", "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True, finalize=finalize)


def build_sections(run: RunData, t: Translator, *, report_name: str = "report.html") -> list[Section]:
    """Every section with data, numbered (1, 2… then A, B… for appendices), figures and tables numbered."""
    sections = []
    for builder in SECTIONS:
        s = builder(run, t, report_name=report_name) if builder is section_reproduce else builder(run, t)
        if s is not None:
            sections.append(s)
    main = [s for s in sections if not s.appendix]
    for i, s in enumerate(main, 1):
        s.number = str(i)
    for i, s in enumerate([s for s in sections if s.appendix]):
        s.number = "ABCDEFGH"[i]
    fig = tab = 0
    for s in sections:
        for b in s.flat():
            if b.kind == "plot":
                fig += 1
                b.number = fig
            elif b.kind == "table" and b.title:
                tab += 1
                b.number = tab
    return sections


def _plotly_locale(lang: str) -> dict:
    """A plotly.js locale for month and day names on date axes and a few modebar tooltips."""
    dictionary = {} if lang == "en" else {
        "Download plot as a png": "Télécharger le graphique (PNG)", "Zoom": "Zoom", "Pan": "Déplacer",
        "Zoom in": "Zoom avant", "Zoom out": "Zoom arrière", "Reset axes": "Réinitialiser les axes",
        "Autoscale": "Échelle automatique", "Reset view": "Réinitialiser la vue", "Reset": "Réinitialiser",
        "Double-click to zoom back out": "Double-cliquer pour dézoomer"}
    return {"moduleType": "locale", "name": lang, "dictionary": dictionary, "format": {
        "days": list(WEEKDAYS[lang][6:] + WEEKDAYS[lang][:6]), "shortDays": list(WEEKDAYS_SHORT[lang][6:]
                                                                                + WEEKDAYS_SHORT[lang][:6]),
        "months": list(MONTHS[lang]), "shortMonths": list(MONTHS_SHORT[lang]),
        "date": "%d/%m/%Y" if lang == "fr" else "%Y-%m-%d"}}


def render_report(run: RunData, *, lang: str = "fr", report_name: str = "report.html") -> str:
    """The report's HTML text for a loaded run."""
    t = Translator(check_lang(lang), threshold=run.threshold)
    sections = build_sections(run, t, report_name=report_name)
    template = _environment(t).get_template("report.html.j2")
    return template.render(
        t=t, L=LABELS[lang], lang=lang, run=run, config=run.config, manifest=run.manifest, sections=sections,
        version=__version__, plotly_js=Markup(get_plotlyjs()), element_id=ELEMENT_ID,
        embedded=script_json(embedded_document(run)), plotly_locale=script_json(_plotly_locale(lang)),
        plotly_config=script_json(PLOTLY_CONFIG),
    )


def write_report(run_dir: str | Path, out: str | Path | None = None, *, lang: str = "fr",
                 day_site: str | None = None, day: str | date | None = None) -> Path:
    """Write the HTML report of a run directory (default ``run_dir/report.html``) and return its path.

    ``day_site`` / ``day``: show a day at that site (default: its busiest day of the first replication; a run
    of one site shows one without asking); InputError listing the valid sites or days."""
    check_lang(lang)
    run = load_run_dir(run_dir)
    if day_site is not None or day is not None:
        run.day = choose_day(run, day_site, day)
    out = Path(out) if out is not None else Path(run_dir) / "report.html"
    html = render_report(run, lang=lang, report_name=out.name)
    return write_text(out, html)
