"""`harness run`: plan the cases, run them with a progress bar, store every record as
soon as it exists, and print the comparison table."""
from __future__ import annotations

import secrets
import sys
import time
from pathlib import Path

import click

from .common import check_names, console, parse_sizes, split_list

PRESET_BUDGET_S = {"quick": 0.2, "full": 1.0, "test": 0.05}


def summary_table(records: list[dict], title: str = "Results"):
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for c, j in (("kernel", "left"), ("impl", "left"), ("backend", "left"), ("dtype", "left"),
                 ("size", "right"), ("median", "right"), ("±IQR", "right"), ("throughput", "right"),
                 ("rel. error", "right"), ("err/bound", "right"), ("verdict", "left")):
        t.add_column(c, justify=j)
    for r in records:
        if r["status"] == "skipped":
            continue
        verdict = _verdict(r)
        med = r.get("time_median_s")
        thr = ""
        if med:
            thr = f"{r['gflops']:.2f} GFLOP/s" if r.get("flops", 0) >= 4 * r.get("bytes", 1) else f"{r['gbps']:.2f} GB/s"
        t.add_row(escape(r["kernel"]), escape(r["impl"]), escape(r["backend"]), r["dtype"], str(r["size"]),
                  _fmt_time(med), _fmt_time(r.get("time_iqr_s")), thr,
                  _fmt(r.get("rel_error")), _fmt(r.get("error_ratio")), verdict)
    return t


def _verdict(r: dict) -> str:
    from rich.markup import escape

    if r["status"] != "ok":
        return f"[red]{r['status']}[/]: {escape((r.get('message') or '')[:60])}"
    return "[green]within bound[/]" if r.get("accuracy_ok") else "[red]exceeds bound[/]"


def _fmt(v) -> str:
    return "" if v is None else f"{v:.3g}"


def _fmt_time(v) -> str:
    if v is None:
        return ""
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if v >= scale:
            return f"{v / scale:.3g} {unit}"
    return f"{v / 1e-9:.3g} ns"


def new_run_id(commit: str | None) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return f"{stamp}-{(commit or 'nocommit')[:8]}-{secrets.token_hex(2)}"


@click.command("run")
@click.option("--kernels", help="Comma-separated kernel names (default: all).")
@click.option("--backends", help="Comma-separated backend names (default: all; unavailable ones are recorded as skipped).")
@click.option("--impls", help="Only these implementation names (e.g. array_api).")
@click.option("--dtypes", default="float32,float64", show_default=True, help="Comma-separated dtypes.")
@click.option("--sizes", help="Comma-separated sizes (overrides --preset).")
@click.option("--preset", type=click.Choice(["quick", "full", "test"]), default="quick", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the input generator.")
@click.option("--budget", type=click.FloatRange(min=0.0, min_open=True),
              help="Seconds of timing per case (default: 0.2 for quick, 1.0 for full).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
              show_default=True, help="Results folder; a run goes to OUT/<machine_id>/<run_id>.jsonl.")
@click.option("--save-arrays", type=click.Path(file_okay=False, path_type=Path),
              help="Write inputs.npz, output.npy and reference.npy per case under this folder.")
@click.option("--quiet", is_flag=True, help="No progress bar or table.")
def command(kernels, backends, impls, dtypes, sizes, preset, seed, budget, out_dir, save_arrays, quiet):
    """Run kernels on backends, store the results and print speed and divergence."""
    from ..dtypes import DTYPES
    from ..machine import git_commit, machine_info
    from ..record import now_iso
    from ..registry import get_registry
    from ..runner import RunContext, Skip, plan, run_cases
    from ..store import RunWriter
    from ..timing import TimingOptions

    reg = get_registry()
    kernel_names = check_names("kernel", split_list(kernels), reg.kernels, "--kernels") or list(reg.kernels)
    backend_names = check_names("backend", split_list(backends), reg.backend_names, "--backends") or reg.backend_names
    dtype_names = check_names("dtype", split_list(dtypes), DTYPES, "--dtypes")
    if not dtype_names:
        raise click.BadParameter("give at least one dtype", param_hint="--dtypes")
    size_list = parse_sizes(sizes)
    impl_names = split_list(impls)
    if impl_names:
        check_names("implementation", impl_names, sorted({i.name for i in reg.impls.values()}), "--impls")
    try:
        machine = machine_info()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    commit = git_commit()
    run_id = new_run_id(commit)
    opts = TimingOptions(budget_s=budget or PRESET_BUDGET_S[preset])
    ctx = RunContext(reg, seed=seed, timing=opts, machine_id=machine["machine_id"], commit=commit,
                     run_id=run_id, save_arrays=save_arrays)
    planned = plan(reg, kernel_names, backend_names, dtype_names, size_list, preset,
                   impls=impl_names or None)
    devices = {}
    for b in backend_names:
        be = reg.backend(b)
        if be.available:
            devices[b] = [d.metadata() for d in be.devices()]
    header = {"run_id": run_id, "machine_id": machine["machine_id"], "commit": commit, "started": now_iso(),
              "argv": sys.argv[1:], "preset": preset, "seed": seed, "budget_s": opts.budget_s,
              "machine": {**machine, "devices": devices}}
    writer = RunWriter(out_dir, header)
    records: list[dict] = []
    con = console()

    def store(rec):
        writer.write(rec)
        records.append(rec)

    n_run = sum(1 for p in planned if not isinstance(p, Skip))
    if not quiet:
        con.print(f"{n_run} cases to run, {len(planned) - n_run} skipped here; results -> {writer.path}")
    try:
        if quiet:
            run_cases(planned, ctx, store)
        else:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=con, transient=True) as bar:
                task = bar.add_task("running", total=len(planned))

                def on_record(rec):
                    store(rec)
                    bar.update(task, advance=1, description=rec["case_id"][:60])

                run_cases(planned, ctx, on_record)
    except KeyboardInterrupt:
        con.print(f"interrupted: {len(records)} records kept in {writer.path}")
        sys.exit(130)
    if not quiet:
        con.print(summary_table(records))
        skipped = [r for r in records if r["status"] == "skipped"]
        reasons = {}
        for r in skipped:
            reasons.setdefault(r["message"], 0)
            reasons[r["message"]] += 1
        for msg, n in reasons.items():
            from rich.markup import escape

            con.print(f"skipped {n} case(s): {escape(msg)}")
        bad = [r for r in records if r["status"] not in ("ok", "skipped") or
               (r["status"] == "ok" and not r.get("accuracy_ok"))]
        con.print(f"{len(records) - len(skipped)} cases run, {len(bad)} failed or out of bound; "
                  f"results in {writer.path}")
