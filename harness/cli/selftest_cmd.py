"""`harness selftest`: the harness's own cost (timer floor per backend), its agreement
and spread against torch.utils.benchmark and timeit, and the wall time of a quick run."""
from __future__ import annotations

import json
from pathlib import Path

import click

from .common import console


@click.command("selftest")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON instead of tables.")
@click.option("--reduced", is_flag=True, help="Seconds instead of minutes: fewer cases, shorter budgets, "
              "and a one-kernel run (for tests).")
@click.option("--no-run", is_flag=True, help="Skip the wall time of `harness run --preset quick`.")
@click.option("--run-out", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the quick run's results in this folder (default: a temporary folder).")
@click.option("--min-agreement", type=click.FloatRange(0.0, 1.01), default=None, metavar="SHARE",
              help="Exit non-zero when fewer than this share of the agreement cases are within their "
                   "tolerance of timeit [default: 0.9; --reduced only reports unless this is given].")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the JSON here (default: <results>/<machine_id>/selftest.json; '-' for none; "
                   "with --scale: none unless given).")
@click.option("--scale", is_flag=True, help="Instead: the scale benchmark, load and report on N synthetic "
              "records (in a temporary folder, never under results/) with the growth exponent.")
@click.option("--scale-records", default="10000,100000,1000000", show_default=True, metavar="N,N,...",
              help="With --scale: the history sizes to measure.")
@click.option("--scale-dir", type=click.Path(file_okay=False, path_type=Path),
              help="With --scale: where the temporary folder goes (default: the system's temp folder).")
def command(as_json, reduced, no_run, run_out, out_file, min_agreement, scale, scale_records, scale_dir):
    """Measure the harness's own overhead and check its timings against its peers.

    Exits 1 when the share of agreement cases within tolerance is below the threshold:
    a harness that disagrees with timeit is a harness whose figures cannot be trusted."""
    from ..selftest import AGREEMENT_THRESHOLD, default_output, run_selftest, write

    con = console()
    if scale:
        _scale(con, as_json, scale_records, scale_dir, out_file)
        return
    gate = min_agreement if min_agreement is not None else (None if reduced else AGREEMENT_THRESHOLD)
    res = run_selftest(reduced=reduced, run=not no_run, run_out=run_out,
                       progress=None if as_json else (lambda s: con.print(f"selftest: {s} ...")),
                       threshold=gate if gate is not None else AGREEMENT_THRESHOLD)
    res["agreement_gated"] = gate is not None
    path = None
    if str(out_file) != "-":
        path = write(res, out_file or default_output(res["machine_id"]))
    if as_json:
        click.echo(json.dumps(res, indent=1, default=str))
    else:
        _print_tables(con, res, path)
    if gate is not None and not res["agreement_summary"]["passed"]:
        raise SystemExit(1)


def _scale(con, as_json, records, work, out_file) -> None:
    """`--scale`: the benchmark of harness/scale.py, as a table or JSON."""
    from ..scale import ScaleUsageError, run_scale
    from ..selftest import write

    try:
        sizes = [int(x) for x in records.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter(f"{records!r} is not a comma-separated list of integers",
                                 param_hint="--scale-records") from None
    if not sizes or min(sizes) < 1:
        raise click.BadParameter("give at least one positive size", param_hint="--scale-records")
    try:
        res = run_scale(sizes, work, progress=None if as_json else (lambda s: con.print(f"scale: {s} ...")))
    except ScaleUsageError as exc:
        raise click.UsageError(str(exc)) from exc
    path = write(res, out_file) if out_file and str(out_file) != "-" else None
    if as_json:
        click.echo(json.dumps(res, indent=1, default=str))
        return
    _print_scale(con, res, path)


def _print_scale(con, res, path) -> None:
    from rich.table import Table

    t = Table(title="Scale benchmark (synthetic records): seconds, peak RSS", title_justify="left")
    for c in ("records", "files", "JSONL", "convert", "load summary", "load one kernel", "report", "report again",
              "peak RSS", "site", "largest kernel page"):
        t.add_column(c)
    mb = lambda b: f"{(b or 0) / 2**20:.0f} MB"  # noqa: E731
    sec = lambda step: f"{step['seconds']:.2f} s" if "seconds" in step else step.get("error", "?")  # noqa: E731
    for r in res["sizes"]:
        rss = max((r[s].get("peak_rss_bytes") or 0) for s in ("convert", "load_summary", "load_kernel", "report"))
        t.add_row(f"{r['n_records'] or r['n_records_asked']:,}", str(r["n_files"]), mb(r["jsonl_bytes"]),
                  *(sec(r[s]) for s in ("convert", "load_summary", "load_kernel", "report", "report_again")),
                  mb(rss), mb(r["site_bytes"]), f"{r['kernel_page_bytes'] / 2**20:.2f} MB")
    con.print(t)
    exps = ", ".join(f"{k} {v:.2f}" for k, v in res["growth_exponent"].items() if v is not None)
    con.print(f"growth exponent (slope of log time against log records): {exps or 'needs two sizes'}")
    for goal, g in res["goals_at_largest"].items():
        con.print(f"  {goal}: {g['measured']:.3g} (goal {g['goal']:.3g}) {'met' if g['met'] else '[red]MISSED[/]'}")
    con.print(f"load average after: {res['loadavg_after']}")
    if path:
        con.print(f"written to {path}")


def _print_tables(con, res, path) -> None:
    from rich.markup import escape
    from rich.table import Table

    t = Table(title="Timer floor (empty kernel, harness protocol)", title_justify="left")
    for c in ("device", "timer", "per call", "IQR/median", "timer start/stop", "wall per synced call"):
        t.add_column(c)
    for key, r in res["timer_floor"].items():
        if "per_call_s" in r:
            t.add_row(escape(key), r["timer"], f"{r['per_call_s'] * 1e6:.2f} µs",
                      f"{r['iqr_over_median']:.3f}", f"{r['timer_overhead_s'] * 1e6:.2f} µs",
                      f"{r['wall_per_call_s'] * 1e6:.2f} µs")
        else:
            t.add_row(escape(key), "", "", "", escape(r.get("skipped") or r.get("error") or ""))
    con.print(t)
    _print_agreement(con, res)
    q = res.get("quick_run")
    if q:
        con.print(f"harness run --preset quick on {','.join(q['backends'])}: {q['wall_s']:.1f} s wall for "
                  f"{q.get('n_cases')} cases ({(q.get('wall_per_case_s') or 0):.2f} s/case), limit "
                  f"{q['limit_s']:.0f} s: {'ok' if q['within_limit'] else 'EXCEEDED or failed'}")
    if path:
        con.print(f"written to {path}")


def _cell(r, m, fmt):
    return fmt(r[m]) if m in r and r[m] is not None else "–"


def _print_agreement(con, res) -> None:
    """The per-case table, then the share within tolerance and every outlier."""
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=f"Agreement with timeit (tolerance ±{res['agreement_tolerance']:.0%}) and spread IQR/median",
              title_justify="left")
    for c in ("case", "harness", "torch Timer", "timeit", "vs torch", "vs timeit", "spread h / t / ti", ""):
        t.add_column(c)
    us = lambda v: f"{v['median_s'] * 1e6:.1f} µs"  # noqa: E731
    for r in res["agreement"]:
        if "harness" not in r:
            t.add_row(escape(r["case"]), escape(r.get("skipped") or r.get("error") or ""))
            continue
        flag = "" if r["within_tolerance"] else "[red]OUTLIER[/]" + ("" if r.get("references_agree", True)
                                                                     else " (references disagree)")
        t.add_row(escape(r["case"]), *(_cell(r, m, us) for m in ("harness", "torch_benchmark", "timeit")),
                  _cell(r, "vs_torch_benchmark", lambda v: f"{v:+.1%}"), f"{r['vs_timeit']:+.1%}",
                  " / ".join(_cell(r, m, lambda v: f"{v['iqr_over_median']:.3f}")
                             for m in ("harness", "torch_benchmark", "timeit")), flag)
    con.print(t)
    s = res["agreement_summary"]
    if s["share_within"] is None:
        con.print("agreement: no case could be compared")
        return
    verdict = ("ok" if s["passed"] else "[red]BELOW THRESHOLD[/]") if res.get("agreement_gated") else "not gated"
    con.print(f"agreement: {s['n_within']}/{s['n_compared']} cases ({s['share_within']:.0%}) within tolerance "
              f"of timeit; threshold {s['threshold']:.0%}: {verdict}")
    for o in s["outliers"]:
        con.print(f"  [red]outlier[/] {escape(o['case'])}: {o['vs_timeit']:+.1%} vs timeit "
                  f"(tolerance ±{o['tolerance']:.0%})")
