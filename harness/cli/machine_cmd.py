"""`harness machine`: the machine fingerprint and its measured ceilings (bandwidth and
peak FLOP/s per backend device), measured once and cached in
<results>/<machine_id>/machine.json for the roofline of every later record."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .common import check_names, console, split_list


@click.command("machine")
@click.option("--json", "as_json", is_flag=True, help="Print machine.json to stdout instead of a table.")
@click.option("--refresh", is_flag=True, help="Measure again even if ceilings are cached.")
@click.option("--quick", is_flag=True,
              help="Small arrays and matrices (seconds, but in-cache and below peak): for tests only.")
@click.option("--backends", help="Comma-separated backends to measure (default: all available).")
@click.option("--results", "results", type=click.Path(file_okay=False, path_type=Path),
              help="Results folder holding <machine_id>/machine.json (default: $HARNESS_RESULTS_DIR or ./results).")
def command(as_json, refresh, quick, backends, results):
    """Measure (once) and show this machine's ceilings: STREAM copy/triad bandwidth and
    matmul peak FLOP/s per backend device."""
    from ..ceilings import cache_path, measure_machine
    from ..registry import get_registry

    names = check_names("backend", split_list(backends), get_registry().backend_names, "--backends") or None
    try:
        path = cache_path(results)
    except ValueError as exc:  # bad HARNESS_MACHINE_ID
        raise click.UsageError(str(exc)) from exc
    err = console() if not as_json else None

    def progress(name):
        if err is not None:
            err.print(f"measuring {name} ...")
        else:
            print(f"measuring {name} ...", file=sys.stderr, flush=True)

    from ..ceilings import ForeignMachineFile

    try:
        data, measured = measure_machine(results, refresh=refresh, quick=quick, backends=names, progress=progress)
    except ForeignMachineFile as exc:
        raise click.UsageError(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(data, indent=1))
        return
    print_ceilings(console(), data, measured, path)


def print_ceilings(con, data: dict, measured: bool, path) -> None:
    """The ceilings table with a mark per note or error, and the full texts below it: an
    error message cut to fit a cell is the one thing a reader of this table needs whole."""
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=f"Ceilings of {data['machine_id']} ({data.get('mode')}, measured {data.get('measured_at')})",
              title_justify="left")
    for c in ("device", "copy GB/s", "triad GB/s", "fp32 GFLOP/s", "fp64 GFLOP/s", "note"):
        t.add_column(c, justify="left" if c in ("device", "note") else "right", overflow="fold")

    def f(v):
        return "" if v is None else f"{v:.1f}"

    notes = []
    for key, c in data["ceilings"].items():
        peak = c.get("peak_gflops") or {}
        text = c.get("error") or c.get("note") or ""
        if text:
            notes.append((key, "error" if c.get("error") else "note", text))
        t.add_row(escape(key), f(c.get("copy_gbps")), f(c.get("triad_gbps")), f(peak.get("float32")),
                  f(peak.get("float64")), f"{notes[-1][1]} {len(notes)}" if text else "")
    con.print(t)
    for i, (key, kind, text) in enumerate(notes, 1):
        con.print(f"{kind} {i}, {escape(key)}: {escape(text)}")
    con.print(("measured now; " if measured else "cached; ") + f"{path} (harness machine --refresh to re-measure)")
