"""HTML building blocks. Every string that comes from results, plugins or machines goes
through `esc` (HTML) or `safe_json` (JSON inside <script>), so a kernel named
`<script>…</script>` is shown as text and never run."""
from __future__ import annotations

import hashlib
import html
import json
import re
from typing import Any, Iterable, Sequence

import numpy as np

from ..record import to_json_safe
from ..units import format_seconds

FILTER_DIMS = ("backend", "dtype", "machine")

# No inline script runs: data travels in <script type="application/json"> blocks and
# the only executable code is the site's own files under assets/.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; font-src 'self' data:; connect-src 'none'")


def esc(value: Any) -> str:
    """For attribute values and text alike."""
    return html.escape("" if value is None else str(value), quote=True)


attr = esc


def text_esc(value: Any) -> str:
    """For element text and plotly labels (plotly decodes &lt; &gt; &amp; but shows &quot; raw);
    quotes are harmless outside attribute values."""
    return html.escape("" if value is None else str(value), quote=False)


def safe_json(obj: Any) -> str:
    """JSON that cannot end its <script> element or open a comment inside it."""
    text = json.dumps(to_json_safe(obj), separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def json_block(element_id: str, obj: Any) -> str:
    return f'<script type="application/json" id="{esc(element_id)}">{safe_json(obj)}</script>'


def page_file(kernel: str) -> str:
    """A safe file name for a kernel's page; names outside [A-Za-z0-9_.-] get a hash suffix."""
    if re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,80}", kernel):
        return f"kernel-{kernel}.html"
    slug = re.sub(r"[^A-Za-z0-9]+", "-", kernel).strip("-")[:40] or "kernel"
    return f"kernel-{slug}-{hashlib.sha256(kernel.encode()).hexdigest()[:10]}.html"


def filter_attrs(**dims: Any) -> str:
    """Attributes that let the client-side filters hide an element."""
    parts = ["data-f"]
    for d in FILTER_DIMS:
        if dims.get(d) is not None:
            parts.append(f'data-f-{d}="{esc(dims[d])}"')
    return " ".join(parts)


def filter_bar(values: dict[str, Iterable[str]]) -> str:
    groups = []
    for dim in FILTER_DIMS:
        vals = sorted(set(values.get(dim, ())))
        if not vals:
            continue
        boxes = "".join(
            f'<label><input type="checkbox" data-dim="{dim}" value="{esc(v)}" checked> {esc(v)}</label>'
            for v in vals)
        groups.append(f'<fieldset><legend>{dim}</legend>{boxes}'
                      f'<button type="button" class="all" data-dim="{dim}">all</button>'
                      f'<button type="button" class="none" data-dim="{dim}">none</button></fieldset>')
    return (f'<form class="filters" id="filters">{"".join(groups)}'
            f'<span class="filter-note">Filters run in your browser: they hide lines, rows and panels.</span></form>')


def table(columns: Sequence[str], rows: Iterable[tuple[Sequence[str], str]], cls: str = "data") -> str:
    """rows: (cells as ready HTML, attributes of the <tr>)."""
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join(f"<tr {attrs}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>" for cells, attrs in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


class Figures:
    """Collects plotly figures of one page; each becomes a <div> plus a JSON block."""

    def __init__(self) -> None:
        self.blocks: list[str] = []

    def add(self, fig: dict[str, Any], height: int = 420, cls: str = "plot") -> str:
        fid = f"fig-{len(self.blocks)}"
        fig.setdefault("layout", {}).setdefault("height", height)
        self.blocks.append(json_block(fid, fig))
        return f'<div class="{cls}" data-fig="{fid}" style="min-height:{height}px"></div>'


def page(title: str, body: str, figures: Figures, filters: str = "", nav: str = "") -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<link rel="stylesheet" href="assets/report.css">
</head>
<body>
<header><nav><a href="index.html">kernel-harness report</a>{nav}</nav>{filters}</header>
<main>
{body}
</main>
{"".join(figures.blocks)}
<script src="assets/plotly.min.js"></script>
<script src="assets/report.js"></script>
</body>
</html>
"""


def fmt_time(v: float | None) -> str:
    return format_seconds(v, missing="–")


def fmt(v: float | None, spec: str = ".3g") -> str:
    return "–" if v is None else format(v, spec)


def fmt_na(v: Any, spec: str = ".3g") -> str:
    """Like `fmt`, but missing values (None, NaN, pandas NA) read "n/a": a field older
    records never had, not a measured nothing."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return '<span class="muted">n/a</span>'
    return '<span class="muted">n/a</span>' if f != f else format(f, spec)


def fmt_bitwise(v: Any) -> str:
    """✓ / ✗ for bitwise-equal outputs, n/a where a record has no output hash."""
    if isinstance(v, (bool, np.bool_)):
        return '<span class="good">✓</span>' if bool(v) else '<span class="bad">✗</span>'
    return '<span class="muted">n/a</span>'


def fmt_size(n: float | None) -> str:
    if n is None:
        return "–"
    n = float(n)
    for suffix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{int(n / scale)}{suffix}" if n / scale == int(n / scale) else f"{n / scale:.3g}{suffix}"
    return f"{n:.4g}"
