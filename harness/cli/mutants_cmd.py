"""`harness mutants`: the mutation score of the accuracy check.

Exit status: 0 when the correct implementations all pass and the score reaches
--min-score, 1 otherwise, 2 for a usage error."""
from __future__ import annotations

import json

import click

from .common import check_names, split_list


@click.command("mutants")
@click.option("--kernels", help="Only these kernels (default: all).")
@click.option("--dtypes", default="float32,float64", show_default=True, help="dtypes to run the mutants in.")
@click.option("--min-score", type=float, default=0.0, show_default=True,
              help="Fail (exit 1) when the overall share caught is below this (0..1).")
@click.option("--list", "list_only", is_flag=True, help="List the mutants (realistic or not) without running them.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def command(kernels: str | None, dtypes: str, min_score: float, list_only: bool, as_json: bool) -> None:
    """Run deliberately wrong implementations of every kernel (harness/mutants.py)
    through the runner's accuracy verdict at the "test" sizes; report the share caught
    per kernel and overall, and check the correct implementations all pass."""
    from ..dtypes import DTYPES
    from ..mutants import format_score, run_mutants, score
    from ..registry import get_registry

    reg = get_registry()
    kernel_names = check_names("kernel", split_list(kernels), reg.kernels, "--kernels")
    dtype_names = check_names("dtype", split_list(dtypes), DTYPES, "--dtypes")
    if list_only:
        _list(kernel_names, as_json)
        return
    s = score(run_mutants(kernel_names or None, dtype_names, reg))
    click.echo(json.dumps(s, indent=2) if as_json else format_score(s))
    raise SystemExit(0 if s["false_alarms"] == 0 and (s["share"] or 0.0) >= min_score else 1)


def _list(kernel_names, as_json: bool) -> None:
    from ..mutants import all_mutants

    ms = [m for m in all_mutants() if not kernel_names or m.kernel in kernel_names]
    if as_json:
        click.echo(json.dumps([{"kernel": m.kernel, "name": m.name, "realistic": m.realistic,
                                "stage": m.stage, "description": m.description} for m in ms], indent=2))
        return
    for m in ms:
        click.echo(f"{m.kernel:<15}{m.name:<26}{'realistic' if m.realistic else 'not realistic':<15}{m.description}")
