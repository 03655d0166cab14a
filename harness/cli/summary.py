"""The end-of-run summary of `harness run`: a table of the measured cases that fits the
console's width, then every failure, unbounded or out-of-bound case grouped by cause
with its full first message, then the skips grouped the same way.

Why grouped: one failing backend fails dozens of cases with the same cause; one line per
case cut at a column width hides that cause. Why two layouts: a CI log can hold eleven
columns, an 80-column terminal cannot, and a cut cell (`ker…`) is worse than a missing
column."""
from __future__ import annotations

import re
from collections import defaultdict

from ..units import format_seconds

#: Below this console width the table drops to the compact layout.
WIDE_MIN_COLUMNS = 132


def gate_failures(records: list[dict]) -> list[dict]:
    """What `--strict` fails on: failed cases, and measured cases out of bound or judged
    by a broken bound (spec error). Unbounded cases are reported, not failed: no bound
    that can fail exists for them, which is the spec's limit, not the backend's fault."""
    from ..record import FAILURE_STATUSES

    return [r for r in records if r["status"] in FAILURE_STATUSES or
            (r["status"] == "ok" and (r.get("verdict") in ("out_of_bound", "spec_error") or
                                      (r.get("verdict") is None and r.get("accuracy_ok") is False)))]


def fmt_number(v) -> str:
    return "" if v is None else f"{v:.3g}"


def fmt_time(v) -> str:
    return format_seconds(v)


def verdict_of(r: dict) -> str:
    """'within', 'out_of_bound', 'unbounded', 'spec_error', or the failure status."""
    if r["status"] != "ok":
        return r["status"]
    return r.get("verdict") or ("within" if r.get("accuracy_ok") else "out_of_bound")


_VERDICT_CELL = {"within": "[green]within[/]", "out_of_bound": "[red]EXCEEDS[/]",
                 "unbounded": "[dim]unbounded[/]", "spec_error": "[red]spec err[/]"}


def _verdict_cell(r: dict, wide: bool) -> str:
    """The verdict in a word (the cause is in the groups below the table)."""
    from rich.markup import escape

    v = verdict_of(r)
    cell = _VERDICT_CELL.get(v, f"[red]{escape(v)}[/]")
    if wide and v in ("within", "out_of_bound") and r.get("bound_kind"):
        cell += f" ({escape(str(r['bound_kind']).replace('_', ' '))})"
    return cell


def _throughput(r: dict) -> str:
    if not r.get("time_median_s"):
        return ""
    if r.get("flops", 0) >= 4 * r.get("bytes", 1):
        return f"{r['gflops']:.2f} GFLOP/s"
    return f"{r['gbps']:.2f} GB/s"


def device_labels(records: list[dict]) -> dict[tuple[str, str], str]:
    """(backend, device) -> the label shown: the backend alone, or `backend[i]` where a
    backend ran on several devices (their full names go in a legend)."""
    devices = defaultdict(list)
    for r in records:
        if r["device"] not in devices[r["backend"]]:
            devices[r["backend"]].append(r["device"])
    return {(b, d): (b if len(ds) == 1 else f"{b}[{i}]")
            for b, ds in devices.items() for i, d in enumerate(ds, 1)}


def impl_cell(r: dict, labels: dict) -> str:
    """'torch' for a backend's own implementation, 'torch:array_api' for another (as the
    report writes it), with the device index where the backend has several."""
    backend = labels.get((r["backend"], r["device"]), r["backend"])
    return backend if r["impl"] in ("", r["backend"]) else f"{backend}:{r['impl']}"


def short_dtype(dtype: str) -> str:
    return dtype.replace("float", "f").replace("complex", "c")


def summary_table(records: list[dict], width: int, title: str = "Results"):
    """The measured (not skipped) cases as a rich Table laid out for `width` columns."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    shown = [r for r in records if r["status"] != "skipped"]
    labels = device_labels(shown)
    wide = width >= WIDE_MIN_COLUMNS
    if wide:
        cols = ("kernel", "impl", "dtype", "size", "median", "±IQR", "throughput", "rel. error", "err/bound",
                "verdict")
        t = Table(title=title, title_justify="left")
    else:
        cols = ("kernel", "impl", "dtype", "size", "median", "err/bnd", "verdict")
        t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  collapse_padding=True)
    for c in cols:
        t.add_column(c, justify="left" if c in ("kernel", "impl", "dtype", "verdict") else "right",
                     overflow="fold")
    for r in shown:
        med = r.get("time_median_s")
        first = [escape(r["kernel"]), escape(impl_cell(r, labels))]
        if wide:
            t.add_row(*first, r["dtype"], str(r["size"]), fmt_time(med), fmt_time(r.get("time_iqr_s")),
                      _throughput(r), fmt_number(r.get("rel_error")), fmt_number(r.get("error_ratio")),
                      _verdict_cell(r, wide))
        else:
            t.add_row(*first, short_dtype(r["dtype"]), str(r["size"]), fmt_time(med),
                      fmt_number(r.get("error_ratio")), _verdict_cell(r, wide))
    return t


def _cause_key(message: str) -> str:
    """Messages that differ only in numbers (sizes, addresses, byte counts) share a cause."""
    return re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "#", message.strip())


def _cause(r: dict) -> tuple[str, str] | None:
    """(what, message) for a case that needs a reader's attention; None for a plain pass."""
    v = verdict_of(r)
    if v in ("within", "skipped"):
        return None
    if r["status"] != "ok":
        return v, r.get("message") or "(no message)"
    if v == "out_of_bound":
        kind = str(r.get("bound_kind") or "").replace("_", " ")
        return "exceeds its bound", f"error/bound above 1 ({kind} bound)" if kind else "error/bound above 1"
    return ("spec error" if v == "spec_error" else v), r.get("verdict_reason") or "(no reason recorded)"


def cause_groups(records: list[dict]) -> list[dict]:
    """Failed, out-of-bound, spec-error and unbounded cases grouped by cause, in order of
    first appearance: {what, message (the first one in full), records}."""
    groups: dict[tuple[str, str], dict] = {}
    for r in records:
        cause = _cause(r)
        if cause is None:
            continue
        what, message = cause
        g = groups.setdefault((what, _cause_key(message)), {"what": what, "message": message, "records": []})
        g["records"].append(r)
    return list(groups.values())


def which_cases(records: list[dict], labels: dict) -> str:
    """'saxpy numpy:raises f32,f64 n=1,7,1000': the cases of a group, dtypes and sizes merged."""
    sizes: dict[tuple[str, str], dict[str, set]] = defaultdict(lambda: defaultdict(set))
    for r in records:
        sizes[(r["kernel"], impl_cell(r, labels))][short_dtype(r["dtype"])].add(r["size"])
    parts = []
    for (kernel, impl), by_dtype in sizes.items():
        by_sizes: dict[tuple, list[str]] = defaultdict(list)
        for dtype, ns in by_dtype.items():
            by_sizes[tuple(sorted(ns))].append(dtype)
        parts += [f"{kernel} {impl} {','.join(dts)} n={','.join(map(str, ns))}" for ns, dts in by_sizes.items()]
    return "; ".join(parts)


def print_summary(con, records: list[dict]) -> None:
    """The table, the legend of device labels, the cause groups and the skip groups."""
    from rich.markup import escape

    con.print(summary_table(records, con.width))
    labels = device_labels([r for r in records if r["status"] != "skipped"])
    for (backend, device), label in labels.items():
        if label != backend:
            con.print(f"{escape(label)} = {escape(device)}")
    bad = ("error", "nan", "invalid", "oom", "timeout", "crashed", "exceeds its bound", "spec error")
    for g in cause_groups(records):
        colour = "red" if g["what"] in bad else "yellow"
        con.print(f"[{colour}]{escape(g['what'])}[/] {len(g['records'])} case(s): {escape(g['message'])}")
        con.print(f"  [dim]{escape(which_cases(g['records'], labels))}[/]")
    reasons: dict[str, int] = {}
    for r in records:
        if r["status"] == "skipped":
            reasons[r["message"]] = reasons.get(r["message"], 0) + 1
    for msg, n in reasons.items():
        con.print(f"skipped {n} case(s): {escape(msg)}")
