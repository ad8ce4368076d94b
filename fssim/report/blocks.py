"""The pieces a report section is made of: paragraphs, notes, tables, KPI cards, code, figures.

Each block has a ``kind`` naming the template macro that draws it (``templates/sections.html.j2``).
Text is plain: the template escapes it (autoescaping is on), so names from a config or a data file are
shown as text, never read as HTML.
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass, field

import plotly.graph_objects as go
import plotly.io as pio
from markupsafe import Markup


def script_json(obj) -> Markup:
    """JSON safe inside a ``<script>`` element: ``<``, ``>``, ``&`` and line separators are \\u-escaped,
    so neither ``</script>`` nor ``<!--`` can appear; ``JSON.parse`` and ``json.loads`` read it back unchanged."""
    text = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False, sort_keys=False)
    for ch, esc in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"), ("\u2028", "\\u2028"),
                    ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return Markup(text)


def plot_text(value) -> str:
    """A name shown inside a plotly figure: plotly reads a few HTML tags in labels, so escape them
    (plotly turns ``&lt;`` back into ``<`` when drawing)."""
    return html.escape(str(value), quote=False)


@dataclass
class Paragraph:
    text: str
    kind: str = "paragraph"


@dataclass
class Heading:
    text: str
    kind: str = "heading"


@dataclass
class Note:
    text: str
    tone: str = "info"   # info or warn
    kind: str = "note"


@dataclass
class Code:
    text: str
    kind: str = "code"


@dataclass
class Bullets:
    items: list[str]
    kind: str = "bullets"


@dataclass
class Downloads:
    """Files offered for download from the report itself: (label, file name, data: URI) each."""

    links: list[tuple[str, str, str]]
    kind: str = "downloads"


@dataclass
class Table:
    """Cells are preformatted strings (or lists of strings, drawn one per line); ``numeric`` columns are
    right-aligned."""

    columns: list[str]
    rows: list[list]
    title: str = ""
    numeric: tuple[int, ...] = ()
    note: str = ""
    number: int = 0
    css: str = ""
    kind: str = "table"


@dataclass
class Card:
    title: str
    value: str
    detail: str = ""
    status: str = ""        # pass, fail, uncertain, no_interval, missing or '' (no badge)
    status_label: str = ""
    extra: str = ""


@dataclass
class Cards:
    cards: list[Card]
    kind: str = "cards"


@dataclass
class Flow:
    """A left-to-right process diagram: main steps, and side exits under the step they leave from."""

    steps: list[tuple[str, str]]            # (title, detail)
    exits: dict[int, list[str]] = field(default_factory=dict)
    kind: str = "flow"


@dataclass
class Plot:
    """A plotly figure drawn into a div with a fixed id (no random uid: reports are reproducible)."""

    id: str
    figure: go.Figure
    caption: str
    title: str = ""
    height: int = 360
    number: int = 0
    kind: str = "plot"

    @property
    def json(self) -> Markup:
        return script_json(pio.to_json(self.figure, validate=False, remove_uids=True))


@dataclass
class Grid:
    """Blocks side by side (two columns on a wide screen)."""

    items: list
    kind: str = "grid"


@dataclass
class Section:
    """A numbered part of the report; ``blocks`` are drawn in order by the ``generic`` macro unless
    ``macro`` names a dedicated one."""

    id: str
    title: str
    blocks: list = field(default_factory=list)
    lead: str = ""
    macro: str = "generic"
    appendix: bool = False
    number: str = ""

    def flat(self):
        """Blocks in order, the items of grids included."""
        for b in self.blocks:
            yield from (b.items if isinstance(b, Grid) else [b])
