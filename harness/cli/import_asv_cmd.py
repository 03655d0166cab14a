"""`harness import-asv`: turn asv's per-commit results into harness results files, so that
`harness report` shows history across commits (see harness/asv_bridge.py)."""
from __future__ import annotations

from pathlib import Path

import click

from .common import console


@click.command("import-asv")
@click.option("--asv-results", "asv_results", type=click.Path(path_type=Path),
              help="asv's results folder (default: results_dir of ./asv.conf.json, else results/asv).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
              show_default=True, help="Harness results folder; files go to OUT/<asv machine>/asv-<commit>-<env>.jsonl.")
@click.option("--machine", help="Import only this asv machine (default: all).")
@click.option("--quiet", is_flag=True, help="Print nothing but errors.")
def command(asv_results, out_dir, machine, quiet):
    """Import asv benchmark results (time, accuracy, peak memory per commit) as harness records."""
    from ..asv_bridge import AsvImportError, default_results_dir, import_asv

    results_dir = asv_results if asv_results is not None else default_results_dir()
    if not results_dir.is_dir():
        raise click.BadParameter(f"{results_dir} is not a folder of asv results; run `asv run` first "
                                 "or point --asv-results at asv's results_dir", param_hint="--asv-results")
    try:
        written = import_asv(results_dir, out_dir, machine=machine)
    except AsvImportError as exc:
        raise click.ClickException(str(exc)) from exc
    if not written:
        raise click.UsageError(f"no asv results of kernel-harness benchmarks under {results_dir}"
                               + (f" for machine {machine!r}" if machine else ""))
    if not quiet:
        con = console()
        for path, n in written:
            con.print(f"{n} records -> {path}")
        con.print(f"imported {len(written)} asv results file(s) into {out_dir}")
