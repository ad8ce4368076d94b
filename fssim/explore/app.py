"""The explorer's Dash app: levers on the left, the what-if beside the baseline on the right.

Pressing Run turns the levers into a scenario (:mod:`fssim.explore.levers`, validated as any config: an error
is shown under the levers, never a traceback) and hands it to the run manager (:mod:`fssim.explore.runs`); a
timer polls the job and draws the results (:mod:`fssim.explore.views`) when it is done. Save scenario writes
the scenario's resolved YAML (``fssim run`` on it reproduces the run), Save report its HTML report, both into
the explorer's own output folder. Everything is served from this machine (``serve_locally``; no CDN, no web
font), so the page works offline.
"""
from __future__ import annotations

import threading
from pathlib import Path

import dash
from dash import Input, Output, State, dcc, html

from fssim.clock import WEEKDAYS
from fssim.config import Config
from fssim.errors import InputError
from fssim.explore import levers as L
from fssim.explore import views
from fssim.explore.runs import RunManager
from fssim.files import write_text
from fssim.report.i18n import Translator, add_labels, check_lang
from fssim.run import check_output, claim_output_dir

#: the levers' control ids (``lever-<name>``), in the order of LEVER_NAMES
CONTROL = {name: f"lever-{name.replace('_', '-')}" for name in L.LEVER_NAMES}
POLL_MS = 300

add_labels({
    "explore.title": ("Explorateur de scénarios", "What-if explorer"),
    "explore.scope.site": ("un site", "one site"), "explore.scope.sites": ("{n} sites listés", "{n} listed sites"),
    "explore.scope.network": ("un réseau ({source})", "a network ({source})"),
    "explore.lever.agents.site": ("Agents par site", "Agents per site"),
    "explore.lever.agents.network": ("Agents en plus (ou en moins) sur chaque site", "Agents added (or removed) on every site"),
    "explore.lever.saturday": ("Samedi (vide : fermé)", "Saturday (empty: closed)"),
    "explore.lever.half_day": ("Demi-journée", "Half-day"),
    "explore.add": ("ajouter", "add"), "explore.remove": ("retirer", "remove"),
    "explore.lever.appointment_share": ("Part des rendez-vous (0–1)", "Appointment share (0–1)"),
    "explore.lever.slot_minutes": ("Durée d'un créneau (min)", "Slot length (min)"),
    "explore.lever.no_show": ("Rendez-vous non honorés (0–1)", "No-show rate (0–1)"),
    "explore.lever.demand_multiplier": ("Multiplicateur de la demande", "Demand multiplier"),
    "explore.lever.mix": ("Part d'une démarche", "Share of one démarche"),
    "explore.lever.buses": ("Bus France services", "France services buses"),
    "explore.lever.replications": ("Réplications", "Replications"),
    "explore.lever.horizon_days": ("Horizon (jours)", "Horizon (days)"),
    "explore.run": ("Lancer", "Run"), "explore.reset": ("Référence", "Baseline"),
    "explore.save_scenario": ("Enregistrer le scénario", "Save scenario"),
    "explore.save_report": ("Enregistrer le rapport", "Save report"),
    "explore.running": ("{what} en cours : {progress}", "{what} running: {progress}"),
    "explore.done": ("Terminé en {s} s ({digest})", "Done in {s} s ({digest})"),
    "explore.waiting_base": ("en attente de la référence", "waiting for the baseline"),
    "explore.config_diff": ("Configuration : lignes modifiées", "Configuration: lines changed"),
    "explore.saved": ("Écrit : {path}", "Written: {path}"),
    "explore.nothing": ("Lancez d'abord un scénario.", "Run a scenario first."),
})

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;margin:0;color:#1e2a38;background:#f5f7fa}
#explorer{display:flex;gap:16px;padding:12px}
#levers{flex:0 0 300px;background:#fff;padding:12px;border-radius:8px;box-shadow:0 1px 3px #0002}
#levers label{display:block;font-size:13px;margin-top:8px}
#levers input[type=number],#levers input[type=text]{width:100%;box-sizing:border-box;padding:4px}
#results-pane{flex:1;min-width:0}
.buttons button{margin:8px 4px 0 0;padding:6px 10px}
#lever-error{color:#b3261e;white-space:pre-wrap;font-size:13px}
.cards{display:flex;flex-wrap:wrap;gap:8px}
.card{background:#fff;border-radius:8px;padding:8px 10px;min-width:150px;box-shadow:0 1px 3px #0002}
.card-title{font-size:12px;color:#6b7280}.card-value{font-size:22px;font-weight:600}
.card-detail,.card-delta{font-size:12px}.badge{display:inline-block;font-size:11px;padding:1px 6px;border-radius:8px}
.badge.pass{background:#d7f0dc}.badge.fail{background:#f8d7d5}.badge.uncertain,.badge.no_interval{background:#fdeccc}
table.diff{border-collapse:collapse;background:#fff;margin:8px 0}table.diff td,table.diff th{padding:3px 8px;
border-bottom:1px solid #e6e9ed;text-align:right}table.diff tr.significant td{font-weight:600}
#config-diff{background:#fff;padding:8px;font-size:12px;max-height:240px;overflow:auto}
.figures{display:flex;flex-wrap:wrap}.figure{flex:1 1 100%;background:#fff;margin:6px 0;padding:6px}
.figure.half{flex:1 1 45%}
"""
INDEX = ("<!DOCTYPE html><html><head>{%metas%}<title>{%title%}</title>{%css%}<style>" + CSS + "</style></head>"
         "<body>{%app_entry%}<footer>{%config%}{%scripts%}{%renderer%}</footer></body></html>")


class Explorer:
    """A baseline scenario, its run manager and the output folder the explorer owns."""

    def __init__(self, baseline: Config, out: str | Path = "runs/explore", *, lang: str = "fr"):
        self.baseline = baseline
        self.out = Path(out)
        self.t = Translator(check_lang(lang), threshold=baseline.outputs.wait_threshold_min)
        claim_output_dir(self.out, kind="explore")
        self.runs = RunManager(self.out)
        self.base_job = self.runs.submit(baseline, supersedes=False)
        self.base_yaml = baseline.to_yaml()
        self._views: dict[str, tuple] = {}
        self._runs: dict = {}
        self._drawing = threading.Lock()

    def views_of(self, job) -> tuple | None:
        """The results of a finished job beside the baseline (cards, table, figures), drawn once and kept; None
        while another request is drawing them (the page asks again at its next poll)."""
        if job.digest in self._views:
            return self._views[job.digest]
        if not self._drawing.acquire(blocking=False):
            return None
        try:
            if job.digest not in self._views:
                run, base_run = views.load(job), views.load(self.base_job)
                diffs = views.differences(self.base_job, job)
                same = job.digest == self.base_job.digest
                self._runs[job.digest] = run
                self._views[job.digest] = (views.kpi_cards(run, diffs, self.t, same=same),
                                           views.diff_table(diffs, self.t), views.figures(run, base_run, self.t))
            return self._views[job.digest]
        finally:
            self._drawing.release()

    def scenario(self, levers: dict) -> tuple[Config, list]:
        return L.apply(self.baseline, levers, source="the explorer's levers")

    def day_of(self, digest: str, site: str):
        """The day at another site of a drawn run."""
        run = self._runs.get(digest)
        return None if run is None else views.day_block(run, self.t, site)

    def save_scenario(self, config: Config) -> Path:
        """The scenario's resolved YAML in ``<out>/scenarios/``; ``fssim run`` on it redoes the run exactly."""
        path = self.out / "scenarios" / f"{config.name}-{config.digest()[:12]}.yaml"
        text = (f"# {config.name}: a what-if of the fssim explorer (config sha256 {config.digest()})\n"
                f"# reproduce: fssim run {path.name}\n" + config.to_yaml())
        if path.exists() and path.read_text(encoding="utf-8") == text:
            return path
        check_output(path, kind="file")
        return write_text(path, text)

    def save_report(self, job) -> Path:
        from fssim.report import write_report

        path = self.out / "reports" / f"{job.config.name}-{job.digest[:12]}.html"
        check_output(path, kind="file")
        return write_report(job.run_dir, path, lang=self.t.lang)


def _lever(label: str, control) -> html.Label:
    return html.Label([label, control])


def layout(ex: Explorer) -> html.Div:
    cfg, t = ex.baseline, ex.t
    base = L.baseline_levers(cfg)
    sc = L.scope(cfg)
    where = t(f"explore.scope.{sc}", n=len(cfg.sites), source=cfg.network.source if cfg.network else "")
    num = lambda name, **kw: dcc.Input(id=CONTROL[name], type="number", value=base[name], debounce=False, **kw)  # noqa: E731
    controls = [
        _lever(t("explore.lever.agents.network" if sc == "network" else "explore.lever.agents.site"),
               num("agents", step=1)),
        _lever(t("explore.lever.saturday"), dcc.Input(id=CONTROL["saturday"], type="text", value=base["saturday"],
                                                      placeholder="09:00-12:00")),
        _lever(t("explore.lever.half_day"), html.Div([
            dcc.Dropdown(id=CONTROL["half_day"], options=[{"label": t.weekday(d), "value": d} for d in WEEKDAYS],
                         value=None, clearable=True),
            dcc.RadioItems(id=CONTROL["half_day_action"], value="add", inline=True, options=[
                {"label": t("explore.add"), "value": "add"}, {"label": t("explore.remove"), "value": "remove"}])])),
        _lever(t("explore.lever.appointment_share"), num("appointment_share", step=0.05, min=0, max=1)),
        _lever(t("explore.lever.slot_minutes"), num("slot_minutes", step=5)),
        _lever(t("explore.lever.no_show"), num("no_show", step=0.01)),
        _lever(t("explore.lever.demand_multiplier"), num("demand_multiplier", step=0.1)),
        _lever(t("explore.lever.mix"), html.Div([
            dcc.Dropdown(id=CONTROL["mix_demarche"], value=base["mix_demarche"], clearable=False,
                         options=[{"label": d.label or d.name, "value": d.name} for d in cfg.demarches]),
            num("mix_share", step=0.01)])),
        _lever(t("explore.lever.replications"), num("replications", step=1, min=1)),
        _lever(t("explore.lever.horizon_days"), num("horizon_days", step=1, min=1)),
    ]
    has_buses = base["buses"]
    controls.append(html.Div(dcc.Checklist(id=CONTROL["buses"], value=["on"] if has_buses else [],
                                           options=[{"label": t("explore.lever.buses"), "value": "on",
                                                     "disabled": not has_buses}]),
                             style={} if has_buses else {"display": "none"}))
    buttons = html.Div([html.Button(t("explore.run"), id="run-button"),
                        html.Button(t("explore.save_scenario"), id="save-scenario"),
                        html.Button(t("explore.save_report"), id="save-report")], className="buttons")
    left = html.Div([html.H2(t("explore.title")), html.P(f"{cfg.name} — {where}", id="scope"), *controls, buttons,
                     html.Div(id="lever-error"), html.Div(id="save-message")], id="levers")
    right = html.Div([
        html.Div(id="progress"), html.Div(id="kpi-cards"), html.Div(id="diff-table"),
        html.Details([html.Summary(t("explore.config_diff")), html.Pre(t("explore.no_diff"), id="config-diff")],
                     open=True),
        html.Div(id="figures", className="figures"),
        dcc.Store(id="job", data=ex.base_job.digest), dcc.Store(id="shown", data=None),
        dcc.Interval(id="poll", interval=POLL_MS)], id="results-pane")
    return html.Div([left, right], id="explorer")


def _levers_of(values) -> dict:
    lev = dict(zip(L.LEVER_NAMES, values))
    lev["buses"] = bool(lev["buses"])
    lev["half_day"] = lev["half_day"] or ""
    return lev


def build_app(ex: Explorer) -> dash.Dash:
    """The Dash app of an Explorer (its Flask server is ``app.server``)."""
    app = dash.Dash("fssim.explore", serve_locally=True, title=ex.t("explore.title"), update_title=None,
                    index_string=INDEX, include_assets_files=False,
                    suppress_callback_exceptions=True,  # the results' elements appear after a run
                    assets_folder=str(ex.out / ".no-assets"))
    app.layout = layout(ex)
    t = ex.t
    lever_states = [State(CONTROL[n], "value") for n in L.LEVER_NAMES]

    @app.callback(Output("job", "data"), Output("lever-error", "children"), Output("config-diff", "children"),
                  Input("run-button", "n_clicks"), *lever_states, prevent_initial_call=True)
    def run(_, *values):
        try:
            cfg, _changes = ex.scenario(_levers_of(values))
        except InputError as e:
            return dash.no_update, str(e), dash.no_update
        job = ex.runs.submit(cfg)
        return job.digest, "", views.config_diff(ex.base_yaml, cfg.to_yaml(), t)

    @app.callback(Output("progress", "children"), Output("kpi-cards", "children"), Output("diff-table", "children"),
                  Output("figures", "children"), Output("shown", "data"),
                  Input("poll", "n_intervals"), State("job", "data"), State("shown", "data"))
    def poll(_, digest, shown):
        job, base = ex.runs.job(digest), ex.base_job
        if job is None:
            return "", dash.no_update, dash.no_update, dash.no_update, dash.no_update
        if job.status == "error":
            return html.Div(job.error, className="error", id="run-error"), *([dash.no_update] * 4)
        for j, what in ((job, job.config.name), (base, t("explore.baseline"))):
            if j.status in ("queued", "running"):
                text = t("explore.running", what=what, progress=j.progress_text())
                return html.Span(text, id="progress-text"), *([dash.no_update] * 4)
        if base.status == "error":
            return html.Div(base.error, className="error", id="run-error"), *([dash.no_update] * 4)
        done = html.Span(t("explore.done", s=t.num(job.seconds, 1), digest=digest[:12]), id="progress-text",
                         **{"data-digest": digest})
        if shown == digest:
            return done, *([dash.no_update] * 4)
        drawn = ex.views_of(job)
        if drawn is None:
            return dash.no_update, *([dash.no_update] * 4)
        return (done, *drawn, digest)

    @app.callback(Output("day-body", "children"), Input("day-site", "value"), State("shown", "data"),
                  prevent_initial_call=True)
    def day_site(site, digest):
        block = ex.day_of(digest, site)
        return dash.no_update if block is None else block.children[-1].children

    @app.callback(Output("save-message", "children"), Input("save-scenario", "n_clicks"),
                  Input("save-report", "n_clicks"), State("job", "data"), prevent_initial_call=True)
    def save(_a, _b, digest):
        job = ex.runs.job(digest)
        if job is None or job.status != "done":
            return t("explore.nothing")
        try:
            if dash.ctx.triggered_id == "save-scenario":
                path = ex.save_scenario(job.config)
            else:
                path = ex.save_report(job)
        except InputError as e:
            return html.Span(str(e), className="error")
        return html.Span(t("explore.saved", path=str(path)), id="saved-path", **{"data-path": str(path)})

    return app
