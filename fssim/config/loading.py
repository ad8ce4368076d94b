"""Reading configs: strict YAML, pydantic errors turned into clear InputErrors, overrides by dotted path."""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    ValidationError,
)

from fssim.errors import InputError
from fssim.config.scenario import Config



#: location parts pydantic adds for union branches and wrapped validators: nothing for the reader
UNION_TAGS = frozenset({"lognormal", "exponential", "fixed", "triangular", "empirical", "int", "str", "list[str]",
                        "dict[str,int]", "list[int]", "constrained-int", "dict[str,any]", "ReplicationRule"})


def field_path(loc: tuple) -> list:
    """A pydantic error location without its union-branch tags: the field path as the user wrote it."""
    return [p for p in loc if not (isinstance(p, str) and (p in UNION_TAGS or p.startswith("function-")))]


def _where(parts: list) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out or "(top level)"


def format_validation_error(err: ValidationError, file: str, *, what: str = "configuration",
                            explain=None) -> InputError:
    """Pydantic errors → one line per field (``where: what is wrong (got …)``), naming the file.

    ``explain(error, parts)`` may return a better message for an error ('' to leave the error out, None to
    keep pydantic's): the experiment definition uses it for its own keys."""
    lines = []
    seen = set()
    for e in err.errors():
        parts = field_path(e["loc"])
        where = _where(parts)
        msg = e["msg"].removeprefix("Value error, ")
        inner = re.match(r"^([A-Za-z_][\w.\[\]]*): (.+)$", msg, re.S)
        if e["type"] == "value_error" and inner:  # a validator that names the field inside the object
            where = inner.group(1) if where == "(top level)" else f"{where}.{inner.group(1)}"
            msg = inner.group(2)
        better = explain(e, parts) if explain else None
        if better == "":
            continue
        if better:
            msg = better
        elif e["type"] == "extra_forbidden":
            msg = "unknown key; check its spelling (see the schema: `fssim schema`)"
        elif e["type"] == "missing":
            msg = "required field is missing"
        key = (where, msg)
        if key in seen:
            continue
        seen.add(key)
        got = e.get("input")
        shown = "" if e["type"] in ("missing",) or isinstance(got, (dict, list)) else f" (got {got!r})"
        lines.append(f"  {where}: {msg}{shown}")
    return InputError(f"invalid {what}:\n" + "\n".join(lines), file=file)


def non_finite(data: Any, path: str = "") -> tuple[str, float] | None:
    """(field path, value) of the first infinite or NaN number in nested mappings and lists, or None."""
    if isinstance(data, float) and not math.isfinite(data):
        return path or "(top level)", data
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for k, v in items:
        found = non_finite(v, f"{path}[{k}]" if isinstance(k, int) else f"{path}.{k}" if path else str(k))
        if found:
            return found
    return None


def config_from_dict(data: dict, *, source: str = "<config>", base: Path | None = None) -> Config:
    """Validate a mapping into a Config; errors become InputError naming ``source``."""
    if not isinstance(data, dict):
        raise InputError("the top level must be a mapping of keys (name, horizon, sites…)", file=source)
    bad = non_finite(data)
    if bad:
        raise InputError(f"{bad[1]} is not a finite number; write a number (.inf and .nan are not accepted)",
                         file=source, field=bad[0])
    try:
        cfg = Config.model_validate(data)
    except ValidationError as e:
        raise format_validation_error(e, source) from None
    if source != "<config>":
        cfg._source = source
    if base is not None:
        cfg._base_dir = Path(base).resolve()
        for d in cfg.demarches:
            if getattr(d.service, "file", None) and not Path(d.service.file).is_absolute():
                object.__setattr__(d.service, "file", str((base / d.service.file).resolve()))
    return cfg


#: Scenario and experiment files are a few kilobytes; anything above this is not one (and would keep the
#: YAML parser busy for minutes).
MAX_YAML_BYTES = 5_000_000


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, but a repeated key or an impossible date is an error at its line."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # '<<: *anchor' merges are meant to be overridden
                key = self.construct_object(key_node, deep=True)
                try:
                    line = first.setdefault(key, key_node.start_mark.line)
                except TypeError:
                    continue  # an unhashable key: the base loader reports it
                if line != key_node.start_mark.line:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first given at line {line + 1}); keep only one",
                        key_node.start_mark)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as e:
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a real date ({e}); write an existing date as YYYY-MM-DD",
                node.start_mark) from None


_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _StrictLoader.construct_yaml_timestamp)


def _read_text(path: Path, what: str) -> str:
    """The UTF-8 text of a small file, or an InputError saying what is wrong and how to fix it."""
    if not path.exists():
        raise InputError(f"file not found; give the path of {what}", file=str(path))
    if path.is_dir():
        raise InputError(f"this is a folder, not a file; give the path of {what}", file=str(path))
    try:
        size = path.stat().st_size
        if size > MAX_YAML_BYTES:
            raise InputError(f"{size / 1e6:.1f} MB is too large for {what} (at most {MAX_YAML_BYTES / 1e6:g} MB); "
                             "check that this is the right file (data tables go in CSV/Parquet files that the "
                             "scenario names)", file=str(path))
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read the file ({e.strerror}); check its permissions", file=str(path)) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise InputError(
            f"line {line}: not UTF-8 text (byte 0x{raw[e.start]:02X}); fssim reads YAML files as UTF-8. Convert "
            f"the file, e.g. `iconv -f latin1 -t utf-8 {path.name} > {path.stem}-utf8{path.suffix}`, or save it "
            "as UTF-8 in your editor", file=str(path)) from None


def read_yaml(path: str | Path, what: str = "a YAML scenario (see configs/)") -> Any:
    """The content of a YAML file, or an InputError naming the file (and the line of a syntax error).

    Repeated keys and impossible dates are errors (PyYAML would keep the last key silently, or crash)."""
    path = Path(path)
    text = _read_text(path, what)
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        if not isinstance(e, yaml.constructor.ConstructorError):
            problem = f"not valid YAML ({problem})"
        raise InputError(where + problem, file=str(path)) from None


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> Config:
    """Read a YAML scenario file; ``overrides`` maps dotted paths to values (e.g. {'seed': 3})."""
    path = Path(path)
    data = read_yaml(path)
    for key, value in (overrides or {}).items():
        set_path(data, key, value)
    return config_from_dict(data, source=str(path), base=path.parent)


def set_path(data: dict, dotted: str, value: Any) -> None:
    """Set ``a.b[2].c`` in nested dicts/lists (used by overrides and experiment factors)."""
    tokens = re.findall(r"[^.\[\]]+|\[\d+\]", dotted)
    cur = data
    for i, tok in enumerate(tokens):
        last = i == len(tokens) - 1
        if tok.startswith("["):
            idx = int(tok[1:-1])
            if not isinstance(cur, list) or idx >= len(cur):
                raise InputError(f"{dotted}: no item {idx} here", field=dotted)
            if last:
                cur[idx] = value
            else:
                cur = cur[idx]
        else:
            if not isinstance(cur, dict):
                raise InputError(f"{dotted}: {tok!r} is not inside a mapping", field=dotted)
            if last:
                cur[tok] = value
            else:
                cur = cur.setdefault(tok, {})
