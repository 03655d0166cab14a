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
              show_default=True, help="Harness results folder; files go to OUT/<machine id>/asv-<commit>-<env>.jsonl.")
@click.option("--machine", help="Import this asv machine (default: this machine, by its harness id; "
                                "another machine's go only into a folder that does not exist yet).")
@click.option("--failures", type=click.Path(dir_okay=False, path_type=Path),
              default=Path(".asv") / "harness-failures.jsonl", show_default=True,
              help="Reasons benchmark processes recorded for their failures (asv keeps no stderr).")
@click.option("--quiet", is_flag=True, help="Print nothing but errors.")
def command(asv_results, out_dir, machine, failures, quiet):
    """Import asv benchmark results (time, accuracy, peak memory per commit) as harness records."""
    from ..asv_bridge import AsvImportError, ForeignDestination, asv_machines, default_results_dir, import_asv
    from ..machine import machine_id

    results_dir = asv_results if asv_results is not None else default_results_dir()
    if not results_dir.is_dir():
        raise click.BadParameter(f"{results_dir} is not a folder of asv results; run `asv run` first "
                                 "or point --asv-results at asv's results_dir", param_hint="--asv-results")
    try:
        wanted = machine or machine_id()
        written = import_asv(results_dir, out_dir, machine=wanted, failures=failures)
    except ForeignDestination as exc:
        raise click.UsageError(str(exc)) from exc
    except (AsvImportError, ValueError) as exc:  # ValueError: a bad HARNESS_MACHINE_ID
        raise click.ClickException(str(exc)) from exc
    if not written:
        known = asv_machines(results_dir)
        hint = (f"; asv machines there: {', '.join(known)} (name this one with `harness asv-machine`, "
                "or pick one with --machine)") if known else ""
        raise click.UsageError(f"no asv results of kernel-harness benchmarks under {results_dir} "
                               f"for machine {wanted!r}{hint}")
    if not quiet:
        con = console()
        for path, n in written:
            con.print(f"{n} records -> {path}")
        con.print(f"imported {len(written)} asv results file(s) of {wanted} into {out_dir}")
