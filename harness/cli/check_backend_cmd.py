"""`harness check-backend NAME`: the conformance check a backend (plugin) must pass.

Exit status: 0 when every check passes (skips are fine), 1 when one fails, 2 for a
usage error such as an unknown backend name."""
from __future__ import annotations

import json

import click

from .common import check_names, console, split_list


@click.command("check-backend")
@click.argument("name")
@click.option("--kernels", help="Only these kernels (default: every kernel the backend implements).")
@click.option("--dtypes", help="Only these dtypes (default: all; unsupported ones are reported as skipped).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def command(name: str, kernels: str | None, dtypes: str | None, as_json: bool) -> None:
    """Check backend NAME against the backend contract and every kernel's reference.

    Verifies transfers (bit-exact round trips per dtype), synchronisation, the timer,
    dtype reporting, and runs each kernel the backend implements at the "test" sizes
    against its reference and error bound. Plugin authors run it in their CI.
    """
    from ..conformance import as_dicts, check_backend
    from ..dtypes import DTYPES
    from ..registry import get_registry

    reg = get_registry()
    check_names("backend", [name], reg.backend_names, "NAME")
    kernel_names = check_names("kernel", split_list(kernels), reg.kernels, "--kernels")
    dtype_names = check_names("dtype", split_list(dtypes), DTYPES, "--dtypes") or list(DTYPES)

    if as_json:
        results = check_backend(reg, name, kernel_names or None, dtype_names)
        click.echo(json.dumps({"backend": name, "passed": all(r.passed for r in results),
                               "checks": as_dicts(results)}, indent=2))
    else:
        results = _run_with_progress(reg, name, kernel_names, dtype_names)
    raise SystemExit(0 if all(r.passed for r in results) else 1)


def _run_with_progress(reg, name, kernel_names, dtype_names):
    from ..conformance import check_backend

    con = console()
    with con.status(f"checking backend {name}") as status:
        results = check_backend(reg, name, kernel_names or None, dtype_names,
                                on_result=lambda r: status.update(f"checking backend {name}: {r.check}"))
    print_checks(con, name, reg.backend_origins.get(name, "builtin"), results)
    return results


def print_checks(con, name: str, origin: str, results) -> None:
    """One line per pass or failure with its full detail (a table cell cut at 80 columns
    hides the cause), then the skips grouped by reason: one unusable device skips every
    kernel with the same message."""
    from rich.markup import escape

    multi_device = len({r.device for r in results if r.device}) > 1
    style = {"pass": "[green]PASS[/]", "fail": "[red]FAIL[/]"}
    con.print(f"Conformance of backend {escape(name)} ({escape(origin)})")
    skips: dict[str, list[str]] = {}
    for r in results:
        label = f"{r.check} @ {r.device}" if multi_device and r.device else r.check
        if r.status == "skip":
            skips.setdefault(r.detail, []).append(label)
            continue
        took = f" ({r.seconds:.2f} s)" if r.seconds else ""
        con.print(f"{style[r.status]} {escape(label)}{took}: {escape(r.detail)}")
    for detail, labels in skips.items():
        con.print(f"[yellow]skip[/] {len(labels)} check(s): {escape(detail)}")
        con.print(f"  [dim]{escape('; '.join(labels))}[/]")
    n = {s: sum(r.status == s for r in results) for s in ("pass", "fail", "skip")}
    verdict = "[green]backend conforms[/]" if not n["fail"] else "[red]backend does not conform[/]"
    con.print(f"{verdict}: {n['pass']} passed, {n['fail']} failed, {n['skip']} skipped")
