"""An interactive what-if explorer in the browser (``fssim explore CONFIG``).

In: a scenario (one site, listed sites or a network) as the baseline. Out: a local web page (Dash, served from
this machine only) with levers — agents, opening hours, appointments, no-shows, demand, démarche mix, buses,
replications, horizon — whose what-ifs run in the background and show beside the baseline (KPI cards with the
targets' verdicts, paired differences, map, waits by hour and weekday, a day at a site), and buttons that save
the scenario's YAML (reproduced exactly by ``fssim run``) or its HTML report into the explorer's folder.

``levers`` maps controls to config settings, ``runs`` runs and caches scenarios, ``views`` draws results,
``app`` is the page and its callbacks; :func:`start` serves it on a port and returns a server to stop.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from fssim.config import Config, load_config


@dataclass
class Server:
    """A running explorer: its URL, the Explorer behind it, and ``stop()``."""

    url: str
    explorer: object
    _server: object
    _thread: threading.Thread

    def stop(self, timeout: float = 10.0) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout)

    def wait(self) -> None:
        self._thread.join()


def start(config: Config | str | Path, *, out: str | Path = "runs/explore", host: str = "127.0.0.1",
          port: int = 8050, lang: str = "fr") -> Server:
    """Serve the explorer of ``config`` on ``host:port`` in a background thread (port 0: a free one)."""
    import logging

    from werkzeug.serving import make_server

    from fssim.explore.app import Explorer, build_app

    cfg = load_config(config) if isinstance(config, (str, Path)) else config
    ex = Explorer(cfg, out, lang=lang)
    app = build_app(ex)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request (the page polls its runs)
    server = make_server(host, port, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="fssim-explore-server", daemon=True)
    thread.start()
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return Server(f"http://{shown}:{server.server_port}/", ex, server, thread)
