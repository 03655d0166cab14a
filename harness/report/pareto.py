"""The speed–accuracy map: one point per (implementation, backend, device, machine) of a
kernel, dtype and size, at x = time relative to NumPy on the same machine and y = correct
digits, with the Pareto front drawn.

Why one picture: the question the harness exists for is "which backend is fastest, and
how far does each drift from the truth?". On two separate heatmaps a backend that is
fast but wrong and one that is slower but exact look alike on the speed map. On this
map the front, the points no other point beats on both speed and accuracy, answers
"fastest among the accurate ones" at a glance and shows the price in accuracy of the
fastest. Only cases within their error bound can be on the front: out-of-bound, failed
and unjudged (unbounded) cases are marked and never on it, as in the speed advice.
"""
from __future__ import annotations

import itertools
import math
from collections import defaultdict
from typing import Any, Sequence

from .data import baseline_times, group, impl_label, is_failure, is_ok, latest, num, throughput_kind, verdict_of
from .html import Figures, attr, filter_attrs, fmt_size, fmt_time, page_file, text_esc as esc
from .style import Style
from .units import bound_cell, bound_kind, correct_digits, error_cell, fmt_digits, has_digits, rate_text

#: how a point is drawn, in the order of the legend; only "front" points are on the front.
STATES = ("front", "accurate", "unjudged", "out_of_bound", "failed")
STATE_TEXT = {"front": "on the Pareto front", "accurate": "within its bound",
              "unjudged": "not judged: no bound that can fail", "out_of_bound": "out of its error bound",
              "failed": "failed"}
LOG_AXIS = {"type": "log", "exponentformat": "power", "showgrid": True}


def pareto_front(points: Sequence[tuple[float, float]]) -> list[bool]:
    """Which (time ratio, digits) pairs no other pair beats: as fast or faster *and* as
    accurate or more, better in at least one. Equal pairs do not beat each other, so
    both stay on the front. Digits may be inf (exact). A 2-D sweep: sort by time, then
    a point is on the front iff it has more digits than every faster point."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    on = [False] * len(points)
    best = -math.inf
    for _, same in itertools.groupby(order, key=lambda i: points[i]):
        same = list(same)
        y = points[same[0]][1]
        if y > best:
            for i in same:
                on[i] = True
            best = y
    return on


def _state(r: dict[str, Any]) -> str:
    if is_failure(r):
        return "failed"
    v = verdict_of(r)
    return {"within": "accurate", "out_of_bound": "out_of_bound", "spec_error": "out_of_bound"}.get(v, "unjudged")


def device_short(device: str) -> str:
    """"opencl:Intel(R) OpenCL:AMD EPYC" -> "Intel(R) OpenCL": the platform tells two
    OpenCL devices of one CPU apart; other devices keep their name."""
    parts = str(device).split(":")
    return parts[1] if len(parts) >= 3 and parts[0] == "opencl" else str(device)


def map_points(recs: Sequence[dict[str, Any]], kernel: str, dtype: str, size: int,
               base: dict[tuple, float]) -> list[dict[str, Any]]:
    """One point per (implementation, backend, device, machine) at this kernel, dtype and
    size: x = time ÷ NumPy's on the same machine, y = correct digits (−log10 error), and
    its state; front points are the Pareto front of the accurate ones. Failed cases get
    0 digits (and x only if they were timed); cases without a NumPy time have x None."""
    pts = []
    rows = [r for r in latest(recs) if r["kernel"] == kernel and r["dtype"] == dtype and r["size"] == size
            and (is_ok(r) or is_failure(r))]
    for r in rows:
        b = base.get((r["machine_id"], kernel, dtype, size))
        t = num(r.get("time_median_s"))
        state = _state(r)
        pts.append({"key": "|".join((impl_label(r), r["backend"], r["device"], r["machine_id"])),
                    "label": impl_label(r), "backend": r["backend"], "device": r["device"],
                    "machine": r["machine_id"], "record": r, "state": state,
                    "x": t / b if (t and b) else None,
                    "y": 0.0 if state == "failed" else correct_digits(r.get("rel_error"))})
    eligible = [p for p in pts if p["state"] == "accurate" and p["x"] is not None and p["y"] is not None]
    for p, on in zip(eligible, pareto_front([(p["x"], p["y"]) for p in eligible])):
        if on:
            p["state"] = "front"
    return sorted(pts, key=lambda p: (STATES.index(p["state"]), p["x"] if p["x"] is not None else math.inf))


def default_size(recs: Sequence[dict[str, Any]]) -> int | None:
    """The largest size every machine measured (ok) for these records; without a common
    size, the one with the most measured points (the largest of those on a tie)."""
    ok = [r for r in recs if is_ok(r) and r["size"] is not None]
    if not ok:
        return None
    per_machine = [{r["size"] for r in rows} for rows in group(ok, "machine_id").values()]
    common = set.intersection(*per_machine)
    if common:
        return max(common)
    counts = defaultdict(int)
    for r in ok:
        counts[r["size"]] += 1
    return max(counts, key=lambda s: (counts[s], s))


def _symbol(p: dict[str, Any], style: Style) -> str:
    if p["state"] == "failed":
        return "x-thin-open"
    if p["state"] == "out_of_bound":
        return "x"
    base = style.symbol(p["machine"])
    return base + "-open" if p["state"] == "unjudged" else base


def _hover(p: dict[str, Any], name: str, metric: str, kind: str) -> str:
    r = p["record"]
    speed = "" if p["x"] is None else f"<br>{1 / p['x']:.3g}× NumPy's speed" if p["x"] > 0 else ""
    rate = rate_text(r, kind)
    err = ("" if p["state"] == "failed" else f"<br>error {error_cell(r.get('rel_error'), metric)}"
           f"<br>bound {bound_cell(r, metric)}")
    msg = f"<br>{esc(r['status'])}: {esc(str(r.get('message') or '')[:100])}" if p["state"] == "failed" else ""
    return (f"<b>{esc(name)}</b><br>n={fmt_size(r['size'])} · {esc(r['dtype'])}<br>{STATE_TEXT[p['state']]}"
            f"<br>time {fmt_time(num(r.get('time_median_s')))}{speed}" + (f"<br>{rate}" if rate else "") + err + msg)


def point_name(p: dict[str, Any], devices_shown: bool, machines_shown: bool) -> str:
    name = p["label"] + (f" ({device_short(p['device'])})" if devices_shown else "")
    return name + (f" @{p['machine']}" if machines_shown else "")


def _y_plotted(p: dict[str, Any], exact_y: float) -> float | None:
    return exact_y if p["y"] is not None and math.isinf(p["y"]) else p["y"]


def _bound_lines(pts: Sequence[dict[str, Any]], metric: str) -> list[tuple[str, float]]:
    """(kind, digits) of the loosest bound of each kind among the points: the digits the
    error model guarantees, drawn as a horizontal line in the units of the y axis."""
    loosest: dict[str, float] = {}
    for p in pts:
        b = num(p["record"].get("error_bound"))
        if b is None or b <= 0:
            continue
        kind = bound_kind(p["record"]) or "kind not recorded"
        loosest[kind] = max(b, loosest.get(kind, 0.0))
    return sorted(((k, correct_digits(b)) for k, b in loosest.items()), key=lambda kv: kv[1])


def map_figure(pts: Sequence[dict[str, Any]], style: Style, metric: str, kind: str, title: str,
               small: bool = False) -> dict[str, Any]:
    """The plotly figure of one map. Every point is its own trace (so the page's filters
    hide it by backend, dtype and machine); the front is one more trace whose customdata
    lists the front's point keys, fastest first."""
    shown = [p for p in pts if p["x"] is not None and p["y"] is not None]
    finite = [p["y"] for p in shown if not math.isinf(p["y"])]
    bounds = _bound_lines(shown, metric)
    exact_y = max(finite + [d for _, d in bounds] + [0.0]) + 1.0
    devices_shown = len({(p["label"], p["machine"], p["device"]) for p in pts}) > len({(p["label"], p["machine"]) for p in pts})
    machines_shown = len({p["machine"] for p in pts}) > 1
    data, in_legend = [], set()
    for p in shown:
        r, name = p["record"], point_name(p, devices_shown, machines_shown)
        entry = point_name(p, devices_shown, False)  # one legend entry per implementation; machines by marker
        data.append({"type": "scatter", "mode": "markers", "x": [p["x"]], "y": [_y_plotted(p, exact_y)],
                     "name": esc(entry), "legendgroup": esc(entry), "showlegend": not small and entry not in in_legend,
                     "text": [_hover(p, name, metric, kind)], "hovertemplate": "%{text}<extra></extra>",
                     "marker": {"color": style.color(p["label"]), "symbol": _symbol(p, style),
                                "size": 7 if small else 11, "line": {"width": 1.5, "color": style.color(p["label"])}},
                     "meta": {"backend": p["backend"], "dtype": r["dtype"], "machine": p["machine"],
                              "key": p["key"], "state": p["state"]}})
        in_legend.add(entry)
    front = sorted((p for p in shown if p["state"] == "front"), key=lambda p: p["x"])
    if front:
        data.append({"type": "scatter", "mode": "lines+markers", "line": {"shape": "hv", "color": "#222", "width": 1.5},
                     "x": [p["x"] for p in front], "y": [_y_plotted(p, exact_y) for p in front],
                     "customdata": [p["key"] for p in front], "name": "Pareto front", "showlegend": not small,
                     "marker": {"symbol": "circle-open", "size": 14 if not small else 10, "color": "#222"},
                     "hoverinfo": "skip", "meta": {"role": "front"}})
    xs = [p["x"] for p in shown] or [1.0]
    lo, hi = min(xs + [1.0]), max(xs + [1.0])
    for k, d in bounds:
        promise = f"≥ {fmt_digits(d)} digits" if has_digits(metric) else f"≤ {10 ** -d:.2g}"
        data.append({"type": "scatter", "mode": "lines", "x": [lo, hi], "y": [d, d], "showlegend": not small,
                     "name": esc(f"bound ({k.replace('_', ' ')}): {promise}"),
                     "line": {"color": "#b42318", "dash": "dash", "width": 1},
                     "hovertemplate": esc(f"bound ({k.replace('_', ' ')}): {promise}") + "<extra></extra>"})
    has_exact = any(p["y"] is not None and math.isinf(p["y"]) for p in shown)
    layout = _map_layout(title, metric, exact_y if has_exact else None, small)
    # Small multiples have no toolbar: it would cover the points; the kernel page has the full map.
    return {"data": data, "layout": layout, **({"config": {"displayModeBar": False}} if small else {})}


def _map_layout(title: str, metric: str, exact_y: float | None, small: bool) -> dict[str, Any]:
    """Axes of a map: log time ratio with NumPy's line at 1, digits up; the legend below
    the plot, where it covers no point at any width; "exact" marked where exact points sit."""
    ylabel = "correct digits (−log10 rel_error)" if has_digits(metric) else "−log10 mismatch fraction"
    layout = {"title": {"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 12 if small else 15}},
              "xaxis": {**LOG_AXIS, "title": {"text": "time ÷ NumPy's (log; left is faster)" if not small else ""}},
              "yaxis": {"title": {"text": ylabel if not small else ylabel.split(" (")[0]}, "zeroline": False},
              "shapes": [{"type": "line", "xref": "x", "yref": "paper", "x0": 1, "x1": 1, "y0": 0, "y1": 1,
                          "line": {"color": "#999", "dash": "dot", "width": 1}}],
              "annotations": ([{"xref": "paper", "x": 1, "xanchor": "right", "y": exact_y, "yanchor": "bottom",
                                "text": "exact (error 0)", "showarrow": False, "font": {"size": 10, "color": "#666"}}]
                              if exact_y is not None else []),
              "margin": {"l": 45 if small else 70, "r": 10, "t": 30 if small else 50, "b": 30 if small else 50},
              "hovermode": "closest", "showlegend": not small,
              "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": -0.2, "yanchor": "top",
                         "font": {"size": 11}}}
    return layout


def _front_of(pts: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Pareto front of the accurate points among `pts` (one machine's, say), fastest first."""
    ok = [p for p in pts if p["state"] in ("front", "accurate") and p["x"] is not None and p["y"] is not None]
    return sorted((p for p, on in zip(ok, pareto_front([(p["x"], p["y"]) for p in ok])) if on),
                  key=lambda p: p["x"])


def _accuracy_word(y: float, metric: str) -> str:
    """Correct digits as a whole number ("7"), "exact results", or for a mismatch metric
    the fraction of wrong outputs, 10^−y."""
    if math.isinf(y):
        return "exact results"
    if not has_digits(metric):
        return f"{10 ** -y:.2g} mismatches"
    return f"{int(math.floor(max(y, 0.0)))}"


def advice_sentence(kernel: str, dtype: str, size: int, pts: Sequence[dict[str, Any]], names: dict[str, str],
                    metric: str = "normwise") -> str:
    """One machine's answer in words, e.g. "sum, float32, n=1M: torch is 5× faster than
    NumPy with the same 7 correct digits; opencl (Intel(R) OpenCL) is 1.3× faster with 8."
    From the front of the accurate cases only (fastest first): a case out of its bound,
    failed or unjudged is never advised, and the sentence says how many were left out.
    A slower front point is named only if it gains a whole digit on the one before."""
    front = _front_of(pts)
    head = f"{kernel}, {dtype}, n={fmt_size(size)}: "
    if not front:
        return head + "no case within its error bound was measured against NumPy."
    numpy_pt = next((p for p in pts if p["label"] == "numpy" and p["state"] in ("front", "accurate")), None)
    d0 = None if numpy_pt is None or numpy_pt["y"] is None else _accuracy_word(numpy_pt["y"], metric)
    clauses, last = [], None
    for p in front:
        word = _accuracy_word(p["y"], metric)
        if word == last or len(clauses) == 3:
            continue
        first, last = not clauses, word
        same = "the same " if (d0 == word and p is not numpy_pt) else ""
        digits = f"{same}{word}" + (" correct digits" if first and word.isdigit() else "")
        if p is numpy_pt:
            clauses.append(f"NumPy itself has {digits}")
            continue
        ratio = 1 / p["x"] if p["x"] <= 1 else p["x"]
        how = (f"{ratio:.2g}× {'faster' if p['x'] <= 1 else 'slower'}" if ratio >= 1.05 else "as fast") + (
            (" than NumPy" if ratio >= 1.05 else " as NumPy") if first else "")
        clauses.append(f"{names.get(p['key'], p['label'])} is {how} with {digits}")
    left = sum(1 for p in pts if p["state"] in ("out_of_bound", "failed", "unjudged"))
    tail = f" ({left} case(s) out of bound, failed or unjudged left out)" if left else ""
    return head + "; ".join(clauses) + "." + tail


def _left_out_note(pts: Sequence[dict[str, Any]]) -> str:
    """What the map cannot draw: failed cases that were never timed, cases without a NumPy time."""
    missing = [p for p in pts if p["x"] is None or p["y"] is None]
    if not missing:
        return ""
    items = ", ".join(f"{p['label']} @{p['machine']} ({'failed: ' + p['record']['status'] if p['state'] == 'failed' else 'no NumPy time or no error'})"
                      for p in missing)
    return f'<p class="note">Not drawn: {esc(items)}.</p>'


def _names(pts: Sequence[dict[str, Any]], machines_shown: bool = False) -> dict[str, str]:
    devices_shown = len({(p["label"], p["machine"], p["device"]) for p in pts}) > len({(p["label"], p["machine"]) for p in pts})
    return {p["key"]: point_name(p, devices_shown, machines_shown) for p in pts}


def map_section(kernel: str, recs: Sequence[dict[str, Any]], style: Style, figs: Figures, metric: str) -> str:
    """The kernel page's section: per dtype, a map per size behind a size selector that
    starts at the largest size measured everywhere, with one sentence per machine."""
    base = baseline_times(recs)
    kind = throughput_kind([r for r in recs if is_ok(r)])
    blocks = []
    for (dtype,), rows in sorted(group(recs, "dtype").items()):
        sizes = sorted({r["size"] for r in rows if is_ok(r) and r["size"] is not None})
        default = default_size(rows)
        if not sizes:
            continue
        gid = f"map-{dtype}"
        panels = []
        for s in sizes:
            pts = map_points(rows, kernel, dtype, s, base)
            fig = map_figure(pts, style, metric, kind, f"{esc(kernel)} · {esc(dtype)} · n = {fmt_size(s)}")
            names = _names(pts)
            lines = "".join(f'<li {filter_attrs(machine=m)}>{esc(m)}: {esc(advice_sentence(kernel, dtype, s, mp, names, metric))}</li>'
                            for (m,), mp in sorted(group(pts, "machine").items()))
            panels.append(f'<div data-switch-group="{attr(gid)}" data-switch-value="{s}">{figs.add(fig, 560)}'
                          f'{_left_out_note(pts)}<ul class="advice">{lines}</ul></div>')
        options = "".join(f'<option value="{s}"{" selected" if s == default else ""}>n = {fmt_size(s)}</option>'
                          for s in sizes)
        blocks.append(f'<div class="panel" {filter_attrs(dtype=dtype)}><label>{esc(dtype)} at size '
                      f'<select data-switch="{attr(gid)}">{options}</select></label>{"".join(panels)}</div>')
    if not blocks:
        return ""
    return ('<h2 id="speed-accuracy">Speed against accuracy</h2><p class="lead">One point per implementation, device '
            'and machine: x is the time per call divided by NumPy\'s on the same machine (log scale, left is faster), '
            'y the correct decimal digits, −log10 of the error. The black staircase is the Pareto front: the cases no '
            'other case beats on both speed and accuracy, among those within their error bound. ✕ marks a case out of '
            'its bound, ✕ (thin) a failed case at 0 digits, an open marker a case without a bound that can fail; none '
            'of them is ever on the front. The red dashed line is the bound in the same digits, with its kind. The size '
            'selector starts at the largest size every machine measured.</p>'
            + _key_html(style, [], sorted({r["machine_id"] for r in recs}))
            + f'<div class="grid">{"".join(blocks)}</div>')


def _key_html(style: Style, labels: Sequence[str], machines: Sequence[str]) -> str:
    """The shared legend of the small multiples, in HTML: colour per implementation,
    marker per machine, the marks of the states."""
    glyph = {"circle": "●", "square": "■", "diamond": "◆", "triangle-up": "▲", "x": "✕", "star": "★",
             "cross": "✚", "pentagon": "⬟"}
    cols = "".join(f'<span class="key"><span style="color:{attr(style.color(l))}">●</span> {esc(l)}</span>'
                   for l in labels)
    syms = "".join(f'<span class="key" {filter_attrs(machine=m)}>{glyph.get(style.symbol(m), "●")} {esc(m)}</span>'
                   for m in machines)
    marks = ('<span class="key">◯ on the Pareto front (black staircase)</span><span class="key">✕ out of bound</span>'
             '<span class="key">open marker: not judged</span><span class="key">thin ✕ at 0: failed</span>')
    return (f'<p class="mapkey">{cols}</p>' if cols else "") + f'<p class="mapkey">{syms}{marks}</p>'


def index_section(recs: Sequence[dict[str, Any]], figs: Figures) -> str:
    """The index's answer at a glance: one sentence per kernel, machine and dtype, then a
    small map per kernel and dtype at the largest size measured everywhere."""
    recs = latest(recs)
    style = Style((impl_label(r) for r in recs), {r["machine_id"] for r in recs})
    machines = sorted({r["machine_id"] for r in recs})
    many = len(machines) > 1
    advice, grids = [], []
    for (dtype,), rows in sorted(group(recs, "dtype").items()):
        cells = []
        for (kernel,), krows in sorted(group(rows, "kernel").items()):
            base, kind = baseline_times(krows), throughput_kind([r for r in krows if is_ok(r)])
            metric = next((str(r["error_model"].get("metric")) for r in krows if isinstance(r.get("error_model"), dict)), "")
            size = default_size(krows)
            if size is None:
                continue
            pts = map_points(krows, kernel, dtype, size, base)
            fig = map_figure(pts, style, metric, kind, "", small=True)
            cells.append(f'<div class="panel" {filter_attrs(dtype=dtype)}><a href="{attr(page_file(kernel))}#speed-accuracy">'
                         f'{esc(kernel)}</a> <span class="muted">{esc(dtype)} · n={fmt_size(size)}</span>'
                         f'{figs.add(fig, 230, cls="plot small")}</div>')
            for (m,), mrows in sorted(group(krows, "machine_id").items()):
                msize = default_size(mrows)
                if msize is None:
                    continue
                mpts = [p for p in map_points(krows, kernel, dtype, msize, base) if p["machine"] == m]
                sentence = advice_sentence(kernel, dtype, msize, mpts, _names(mpts), metric)
                advice.append(f'<li {filter_attrs(machine=m, dtype=dtype)}>{esc(m) + ": " if many else ""}{esc(sentence)}</li>')
        grids.append(f'<h3 {filter_attrs(dtype=dtype)}>{esc(dtype)}</h3><div class="maps">{"".join(cells)}</div>')
    labels = sorted({impl_label(r) for r in recs if is_ok(r)}, key=lambda s: (not s.startswith("numpy"), s))
    return ('<h2 id="at-a-glance">At a glance: fastest among the accurate</h2><p class="lead">One speed–accuracy map '
            'per kernel and dtype, at the largest size every machine measured: x is the time per call ÷ NumPy\'s on the '
            'same machine (log, left is faster), y the correct digits (−log10 of the error); the black staircase is the '
            'Pareto front of the cases within their error bound. The kernel pages have every size. Below the maps, one '
            'sentence per kernel, dtype and machine, from the same front.</p>'
            + _key_html(style, labels, machines) + "".join(grids)
            + f'<h3>Advice</h3><details open><summary>{len(advice)} line(s)</summary>'
            f'<ul class="advice">{"".join(advice)}</ul></details>')
