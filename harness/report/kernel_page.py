"""One page per kernel: which implementations are generic or hand-written, time,
throughput and error against size, error along iterations, divergence between backends,
output-hash agreement, divergence sources, machines side by side, history across
commits, and advice (best backend by size, crossovers)."""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Mapping

from ..output_sample import SAMPLE_SIZE
from .data import (BASELINE_BACKEND, baseline_times, ceilings, crossover, fit_slope, group, hash_classes,
                   impl_label, is_failure, is_ok, is_trusted, latest, num, quantiles, throughput, throughput_kind,
                   verdict_counts, verdict_of)
from .history import section as history_section
from .html import (Figures, attr, text_esc as esc, filter_attrs, filter_bar, fmt, fmt_bitwise, fmt_na, fmt_size,
                   fmt_time, page, table)
from .implementations import Declared, declared_implementations, section as implementations_section
from .machine_compare import kernel_summary, pair_cases, records_frame
from .style import DIFF_SCALE, Style, rgba
from .pareto import map_section
from .units import bound_cell, digits_text, error_cell, rate_text

LOG_AXIS = {"type": "log", "exponentformat": "power", "showgrid": True}


class KernelPage:
    def __init__(self, kernel: str, records: list[dict[str, Any]], all_records: list[dict[str, Any]], style: Style,
                 declared: Mapping[tuple[str, str], Declared] | None = None):
        self.kernel = kernel
        #: (backend, impl) -> generic or hand-written, with its notes (default: this registry's)
        self.declared = declared_implementations(kernel) if declared is None else declared
        self.history_recs = [r for r in all_records if r["kernel"] == kernel]
        self.recs = latest(records)
        self.ok = [r for r in self.recs if is_ok(r)]
        self.style = style
        self.figs = Figures()
        self.machines = sorted({r["machine_id"] for r in self.recs})
        self.multi_machine = len(self.machines) > 1
        # Show the device in a name only where one implementation ran on several devices.
        devs = defaultdict(set)
        for r in self.ok:
            devs[(r["machine_id"], impl_label(r))].add(r["device"])
        self.show_device = any(len(v) > 1 for v in devs.values())
        em = next((r.get("error_model") for r in self.recs if isinstance(r.get("error_model"), dict)), {}) or {}
        self.error_model = em
        self.metric = str(em.get("metric") or "normwise")
        self.kind = throughput_kind(self.ok)

    # ---- naming -------------------------------------------------------------------
    def name(self, r: dict[str, Any], dtype: bool = True) -> str:
        parts = [impl_label(r)]
        if self.show_device:
            parts.append(f"[{r['device']}]")
        if dtype:
            parts.append(r["dtype"])
        if self.multi_machine:
            parts.append(f"@{r['machine_id']}")
        return " · ".join(parts)

    def series(self, rows: list[dict[str, Any]]) -> dict[tuple, list[dict[str, Any]]]:
        out: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            out[(r["machine_id"], impl_label(r), r["device"], r["dtype"])].append(r)
        for v in out.values():
            v.sort(key=lambda r: r["size"])
        return dict(sorted(out.items(), key=lambda kv: (kv[0][3], not kv[0][1].startswith("numpy"), kv[0])))

    def meta(self, r: dict[str, Any]) -> dict[str, Any]:
        return {"backend": r["backend"], "dtype": r["dtype"], "machine": r["machine_id"]}

    def line(self, r0: dict[str, Any], x: list, y: list, hover: list[str], name: str | None = None,
             **extra: Any) -> dict[str, Any]:
        lab = impl_label(r0)
        return {"type": "scatter", "mode": "lines+markers", "x": x, "y": y, "name": esc(name or self.name(r0)),
                "legendgroup": esc(self.name(r0)), "text": hover, "hovertemplate": "%{text}<extra></extra>",
                "line": {"color": self.style.color(lab), "dash": self.style.dash(r0["dtype"])},
                "marker": {"symbol": self.style.symbol(r0["machine_id"]), "size": 7}, "meta": self.meta(r0), **extra}

    def layout(self, title: str, xtitle: str, ytitle: str, ylog: bool = True, xlog: bool = True) -> dict[str, Any]:
        return {"title": {"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 15}}, "xaxis": {**(LOG_AXIS if xlog else {}), "title": {"text": xtitle}},
                "yaxis": {**(LOG_AXIS if ylog else {}), "title": {"text": ytitle}},
                "legend": {"font": {"size": 11}}, "margin": {"l": 70, "r": 10, "t": 50, "b": 50},
                "hovermode": "closest"}

    # ---- sections -----------------------------------------------------------------
    def header(self) -> str:
        em = self.error_model
        dist = next((r.get("input_distribution") for r in self.recs if r.get("input_distribution")), "")
        sizes = sorted({r["size"] for r in self.recs if r["size"] is not None})
        dtypes = sorted({r["dtype"] for r in self.recs})
        fails = [r for r in self.recs if is_failure(r)]
        vc = verdict_counts(self.recs)
        over = vc["out_of_bound"] + vc["spec_error"]
        status = (f'<span class="{"bad" if fails else "good"}">{len(fails)} failed</span>, '
                  f'<span class="{"bad" if over else "good"}">{over} over the error bound</span>, '
                  f'<span class="muted">{vc["unbounded"]} unbounded</span>, '
                  f'{sum(1 for r in self.recs if r["status"] == "skipped")} skipped')
        return (f"<h1>{esc(self.kernel)}</h1>"
                f'<p class="lead">{len(self.ok)} measured cases on {len(self.machines)} machine(s) '
                f'({esc(", ".join(self.machines))}); sizes {esc(", ".join(fmt_size(s) for s in sizes))}; '
                f'dtypes {esc(", ".join(dtypes))}; {status}. <span id="filter-count"></span></p>'
                f'<p class="note">Error metric: <b>{esc(em.get("metric", "?"))}</b>. '
                f'Bound ({esc(str(em.get("kind", "?")).replace("_", " "))}'
                f'{", with a probabilistic bound beside it" if em.get("probabilistic") else ""}): '
                f'{esc(em.get("source", "?"))}. '
                + (f'Assumes: {esc(em["assumes"])}. ' if em.get("assumes") else "")
                + f'Predicted growth slope of the bound: {esc(em.get("growth_slope", "?"))}. '
                f'Inputs: {esc(dist or "not recorded")}.</p>')

    def implementations(self) -> str:
        return implementations_section(self.recs, self.declared)

    def advice(self) -> str:
        base = baseline_times(self.recs)
        blocks = []
        for (mid, dtype), rows in sorted(group([r for r in self.ok if is_trusted(r)], "machine_id", "dtype").items()):
            by_size = group(rows, "size")
            best_rows = []
            for (size,), cases in sorted(by_size.items()):
                cases = sorted(cases, key=lambda r: float(r["time_median_s"]))
                b = base.get((mid, self.kernel, dtype, size))
                best = cases[0]
                e2e = sorted(cases, key=lambda r: float(r["time_median_s"]) + (num(r.get("transfer_s")) or 0.0))[0]
                sp = f"{b / float(best['time_median_s']):.2f}×" if b else "–"
                runner = f"{esc(self.name(cases[1], False))} ({fmt_time(num(cases[1]['time_median_s']))})" if len(cases) > 1 else "–"
                best_rows.append(([fmt_size(size), f"<b>{esc(self.name(best, False))}</b>",
                                   f'{fmt_time(num(best["time_median_s"]))} <span class="muted">{rate_text(best, self.kind)}</span>', sp, runner,
                                   f"{esc(self.name(e2e, False))}"], ""))
            t1 = table(["size", "fastest (kernel only)", "time", "vs NumPy", "runner-up",
                        "fastest end to end (with transfers)"], best_rows)
            cross_rows = []
            series: dict[tuple, list] = defaultdict(list)
            for r in rows:
                if r["backend"] != BASELINE_BACKEND:
                    series[(impl_label(r), r["device"], r["backend"])].append(r)
            for (lab, dev, backend), cases in sorted(series.items()):
                sizes, k_only, e2e_ratio = [], [], []
                for r in sorted(cases, key=lambda r: r["size"]):
                    b = base.get((mid, self.kernel, dtype, r["size"]))
                    if not b:
                        continue
                    sizes.append(r["size"])
                    k_only.append(float(r["time_median_s"]) / b)
                    tr = num(r.get("transfer_s"))
                    e2e_ratio.append((float(r["time_median_s"]) + tr) / b if tr is not None else None)
                if not sizes:
                    continue
                name = lab + (f" [{dev}]" if self.show_device else "")
                cross_rows.append(([esc(name), _cross_text(crossover(sizes, k_only)),
                                    _cross_text(crossover(sizes, e2e_ratio))], filter_attrs(backend=backend)))
            t2 = (table(["backend", "beats NumPy, kernel only", "beats NumPy, end to end (incl. transfer_s)"], cross_rows)
                  if cross_rows else '<p class="note">No backend besides NumPy measured here.</p>')
            blocks.append(f'<div class="panel" {filter_attrs(machine=mid, dtype=dtype)}><h3>{esc(mid)} · {esc(dtype)}</h3>'
                          f'{t1}{t2}</div>')
        return ('<h2>Advice: which backend to use</h2><p class="lead">Fastest implementation per size, and the size '
                'from which each backend beats NumPy at every larger measured size (≈: interpolated in log-log between '
                'the two measured sizes around the crossover). End to end adds the measured host↔device transfer time '
                '(<code>transfer_s</code>) to the kernel time; NumPy needs no transfer.'
                f'{self.left_out()}</p>'
                f'<div class="grid">{"".join(blocks)}</div>')

    def left_out(self) -> str:
        """What the advice leaves out: a backend whose answers are wrong is not recommended."""
        fails = sum(1 for r in self.recs if is_failure(r))
        over = sum(1 for r in self.ok if not is_trusted(r))
        if not fails and not over:
            return ""
        return (f' <b>Left out of this advice:</b> {fails} failed case(s) and {over} case(s) out of their error '
                'bound (or with a broken bound).')

    def time_plot(self) -> str:
        data = []
        for key, rows in self.series(self.ok).items():
            r0 = rows[0]
            x = [r["size"] for r in rows]
            q = [quantiles(r) for r in rows]
            lab = impl_label(r0)
            if all(a is not None for a, _ in q):
                data.append({"type": "scatter", "mode": "lines", "x": x + x[::-1],
                             "y": [b for _, b in q] + [a for a, _ in q][::-1], "fill": "toself",
                             "fillcolor": rgba(self.style.color(lab), 0.15), "line": {"width": 0},
                             "hoverinfo": "skip", "showlegend": False, "legendgroup": esc(self.name(r0)),
                             "meta": self.meta(r0)})
            hover = [f"{esc(self.name(r))}<br>n={r['size']}<br>median {fmt_time(num(r['time_median_s']))}"
                     f"<br>IQR {fmt_time(num(r.get('time_iqr_s')))} · {fmt(num(r.get('n_samples')), '.0f')} samples"
                     f"<br>transfer {fmt_time(num(r.get('transfer_s')))}<br>{rate_text(r, self.kind)}" for r in rows]
            data.append(self.line(r0, x, [float(r["time_median_s"]) for r in rows], hover))
        fig = {"data": data, "layout": self.layout("Time per call (median; band: interquartile range)", "size n",
                                                   "seconds")}
        return f"<h2>Time against size</h2>{self.figs.add(fig, 480)}"

    def throughput_plot(self) -> str:
        kind = throughput_kind(self.ok)
        unit = "GFLOP/s" if kind == "gflops" else "GB/s"
        data = []
        for key, rows in self.series(self.ok).items():
            r0 = rows[0]
            ys = [throughput(r, kind) for r in rows]
            hover = [f"{esc(self.name(r))}<br>n={r['size']}<br>{fmt(y)} {unit}"
                     + (f"<br>{100 * num(r.get('roofline_fraction')):.1f}% of roofline" if num(r.get("roofline_fraction")) is not None else "")
                     for r, y in zip(rows, ys)]
            data.append(self.line(r0, [r["size"] for r in rows], ys, hover))
        # Ceilings: one dotted line per machine, device and kind of ceiling, where recorded.
        sizes = sorted({r["size"] for r in self.ok})
        seen = set()
        notes = []
        for r in self.ok:
            c = ceilings(r.get("machine") or {}, r["backend"], r["device"])
            if not c or not sizes:
                continue
            lines = []
            if kind == "gbps":
                for ck in ("copy_gbps", "triad_gbps"):
                    if num(c.get(ck)) is not None:
                        lines.append((ck.replace("_gbps", " bandwidth"), num(c[ck]), None))
            else:
                peak = c.get("peak_gflops") if isinstance(c.get("peak_gflops"), dict) else {}
                if num(peak.get(r["dtype"])) is not None:
                    lines.append((f"peak {r['dtype']}", num(peak[r["dtype"]]), r["dtype"]))
            for label, value, dt in lines:
                key = (r["machine_id"], r["device"], label)
                if key in seen:
                    continue
                seen.add(key)
                nm = f"ceiling: {label} · {r['device']}" + (f" @{r['machine_id']}" if self.multi_machine else "")
                data.append({"type": "scatter", "mode": "lines", "x": [sizes[0], sizes[-1]], "y": [value, value],
                             "name": esc(nm), "line": {"color": "#555", "dash": "dot", "width": 1.5},
                             "hovertemplate": f"{esc(nm)}: {value:.4g} {unit}<extra></extra>",
                             "meta": {"machine": r["machine_id"], "dtype": dt}})
        if not seen:
            notes.append("No roofline ceilings are recorded for these machines yet, so no ceiling lines are drawn.")
        fig = {"data": data, "layout": self.layout(f"Throughput ({unit})", "size n", unit)}
        note = "".join(f'<p class="note">{esc(n)}</p>' for n in notes)
        return f"<h2>Throughput against size</h2>{note}{self.figs.add(fig, 460)}"

    def bound_lines(self) -> list[dict[str, Any]]:
        """Per dtype: the theoretical bound across sizes, and the √n·u and log₂n·u guides
        that a probabilistic and a pairwise bound would follow."""
        data = []
        sizes = sorted({r["size"] for r in self.ok})
        for dtype, rows in sorted(group(self.ok, "dtype").items()):
            dtype = dtype[0]
            bound_by_size: dict[int, float] = {}
            for r in rows:
                b = num(r.get("error_bound"))
                if b is not None and b > 0:
                    bound_by_size[r["size"]] = max(b, bound_by_size.get(r["size"], 0))
            if bound_by_size:
                xs = sorted(bound_by_size)
                data.append({"type": "scatter", "mode": "lines", "x": xs, "y": [bound_by_size[s] for s in xs],
                             "name": esc(f"bound · {dtype}"), "line": {"color": "#000", "dash": self.style.dash(dtype), "width": 2.5},
                             "hovertemplate": f"bound ({esc(dtype)}) n=%{{x}}: %{{y:.3g}}<extra></extra>", "meta": {"dtype": dtype}})
            u = next((num(r.get("u")) for r in rows if num(r.get("u"))), None)
            if u and self.metric != "mismatch" and sizes:
                xs = sizes
                for label, f, color in (("√n·u", lambda n: math.sqrt(n) * u, "#999"),
                                        ("log₂n·u", lambda n: max(math.log2(n), 1) * u, "#bbb")):
                    data.append({"type": "scatter", "mode": "lines", "x": xs, "y": [f(n) for n in xs],
                                 "name": esc(f"{label} · {dtype}"), "line": {"color": color, "dash": "dot", "width": 1.5},
                                 "hovertemplate": f"{esc(label)} ({esc(dtype)}) n=%{{x}}: %{{y:.3g}}<extra></extra>",
                                 "meta": {"dtype": dtype}})
        return data

    def error_plot(self) -> str:
        data = []
        floor_candidates = [num(r.get("rel_error")) for r in self.ok] + [num(r.get("error_bound")) for r in self.ok]
        positive = [v for v in floor_candidates if v is not None and v > 0]
        floor = min(positive) / 10 if positive else 1e-20
        slope_rows = []
        zeros = 0
        for key, rows in self.series(self.ok).items():
            r0 = rows[0]
            errs = [num(r.get("rel_error")) for r in rows]
            slope = fit_slope([r["size"] for r in rows], errs)
            y = [(e if e and e > 0 else (floor if e == 0 else None)) for e in errs]
            zeros += sum(1 for e in errs if e == 0)
            symbols = [("triangle-down-open" if e == 0 else self.style.symbol(r0["machine_id"])) for e in errs]
            hover = [f"{esc(self.name(r))}<br>n={r['size']}<br>error {error_cell(e, self.metric)}"
                     + f"<br>bound {bound_cell(r, self.metric)}<br>error/bound {fmt(num(r.get('error_ratio')))}"
                     + (f"<br>max ulp {fmt(num(r.get('max_ulp')))}" if num(r.get("max_ulp")) is not None else "")
                     for r, e in zip(rows, errs)]
            nm = self.name(r0) + (f" (slope {slope:.2f})" if slope is not None else "")
            tr = self.line(r0, [r["size"] for r in rows], y, hover, name=nm)
            tr["marker"]["symbol"] = symbols
            data.append(tr)
            slope_rows.append(([esc(self.name(r0)), fmt(slope, ".2f") if slope is not None else "–",
                                fmt(max((num(r.get("error_ratio")) or 0) for r in rows)),
                                esc(str(sorted({str(r.get("accumulation_dtype")) for r in rows if r.get("accumulation_dtype")}) or "–"))],
                               filter_attrs(**self.meta(r0))))
        data += self.bound_lines()
        ylabel = "mismatch fraction" if self.metric == "mismatch" else f"{self.metric} relative error"
        fig = {"data": data, "layout": self.layout("Error against size, with the theoretical bound", "size n", ylabel)}
        zero_note = (f'Open triangles ▽ are errors of exactly 0 (bitwise equal to the reference), drawn at '
                     f'{floor:.1e} because a log axis has no 0 ({zeros} point(s)). ' if zeros else "")
        note = (f'<p class="note">{zero_note}The slope in each legend entry is the '
                f'least-squares slope of log(error) against log(n): 1 means error ∝ n (worst-case γₙ), ½ means ∝ √n '
                f'(probabilistic), 0 means no growth.</p>')
        t = table(["series", "fitted slope", "worst error/bound", "accumulation dtype"], slope_rows)
        return f"<h2>Error against size</h2>{note}{self.figs.add(fig, 500)}<details><summary>fitted slopes</summary>{t}</details>"

    def profile_plot(self) -> str:
        prof = [r for r in self.ok if isinstance(r.get("profile"), dict) and r["profile"].get("x") and r["profile"].get("error")]
        if not prof:
            return ""
        data = []
        xlabel = "iteration"
        for key, rows in self.series(prof).items():
            r = rows[-1]  # the largest size of the series
            p = r["profile"]
            xlabel = str(p.get("x_label") or xlabel)
            ys = [num(v) for v in p["error"]]
            ylog = all(v is None or v > 0 for v in ys)
            hover = [f"{esc(self.name(r))} n={r['size']}<br>{esc(xlabel)} {esc(x)}: {fmt(v)}" for x, v in zip(p["x"], ys)]
            data.append(self.line(r, list(p["x"]), ys, hover, name=f"{self.name(r)} (n={r['size']})"))
        all_pos = all((v is None or v > 0) for t in data for v in t["y"])
        fig = {"data": data, "layout": self.layout(f"Error along {esc(xlabel)} (largest size)", esc(xlabel), "error",
                                                   ylog=all_pos, xlog=False)}
        return f"<h2>Error along the iterations</h2>{self.figs.add(fig, 440)}"

    def entry_label(self, r: dict[str, Any]) -> str:
        return self.name(r, dtype=False)

    def divergence_cells(self, entries: list[dict[str, Any]], u: float | None) -> tuple[list, list]:
        """(values, texts) of the matrix: ≡ where two outputs are bitwise identical, else
        |Δ rel_error| (in units of u where there is one)."""
        z, text = [], []
        for a in entries:
            zr, tr = [], []
            for b in entries:
                ea, eb = num(a.get("rel_error")), num(b.get("rel_error"))
                same = a.get("output_sha256") and a.get("output_sha256") == b.get("output_sha256")
                d = abs(ea - eb) if ea is not None and eb is not None else None
                val = (d / u if (u and d is not None) else d)
                zr.append(0.0 if same else val)
                tr.append("≡" if same else (fmt(val, ".2g") if val is not None else "?"))
            z.append(zr)
            text.append(tr)
        return z, text

    def divergence_figure(self, dtype: str, size: int, rows: list[dict[str, Any]]) -> str:
        """One heatmap of the entries that ran `dtype` at `size` on the same inputs."""
        entries = sorted(rows, key=lambda r: (r["machine_id"], not r["backend"].startswith("numpy"), impl_label(r)))
        u = num(entries[0].get("u")) if self.metric != "mismatch" else None
        labels = [esc(self.entry_label(r)) for r in entries]
        z, text = self.divergence_cells(entries, u)
        # One hover template for every cell (not a string per cell): the matrix grows as
        # the square of the entries, and with ten machines per-cell strings made the page MBs.
        hover = ("%{y} vs %{x}<br>%{text}: " + ("≡ = bitwise identical outputs, else |Δ error|"
                                                 + (" in units of u" if u else "")) + "<extra></extra>")
        axes = [self.meta(r) for r in entries]
        for a in axes:
            a.pop("dtype")
        fig = {"data": [{"type": "heatmap", "x": labels, "y": labels, "z": z, "text": text,
                         "texttemplate": "%{text}", "hovertemplate": hover, "colorscale": DIFF_SCALE,
                         "zmin": 0, "zmax": max([1.0] + [v for zr in z for v in zr if v is not None]),
                         "xgap": 1, "ygap": 1, "colorbar": {"title": {"text": "|Δ error|" + (" / u" if u else "")}},
                         "meta": {"axes": {"x": axes, "y": axes}}}],
               "layout": {"title": {"text": f"{esc(dtype)}, n = {fmt_size(size)}", "x": 0.01, "xanchor": "left"},
                          "margin": {"l": 60, "b": 60, "t": 40, "r": 10},
                          "xaxis": {"automargin": True, "tickangle": -30},
                          "yaxis": {"autorange": "reversed", "automargin": True}}}
        return self.figs.add(fig, max(300, 150 + 30 * len(entries)))

    def divergence_matrix(self) -> str:
        """Per dtype and size: |Δ rel_error| between every pair of (implementation, machine)
        that ran on the same inputs, with bitwise equality from the output hashes."""
        blocks = []
        for (dtype,), rows in sorted(group(self.ok, "dtype").items()):
            by_size = {s: v for (s, seed), v in group(rows, "size", "seed").items()}
            sizes = sorted(s for s, v in by_size.items() if len(v) > 1)
            if not sizes:
                continue
            gid = f"div-{dtype}"
            options = "".join(f'<option value="{s}"{" selected" if s == sizes[-1] else ""}>n = {fmt_size(s)}</option>'
                              for s in sizes)
            panels = "".join(f'<div data-switch-group="{attr(gid)}" data-switch-value="{s}">'
                             f'{self.divergence_figure(dtype, s, by_size[s])}</div>' for s in sizes)
            blocks.append(f'<div class="panel" {filter_attrs(dtype=dtype)}><label>{esc(dtype)} at size '
                          f'<select data-switch="{attr(gid)}">{options}</select></label>{panels}</div>')
        if not blocks:
            return ""
        return ('<h2>Divergence between backends on the same inputs</h2><p class="lead">Every pair of implementations '
                '(and machines) that ran the same inputs (same dtype, size and seed). The harness stores each output\'s '
                'SHA-256 and its error against the reference, not the outputs themselves, so this matrix shows what '
                'those allow: ≡ where the outputs are bitwise identical, otherwise |difference of the two errors|'
                + (" in units of u" if self.metric != "mismatch" else "") + '. That difference is a lower bound on how far '
                'apart the two outputs are (triangle inequality), not the distance itself: 0 with different bits means '
                'the outputs differ but equally far from the truth.</p>'
                f'<div class="grid">{"".join(blocks)}</div>')

    def hash_table(self) -> str:
        blocks = []
        for (dtype,), rows in sorted(group(self.ok, "dtype").items()):
            sizes = sorted({r["size"] for r in rows})
            classes = {s: hash_classes(sorted((r for r in rows if r["size"] == s),
                                              key=lambda r: (r["machine_id"], r["backend"] != "numpy", impl_label(r))))
                       for s in sizes}
            entries = group(rows, "machine_id", "backend", "impl", "device")
            trs = []
            for (mid, backend, impl, device), es in sorted(entries.items(), key=lambda kv: (kv[0][0], kv[0][1] != "numpy", kv[0])):
                by_size = {r["size"]: r for r in es}
                cells = [esc(mid), esc(impl_label(es[0])), f'<span class="mono">{esc(device)}</span>']
                for s in sizes:
                    r = by_size.get(s)
                    if r is None or not r.get("output_sha256"):
                        cells.append('<span class="muted">–</span>')
                        continue
                    det = r.get("deterministic")
                    mark = ('<span class="good">✓</span>' if det is True else
                            '<span class="bad">✗ not repeatable</span>' if det is False else "?")
                    cells.append(f'<span class="hash" title="{attr(r["output_sha256"])}">{classes[s][r["output_sha256"]]}</span> {mark}')
                trs.append((cells, filter_attrs(machine=mid, backend=backend, dtype=dtype)))
            agree = []
            for s in sizes:
                n = len(classes[s])
                agree.append(f"n={fmt_size(s)}: {n} distinct output{'s' if n != 1 else ''}")
            blocks.append(f'<div {filter_attrs(dtype=dtype)}><h3>{esc(dtype)}</h3><p class="note">{esc("; ".join(agree))}</p>'
                          + table(["machine", "implementation", "device"] + [f"n={fmt_size(s)}" for s in sizes], trs)
                          + "</div>")
        if not blocks:
            return ""
        return ('<h2>Determinism and output-hash agreement</h2><p class="lead">Same letter in a column = bitwise-identical '
                'output (SHA-256 of the output bytes), across backends and machines. ✓: a second call gave the same bits '
                '(deterministic); ✗: it did not.</p>' + "".join(blocks))

    def sources_table(self) -> str:
        trs = []
        for (mid, backend, impl, device), es in sorted(group(self.ok, "machine_id", "backend", "impl", "device").items()):
            acc = sorted({f"{r['dtype']}→{r.get('accumulation_dtype')}" for r in es if r.get("accumulation_dtype")})
            div: dict[str, Any] = {}
            builds: set[str] = set()
            for r in es:
                if isinstance(r.get("divergence"), dict):
                    d = dict(r["divergence"])
                    b = d.pop("build_options", None)
                    if isinstance(b, dict):
                        mine = {f: o for f, o in b.items() if str(f).split(".")[0] == self.kernel} or b
                        builds.update(f"{f}: {' '.join(map(str, o)) if isinstance(o, (list, tuple)) else o}"
                                      for f, o in mine.items())
                    elif b:
                        builds.add(str(b))
                    div.update(d)
            thr: dict[str, Any] = {}
            for r in es:
                if isinstance(r.get("threads"), dict):
                    thr.update(r["threads"])
            div_txt = "<br>".join(f"{esc(k)} = {esc(v)}" for k, v in sorted(div.items())) or '<span class="muted">none recorded</span>'
            build_txt = "<br>".join(esc(b) for b in sorted(builds)) or '<span class="muted">–</span>'
            trs.append(([esc(mid), esc(impl_label(es[0])), f'<span class="mono">{esc(device)}</span>', esc(", ".join(acc)) or "–",
                         div_txt, f'<span class="mono">{build_txt}</span>',
                         esc(", ".join(f"{k}={v}" for k, v in sorted(thr.items()))) or "–"],
                        filter_attrs(machine=mid, backend=backend)))
        return ('<h2>Recorded sources of divergence</h2><p class="lead">What each implementation reported about settings that '
                'change rounding: accumulation dtype, TF32 and matmul precision flags, deterministic-algorithm switches, '
                'OpenCL/CUDA build options, thread counts.</p>'
                + table(["machine", "implementation", "device", "accumulation", "flags", "build options", "threads"], trs))

    def machines_side_by_side(self) -> str:
        """Across machines: times side by side (with several machines), then every pair of
        records that ran bitwise-equal inputs, across machines and across backends."""
        times = self.machine_times() if self.multi_machine else ""
        pairs = self.same_inputs()
        if not times and not pairs:
            return ""
        return f'<h2>{"Across machines" if self.multi_machine else "Across backends"}</h2>{times}{pairs}'

    def machine_times(self) -> str:
        data = []
        trs = []
        for (dtype,), rows in sorted(group(self.ok, "dtype").items()):
            size = max(r["size"] for r in rows)
            at = [r for r in rows if r["size"] == size]
            labels = sorted({self.name(r, dtype=False).split(" · @")[0] for r in at})
            for mid in self.machines:
                mine = {self.name(r, dtype=False).split(" · @")[0]: r for r in at if r["machine_id"] == mid}
                ys = [num(mine[l]["time_median_s"]) if l in mine else None for l in labels]
                data.append({"type": "bar", "x": [esc(f"{l} · {dtype} n={fmt_size(size)}") for l in labels], "y": ys,
                             "name": esc(f"{mid}"), "legendgroup": esc(mid),
                             "showlegend": dtype == sorted({r['dtype'] for r in self.ok})[0],
                             "marker": {"color": self.style_machine_color(mid)},
                             "hovertemplate": f"{esc(mid)}<br>%{{x}}: %{{y:.3g}} s<extra></extra>",
                             "meta": {"machine": mid, "dtype": dtype}})
            for (size_, label), rs_ in sorted(group([dict(r, _l=self.name(r, dtype=False).split(" · @")[0]) for r in rows],
                                                    "size", "_l").items()):
                by_m = {r["machine_id"]: r for r in rs_}
                ref = next((num(by_m[m]["time_median_s"]) for m in self.machines if m in by_m), None)
                cells = [esc(label), esc(dtype), fmt_size(size_)]
                for m in self.machines:
                    r = by_m.get(m)
                    if r is None:
                        cells.append('<span class="muted">–</span>')
                    else:
                        t = num(r["time_median_s"])
                        rel = f" ({t / ref:.2f}×)" if ref and t and m != self.machines[0] else ""
                        cells.append(f"{fmt_time(t)}{rel}")
                trs.append((cells, filter_attrs(backend=rs_[0]["backend"], dtype=dtype)))
        fig = {"data": data, "layout": {**self.layout("Same case on different machines (largest size)", "", "seconds",
                                                      xlog=False), "barmode": "group"}}
        fig["layout"]["margin"]["b"] = 150
        t = table(["implementation", "dtype", "size"] + [f"{m}" for m in self.machines], trs)
        return (f'<p class="lead">Times of the same kernel, dtype and size on each machine; in the '
                f'table, (×) is the ratio to the first machine that measured it.</p>{self.figs.add(fig, 460)}'
                f'<details open><summary>all sizes</summary>{t}</details>')

    def same_inputs(self) -> str:
        """The pairs of `machine_compare.pair_cases`, with a reproducibility line per
        machine pair; "n/a" where old records lack the output hash or sample."""
        pairs = pair_cases(records_frame(self.ok))
        if pairs.empty:
            return ""
        trs = []
        for p in pairs.itertuples(index=False):
            side_a = f"{p.impl_a} · {p.device_a} @{p.machine_a}"
            side_b = f"{p.impl_b} · {p.device_b} @{p.machine_b}"
            trs.append(([esc(p.kind), esc(p.dtype), fmt_size(p.size), f'<span class="mono">{esc(side_a)}</span>',
                         f'<span class="mono">{esc(side_b)}</span>', fmt_na(p.time_ratio, ".3g"),
                         fmt_bitwise(p.bitwise_equal), fmt_na(p.d_rel_error, "+.3g"), fmt_na(p.sample_max_rel_diff)],
                        filter_attrs(machine=p.machine_a if p.kind == "backends" else None,
                                     backend=str(p.impl_b).split(":")[0], dtype=p.dtype)))
        t = table(["pair", "dtype", "size", "a", "b", "time b/a", "bitwise", "Δ rel_error b−a",
                   "max rel diff (sampled)"], trs)
        return (f'<h3>Same inputs, two machines or two backends</h3><p class="lead">Every pair of records whose inputs '
                f'were bitwise equal (<code>inputs_sha256</code>): the same implementation on two machines, or two '
                f'implementations or devices on one machine (NumPy as a). bitwise: equal <code>output_sha256</code>; '
                f'max rel diff: max |a−b| / max(|reference|, tiny) over the {SAMPLE_SIZE} stored output entries '
                f'(<code>output_sample</code>); n/a for records from before these fields.</p>'
                f'{_summary_list(kernel_summary(pairs))}<details><summary>{len(trs)} pair(s)</summary>{t}</details>')

    def style_machine_color(self, mid: str) -> str:
        from .style import PALETTE

        return PALETTE[(self.machines.index(mid) * 3 + 5) % len(PALETTE)]

    def history(self) -> str:
        return history_section(self)

    def records_table(self) -> str:
        trs = []
        for r in sorted(self.recs, key=lambda r: (r["machine_id"], r["dtype"], r["size"] or 0, impl_label(r))):
            st = r["status"]
            v = verdict_of(r)
            cls = "good" if v == "within" else ("muted" if st == "skipped" or v == "unbounded" else "bad")
            trs.append(([esc(r["machine_id"]), esc(impl_label(r)), f'<span class="mono">{esc(r["device"])}</span>', esc(r["dtype"]),
                         fmt_size(r["size"]), f'<span class="{cls}">{esc(st if not v else f"{st} · {v}")}</span>', fmt_time(num(r.get("time_median_s"))),
                         fmt_time(num(r.get("time_iqr_s"))), rate_text(r, self.kind), error_cell(r.get("rel_error"), self.metric),
                         bound_cell(r, self.metric),
                         fmt(num(r.get("error_ratio"))), esc(str(r.get("message") or "")[:300])],
                        filter_attrs(machine=r["machine_id"], backend=r["backend"], dtype=r["dtype"])))
        return (f'<h2>All records</h2><details><summary>{len(trs)} records (newest per case and machine)</summary>'
                + table(["machine", "implementation", "device", "dtype", "size", "status", "median", "IQR", "throughput",
                         "error (correct digits)", "bound (digits, kind)", "error/bound", "message"], trs) + "</details>")

    def build(self) -> str:
        body = (self.header() + self.implementations() + map_section(self.kernel, self.recs, self.style, self.figs, self.metric)
                + self.advice() + self.time_plot() + self.throughput_plot() + self.error_plot()
                + self.profile_plot() + self.divergence_matrix() + self.hash_table() + self.sources_table()
                + self.machines_side_by_side() + self.history() + self.records_table())
        values = {"backend": {r["backend"] for r in self.recs},
                  "dtype": {r["dtype"] for r in self.recs}, "machine": set(self.machines)}
        nav = f'<span class="sep">›</span><span>{esc(self.kernel)}</span>'
        return page(f"{self.kernel}: kernel-harness report", body, self.figs, filters=filter_bar(values), nav=nav)


def _summary_list(summary) -> str:
    """One line per machine pair: bitwise reproducible, or how many cases differ and by how much."""
    items = []
    for s in summary.itertuples(index=False):
        where = f"{s.machine_a} and {s.machine_b}" if s.kind == "machines" else f"backends on {s.machine_a}"
        known = s.n_pairs - s.n_unknown
        if known == 0:
            verdict = '<span class="muted">n/a (no output hashes)</span>'
        elif s.bitwise_reproducible:
            verdict = f'<span class="good">bitwise equal in all {known} pair(s)</span>'
        else:
            verdict = (f'<span class="bad">{known - s.n_bitwise_equal} of {known} pair(s) differ</span>, '
                       f'max sampled rel diff {fmt_na(s.max_sample_rel_diff)}')
        items.append(f"<li>{esc(where)}: {verdict}</li>")
    return f'<ul>{"".join(items)}</ul>'


def _cross_text(c: dict[str, Any]) -> str:
    kind = c.get("kind")
    if kind == "always":
        return f'<span class="good">at every size measured (from n={fmt_size(c["from"])})</span>'
    if kind == "never":
        return (f'<span class="bad">never up to n={fmt_size(c["up_to"])}</span> '
                f'<span class="muted">(best: {1 / c["best_ratio"]:.2f}× NumPy speed)</span>')
    if kind == "from":
        est = f" (≈ n={fmt_size(round(c['estimate']))})" if c.get("estimate") else ""
        extra = "" if c.get("monotone", True) else ' <span class="muted">(also wins at some smaller sizes)</span>'
        return f'from n={fmt_size(c["from"])}{est}{extra}'
    return '<span class="muted">not measured</span>'
