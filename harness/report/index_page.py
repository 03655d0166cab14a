"""The index page: machines and runs, the kernel × backend heatmaps of speed and error,
and links to every kernel page."""
from __future__ import annotations

import math
import os
from collections import Counter, defaultdict
from typing import Any

from .data import (BASELINE_BACKEND, ResultSet, baseline_times, group, impl_label, is_failure, is_ok, is_trusted,
                   latest, num, verdict_counts, verdict_of)
from .html import (Figures, attr, text_esc as esc, filter_attrs, filter_bar, fmt, fmt_na, fmt_size, fmt_time, page,
                   page_file, table)
from .machine_compare import kernel_summary, pair_cases, records_frame
from .pareto import index_section
from .style import ERROR_SCALE, ERROR_ZMAX, ERROR_ZMIN, SPEED_SCALE


def _gib(v: Any) -> str:
    n = num(v)
    return "–" if n is None else f"{n / 2**30:.1f} GiB"


def _devices_text(machine: dict[str, Any]) -> str:
    devs = machine.get("devices") if isinstance(machine, dict) else None
    if not isinstance(devs, dict):
        return ""
    out = []
    for backend, lst in devs.items():
        for d in lst if isinstance(lst, list) else []:
            if isinstance(d, dict):
                out.append(f"{backend}: {d.get('device', '')}")
    return "; ".join(out)



def cpu_text(m: dict) -> str:
    """The CPU as the fingerprint sees it: name, microarchitecture or family/model, and the
    ISA features that change speed or rounding (older records: the name alone)."""
    core = m.get("microarchitecture") or (
        f"family {m['family']} model {m['model']}" if m.get("family") is not None else "")
    isa = ", ".join(x for x in (m.get("isa") or []) if x in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile",
                                                              "sve", "asimd"))
    extra = "; ".join(x for x in (core, isa) if x)
    return f"{m.get('cpu', '')} ({extra})" if extra else str(m.get("cpu", ""))


def machines_section(rs: ResultSet) -> str:
    info = rs.machine_info()
    runs_by_machine: dict[str, list] = defaultdict(list)
    for run in rs.runs:
        runs_by_machine[str(run.header.get("machine_id"))].append(run)
    rows = []
    for mid in rs.machines:
        m = info.get(mid, {})
        stats = rs.machine_stats.get(mid, {})
        runs = runs_by_machine.get(mid, [])
        commits = stats.get("commits", [])
        last = max((str(r.header.get("started") or "") for r in runs), default="")
        gpus = ", ".join(str(g.get("name")) for g in (m.get("gpus") or []) if isinstance(g, dict)) or "none"
        cores = f"{m.get('cores_physical', '?')} phys / {m.get('cores_logical', '?')} logical"
        libs = m.get("libraries") if isinstance(m.get("libraries"), dict) else {}
        libtxt = ", ".join(f"{k} {v}" for k, v in libs.items() if k in ("numpy", "torch", "pyopencl", "cupy-cuda12x", "cupy"))
        rows.append(([esc(mid), esc(cpu_text(m)), esc(cores), esc(_gib(m.get("memory_bytes"))), esc(m.get("os", "")),
                      esc(gpus), f'<span class="mono">{esc(_devices_text(m))}</span>', esc(libtxt),
                      str(len(runs)), f"{stats.get('records', 0)} ({stats.get('ok', 0)} ok)", esc(last), esc(", ".join(commits))],
                     filter_attrs(machine=mid)))
    t = table(["machine", "CPU (family/model, ISA)", "cores", "memory", "OS", "GPUs", "devices", "libraries", "runs", "records",
               "last run", "commits"], rows)
    run_rows = []
    for run in sorted(rs.runs, key=lambda r: str(r.header.get("started") or ""), reverse=True):
        h = run.header
        run_rows.append(([esc(h.get("run_id")), esc(h.get("machine_id")), esc(str(h.get("commit") or "")[:12]),
                          esc(h.get("started")), esc(h.get("preset", "")), str(run.n_records),
                          f'<span class="mono">{esc(os.path.basename(run.path))}</span>'],
                         filter_attrs(machine=str(h.get("machine_id")))))
    runs = table(["run", "machine", "commit", "started", "preset", "records", "file"], run_rows)
    return (f"<h2>Machines</h2>{t}<details><summary>{len(rs.runs)} run(s)</summary>{runs}</details>"
            + reproducibility_table(latest(rs.records)))


def reproducibility_table(recs: list[dict[str, Any]]) -> str:
    """Per kernel and pair of machines: are the outputs of equal inputs bitwise equal, and
    if not, by how much do the sampled entries differ. Empty with fewer than two machines."""
    summary = kernel_summary(pair_cases(records_frame([r for r in recs if is_ok(r)])))
    summary = summary[summary["kind"] == "machines"]
    if summary.empty:
        return ""
    rows = []
    for s in summary.itertuples(index=False):
        known = s.n_pairs - s.n_unknown
        verdict = ('<span class="muted">n/a</span>' if known == 0 else
                   '<span class="good">✓ reproducible</span>' if s.bitwise_reproducible else
                   f'<span class="bad">✗ {known - s.n_bitwise_equal} differ</span>')
        rows.append(([f'<a href="{attr(page_file(s.kernel))}">{esc(s.kernel)}</a>', esc(s.machine_a), esc(s.machine_b),
                      verdict, f"{s.n_bitwise_equal} / {known}" + (f" ({s.n_unknown} n/a)" if s.n_unknown else ""),
                      fmt_na(s.max_sample_rel_diff), fmt_na(s.max_abs_d_rel_error), fmt_na(s.median_time_ratio)], ""))
    t = table(["kernel", "machine a", "machine b", "bitwise", "equal / pairs", "max rel diff (sampled)",
               "max |Δ rel_error|", "median time b/a"], rows)
    return ('<h3>Bitwise reproducibility across machines</h3><p class="lead">Cases whose inputs were bitwise equal '
            '(<code>inputs_sha256</code>) on two machines, same implementation: how many outputs were bitwise equal '
            '(<code>output_sha256</code>), the largest |a−b| / max(|reference|, tiny) over the stored output entries '
            '(<code>output_sample</code>), and the change in error. Kernel pages list every pair, and backend pairs '
            f'on one machine.</p>{t}')


def _largest_common(per_size: dict[int, float]) -> int | None:
    return max(per_size) if per_size else None


def _heatmap_panels(recs: list[dict[str, Any]], figs: Figures, cell, style: dict[str, Any], title: str) -> str:
    """One kernel × implementation heatmap per machine and dtype. `cell(k, label, cases,
    mid, dtype)` gives (z, text, hover) for one cell; `style` the colour scale and bar."""
    panels = []
    for (mid, dtype), rows in sorted(group(recs, "machine_id", "dtype").items()):
        kernels = sorted({r["kernel"] for r in rows})
        labels = sorted({impl_label(r) for r in rows if r["status"] != "skipped"},
                        key=lambda s: (not s.startswith("numpy"), s))
        if not kernels or not labels:
            continue
        z, text, hover = [], [], []
        for k in kernels:
            cells = [cell(k, lab, [r for r in rows if r["kernel"] == k and impl_label(r) == lab], mid, dtype)
                     for lab in labels]
            z.append([c[0] for c in cells])
            text.append([c[1] for c in cells])
            hover.append([c[2] for c in cells])
        grey = _grey_layer(z, labels, kernels)
        fig = {"data": grey + [{
            "type": "heatmap", "x": [esc(l) for l in labels], "y": [esc(k) for k in kernels], "z": z,
            "text": text, "texttemplate": "%{text}", "customdata": hover, "hovertemplate": "%{customdata}<extra></extra>",
            "xgap": 2, "ygap": 2, **style,
            "meta": {"axes": {"x": [{"backend": l.split(":")[0]} for l in labels], "y": [None] * len(kernels)}},
        }], "layout": {"title": {"text": f"{esc(mid)} · {esc(dtype)}: {title}", "x": 0.01, "xanchor": "left", "font": {"size": 14}},
                       "margin": {"l": 110, "r": 20, "t": 50, "b": 80}, "xaxis": {"side": "bottom"},
                       "yaxis": {"autorange": "reversed"}}}
        panels.append(f'<div class="panel" {filter_attrs(machine=mid, dtype=dtype)}>'
                      f'{figs.add(fig, height=120 + 45 * len(kernels))}</div>')
    return f'<div class="grid">{"".join(panels)}</div>'


#: a heatmap cell whose bound cannot fail: drawn grey, never on the green-to-red scale.
UNBOUNDED = "unbounded"
UNBOUNDED_GREY = "#bdbdbd"


def _grey_layer(z: list[list], labels: list[str], kernels: list[str]) -> list[dict[str, Any]]:
    """Replace UNBOUNDED cells in z by None and return a grey heatmap trace under them."""
    mask = [[1 if v == UNBOUNDED else None for v in row] for row in z]
    for row in z:
        row[:] = [None if v == UNBOUNDED else v for v in row]
    if not any(v for row in mask for v in row):
        return []
    return [{"type": "heatmap", "x": [esc(l) for l in labels], "y": [esc(k) for k in kernels], "z": mask,
             "colorscale": [[0, UNBOUNDED_GREY], [1, UNBOUNDED_GREY]], "showscale": False,
             "hoverinfo": "skip", "xgap": 2, "ygap": 2, "name": "unbounded"}]


def speed_heatmaps(rs: ResultSet, recs: list[dict[str, Any]], figs: Figures) -> str:
    base = baseline_times(recs)

    def cell(k, lab, cases, mid, dtype):
        ratios = {}
        for r in cases:
            b = base.get((mid, k, dtype, r["size"]))
            if is_ok(r) and b:
                ratios[r["size"]] = min(ratios.get(r["size"], math.inf), float(r["time_median_s"])) / b
        fails = [r for r in cases if is_failure(r)]
        if ratios:
            n = _largest_common(ratios)
            speedup = 1 / ratios[n]
            per = "<br>".join(f"n={fmt_size(s)}: {1 / q:.3g}×" for s, q in sorted(ratios.items()))
            return (math.log10(speedup), f"{speedup:.2g}×" + (" ⚠" if fails else ""),
                    f"{esc(k)} · {esc(lab)}<br>speed vs NumPy (n={fmt_size(n)}): {speedup:.3g}×<br>{per}"
                    + (f"<br>{len(fails)} failed case(s)" if fails else ""))
        if fails:
            return (None, f"FAIL: {esc(fails[0]['status'])}",
                    f"{esc(k)} · {esc(lab)}: {esc(fails[0]['status'])}: {esc(str(fails[0].get('message', ''))[:120])}")
        return None, "", f"{esc(k)} · {esc(lab)}: not measured"

    style = {"colorscale": SPEED_SCALE, "zmin": -1, "zmax": 1,
             "colorbar": {"title": {"text": "speed vs NumPy"}, "tickvals": [-1, -0.5, 0, 0.5, 1],
                          "ticktext": ["10× slower", "3× slower", "same", "3× faster", "10× faster"]}}
    return ('<h2>Speed relative to NumPy</h2><p class="lead">NumPy time ÷ backend time on the same machine, dtype and '
            'size, at the largest size both measured (hover for every size). Blue: faster than NumPy; red: slower. '
            '⚠ marks a backend with failed cases.</p>'
            + _heatmap_panels(recs, figs, cell, style, "speed relative to NumPy (largest size)"))


def error_heatmaps(recs: list[dict[str, Any]], figs: Figures) -> str:
    def cell(k, lab, cases, mid, dtype):
        fails = [r for r in cases if is_failure(r)]
        ratios = [(num(r.get("error_ratio")), r) for r in cases if verdict_of(r) in ("within", "out_of_bound")]
        ratios = [(q, r) for q, r in ratios if q is not None]
        unb = [r for r in cases if verdict_of(r) in ("unbounded", "spec_error")]
        if fails:
            return (ERROR_ZMAX, f"FAIL {esc(fails[0]['status'])}",
                    f"{esc(k)} · {esc(lab)}: {len(fails)} failed: {esc(fails[0]['status'])} "
                    f"(n={fmt_size(fails[0]['size'])}): {esc(str(fails[0].get('message', ''))[:120])}")
        if ratios:
            worst, wr = max(ratios, key=lambda t: t[0])
            per = "<br>".join(f"n={fmt_size(r['size'])}: {q:.3g}" for q, r in sorted(ratios, key=lambda t: t[1]["size"]))
            return (max(ERROR_ZMIN, min(ERROR_ZMAX, math.log10(worst))) if worst > 0 else ERROR_ZMIN,
                    ("✗ " if worst > 1 else "") + (f"{worst:.2g}" if worst > 0 else "0"),
                    f"{esc(k)} · {esc(lab)}<br>worst error/bound: {worst:.3g} (n={fmt_size(wr['size'])}, "
                    f"{esc(wr.get('bound_kind') or 'bound')})<br>{per}" + _unbounded_note(unb))
        if unb:
            return (UNBOUNDED, f"∅ {len(unb)}", f"{esc(k)} · {esc(lab)}: no bound that can fail" + _unbounded_note(unb))
        return None, "", f"{esc(k)} · {esc(lab)}: not measured"

    style = {"colorscale": ERROR_SCALE, "zmin": ERROR_ZMIN, "zmax": ERROR_ZMAX,
             "colorbar": {"title": {"text": "error / bound"}, "tickvals": [-3, -2, -1, 0, 1],
                          "ticktext": ["0.001", "0.01", "0.1", "1 (bound)", "≥10 / fail"]}}
    return ('<h2>Numerical divergence: error relative to the bound</h2><p class="lead">The worst '
            '<code>error_ratio</code> (measured error ÷ theoretical bound) over all sizes. Green: well inside the bound; '
            'red with ✗: over it; FAIL: the case errored, produced NaN, invalid output, ran out of memory or timed out; '
            f'<span style="background:{UNBOUNDED_GREY}">grey ∅</span>: unbounded, the bound cannot fail '
            '(infinite, or a relative bound ≥ 1 that zeros would meet), so the case is not a pass.</p>'
            + _heatmap_panels(recs, figs, cell, style, "worst error ÷ theoretical bound"))


def _unbounded_note(unb: list[dict[str, Any]]) -> str:
    if not unb:
        return ""
    r = unb[0]
    return (f"<br>{len(unb)} unbounded / spec error (n={fmt_size(r['size'])}: "
            f"{esc(str(r.get('verdict_reason') or '')[:120])})")


def kernel_list(rs: ResultSet, recs: list[dict[str, Any]]) -> str:
    items = []
    by_kernel = group(recs, "kernel")
    for k in rs.kernels:
        rows = by_kernel.get((k,), [])
        st = Counter(r["status"] for r in rows)
        vc = verdict_counts(rows)
        over, unb = vc["out_of_bound"] + vc["spec_error"], vc["unbounded"]
        fails = sum(v for s, v in st.items() if s not in ("ok", "skipped"))
        labels = sorted({impl_label(r) for r in rows if r["status"] == "ok"})
        badges = (f'<span class="badge good">{st.get("ok", 0)} ok</span>'
                  + (f'<span class="badge bad">{fails} failed</span>' if fails else "")
                  + (f'<span class="badge bad">{over} over bound</span>' if over else "")
                  + (f'<span class="badge muted">{unb} unbounded</span>' if unb else "")
                  + (f'<span class="badge">{st["skipped"]} skipped</span>' if st.get("skipped") else ""))
        base = baseline_times(rows)
        fastest = []
        for (mid, dtype), cases in sorted(group([r for r in rows if is_trusted(r)], "machine_id", "dtype").items()):
            n = max(r["size"] for r in cases)
            best = min((r for r in cases if r["size"] == n), key=lambda r: float(r["time_median_s"]))
            b = base.get((mid, k, dtype, n))
            sp = speed_note(best, b)
            where = f" @{mid}" if len(rs.machines) > 1 else ""
            fastest.append(f'<span {filter_attrs(machine=mid, dtype=dtype)}>{esc(dtype)}{esc(where)}, n={fmt_size(n)}: '
                           f'<b>{esc(impl_label(best))}</b>{sp}<br></span>')
        items.append(f'<li><a href="{attr(page_file(k))}">{esc(k)}</a> {badges}'
                     f'<br><span class="muted">{esc(", ".join(labels))}</span>'
                     f'<br><span class="fastest">fastest at the largest size{_left_out(fails, over)}:<br>'
                     f'{"".join(fastest)}</span></li>')
    legend = ('<p class="note">Labels: <code>torch</code> is a backend\'s own, hand-written implementation; '
              '<code>torch:array_api</code> the generic one (one Array API expression, the same on every backend), other '
              '<code>backend:name</code> labels hand-written variants; each kernel page lists which is which, and why.</p>')
    return f'<h2>Kernels</h2>{legend}<ul class="kernels">{"".join(items)}</ul>'


def speed_note(best: dict, baseline_s: float | None) -> str:
    """' (the baseline)' only for the case the baseline time is taken from (NumPy's own
    implementation where it ran); any other one, NumPy's array_api included, gets its
    speed-up over that baseline."""
    t = float(best["time_median_s"])
    if best["backend"] == BASELINE_BACKEND and baseline_s == t:
        return " (the baseline)"
    return f" ({baseline_s / t:.2g}× NumPy)" if baseline_s else ""


def _left_out(fails: int, over: int) -> str:
    """Say what the speed advice leaves out, so a missing backend is not read as slow."""
    if not fails and not over:
        return ""
    return f" (leaving out {fails} failed and {over} out-of-bound case(s))"


def build_index(rs: ResultSet) -> str:
    figs = Figures()
    recs = latest(rs.records)
    st = Counter(r["status"] for r in recs)
    vc = verdict_counts(recs)
    over, unb = vc["out_of_bound"] + vc["spec_error"], vc["unbounded"]
    fails = sum(v for s, v in st.items() if s not in ("ok", "skipped"))
    summary = (f'<p class="lead">{rs.n_records} records ({len(recs)} distinct cases per machine) from {len(rs.runs)} '
               f'run(s) on {len(rs.machines)} machine(s), {len(rs.kernels)} kernel(s): {st.get("ok", 0)} measured, '
               f'<span class="{"bad" if fails else "good"}">{fails} failed</span>, '
               f'<span class="{"bad" if over else "good"}">{over} over their error bound</span>, '
               f'<span class="muted">{unb} unbounded (no bound that can fail)</span>, '
               f'{st.get("skipped", 0)} skipped. </p>')
    warn = "".join(f'<p class="warn">{esc(w)}</p>' for w in rs.warnings)
    body = (f"<h1>Kernel benchmarks: speed and numerical divergence</h1>{summary}{warn}"
            + index_section(recs, figs) + kernel_list(rs, recs) + speed_heatmaps(rs, recs, figs) + error_heatmaps(recs, figs)
            + machines_section(rs))
    values = {"backend": {r["backend"] for r in recs},
              "dtype": {r["dtype"] for r in recs}, "machine": set(rs.machines)}
    return page("kernel-harness report", body, figs, filters=filter_bar(values))
