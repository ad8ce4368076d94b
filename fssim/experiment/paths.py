"""Config paths with wildcards: ``sites[*].agents`` (every site), ``network.agents.*`` (every key).

``sites[+]`` appends its value to a list (an extra site or bus in one scenario).

:func:`fssim.config.set_path` sets one dotted path (``a.b[2].c``); experiments also need "the same value
everywhere": ``[*]`` runs over every item of a list, ``*`` over every key of a mapping. Paths are applied to
the fully resolved config (every default written out), so ``network.agents.*`` reaches the four density
classes even when the base file does not list them.
"""
from __future__ import annotations

import copy
import re
from typing import Any

from fssim.config import set_path
from fssim.errors import InputError

_TOKEN = re.compile(r"\[\*\]|\[\+\]|\[\d+\]|[^.\[\]]+")


def tokens(path: str) -> list[str]:
    """``sites[*].agents`` → ['sites', '[*]', 'agents']; raises InputError for an empty or odd path."""
    toks = _TOKEN.findall(path)
    if not toks or "".join(toks) != path.replace(".", ""):
        raise InputError(f"{path!r} is not a config path: write dotted keys with [i] or [*] indices, "
                         "e.g. sites[*].agents or network.agents.*", field=path)
    return toks


def has_wildcard(path: str) -> bool:
    return "[*]" in tokens(path) or "*" in tokens(path)


def short_name(path: str) -> str:
    """The last plain key of a path: ``network.agents.*`` → 'agents', ``sites[0].hours.mon`` → 'mon'."""
    plain = [t for t in tokens(path) if not t.startswith("[") and t != "*"]
    return plain[-1] if plain else path


def set_setting(data: dict, path: str, value: Any) -> int:
    """Set ``path`` to ``value`` in nested dicts and lists, wildcards included; returns the number of places set.

    A wildcard that matches nothing (an empty list, a missing mapping) is an error: the setting would
    silently do nothing.
    """
    toks = tokens(path)
    if "[+]" in toks[:-1]:
        raise InputError("[+] (append to a list) can only end a path, e.g. sites[+]", field=path)
    if "[*]" not in toks and "*" not in toks and "[+]" not in toks:
        set_path(data, path, copy.deepcopy(value))
        return 1
    n = _set(data, toks, value, path, [])
    if n == 0:
        raise InputError("the wildcard matches nothing in this config (an empty list or mapping); "
                         "check the path against `fssim schema`", field=path)
    return n


def _set(cur: Any, toks: list[str], value: Any, path: str, seen: list[str]) -> int:
    tok, rest = toks[0], toks[1:]
    here = "".join(seen) or "(top level)"
    if tok == "[+]":
        if not isinstance(cur, list):
            raise InputError(f"{here} is not a list, so [+] (append) does not apply", field=path)
        cur.append(copy.deepcopy(value))
        return 1
    if tok == "[*]":
        if not isinstance(cur, list):
            raise InputError(f"{here} is not a list, so [*] does not apply", field=path)
        items = range(len(cur))
        getter = lambda i: cur[i]  # noqa: E731
    elif tok == "*":
        if not isinstance(cur, dict):
            raise InputError(f"{here} is not a mapping, so * does not apply", field=path)
        items = list(cur)
        getter = lambda k: cur[k]  # noqa: E731
    elif tok.startswith("["):
        i = int(tok[1:-1])
        if not isinstance(cur, list) or i >= len(cur):
            raise InputError(f"{here} has no item {i}", field=path)
        items, getter = [i], (lambda j: cur[j])
    else:
        if not isinstance(cur, dict):
            raise InputError(f"{here} is not a mapping, so it has no key {tok!r}", field=path)
        if rest and cur.get(tok) is None:
            if tok in cur:
                raise InputError(f"{tok!r} is not set (null) in the base config; set it there first", field=path)
            cur[tok] = {}
        items, getter = [tok], (lambda k: cur[k])
    n = 0
    for key in items:
        if not rest:
            cur[key] = copy.deepcopy(value)
            n += 1
        else:
            step = f"[{key}]" if isinstance(key, int) else (f".{key}" if seen else str(key))
            n += _set(getter(key), rest, value, path, seen + [step])
    return n


def get_setting(data: Any, path: str) -> list[Any]:
    """The values at ``path`` (several with wildcards; none where the path does not exist)."""
    out: list[Any] = []

    def walk(cur, toks):
        if not toks:
            out.append(cur)
            return
        tok, rest = toks[0], toks[1:]
        if tok in ("[*]", "[+]") and isinstance(cur, list):
            if tok == "[*]":
                for x in cur:
                    walk(x, rest)
        elif tok == "*" and isinstance(cur, dict):
            for x in cur.values():
                walk(x, rest)
        elif tok.startswith("[") and isinstance(cur, list):
            i = int(tok[1:-1])
            if i < len(cur):
                walk(cur[i], rest)
        elif isinstance(cur, dict) and tok in cur:
            walk(cur[tok], rest)

    walk(data, tokens(path))
    return out
