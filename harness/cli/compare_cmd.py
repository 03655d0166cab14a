"""`harness compare A B`: the time ratio of every case two result sets share, with a
Mann-Whitney U test on the stored samples and the change in rel_error.

A and B may be commits named as git names them (`harness compare origin/main HEAD`):
a name that is not a results file, folder or run id is resolved with `git rev-parse`
and looked up by its hash, so asv's results of two commits, once imported, are
gated on time and accuracy alike (docs/asv.md, CI)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .common import console


def _t(v):
    from .summary import fmt_time as _fmt_time

    return _fmt_time(v) if v is not None else "–"


@click.command("compare")
@click.argument("a")
@click.argument("b")
@click.option("--results", "results", multiple=True, type=click.Path(path_type=Path),
              help="Where commit hashes and run ids are looked up (repeatable; default: results).")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05, show_default=True,
              help="Significance level of the Mann-Whitney U test.")
@click.option("--fail-on-regression", "factor", type=click.FloatRange(min=1.0),
              help="Exit 1 if any case is significantly slower in B by more than FACTOR (e.g. 1.1), "
                   "ran in A and fails in B, went from within its error bound to out of it, or its "
                   "rel_error grew beyond --error-factor.")
@click.option("--error-factor", type=click.FloatRange(min=1.0), default=10.0, show_default=True,
              help="With --fail-on-regression: how far rel_error may grow from A to B (errors below the "
                   "unit roundoff u count as u).")
@click.option("--changed", is_flag=True, help="Show only significant changes, failures and fixes.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def command(a, b, results, alpha, factor, error_factor, changed, as_json):
    """Compare B against A. A and B are each a results file (a run), a folder (a machine's
    results), a run id, or a commit-hash prefix found under --results."""
    from ..report.compare import SelectionError, accuracy_regression, compare, regressions, select

    folders = list(results) or [Path("results")]
    try:
        sel_a = select(git_commit_of(a), folders)
        sel_b = select(git_commit_of(b), folders)
    except SelectionError as exc:
        raise click.UsageError(str(exc)) from exc
    print_load_warnings(sel_a, sel_b)
    rows, only_a, only_b = compare(sel_a, sel_b, alpha)
    if not rows:
        raise click.UsageError(f"{a} and {b} have no case in common ({only_a} case(s) only in A, {only_b} only in B); "
                               "compare results of the same kernels, dtypes and sizes")
    bad = regressions(rows, factor, error_factor) if factor is not None else []
    both_skipped = [r for r in rows if r.a["status"] == "skipped" and r.b["status"] == "skipped"]
    rows = [r for r in rows if not (r.a["status"] == "skipped" and r.b["status"] == "skipped")]
    shown = [r for r in rows if not changed or r.verdict not in ("same", "n/a")]
    if as_json:
        click.echo(json.dumps({"a": {"spec": a, "kind": sel_a.kind}, "b": {"spec": b, "kind": sel_b.kind},
                               "alpha": alpha, "error_factor": error_factor,
                               "rows": [{**r.as_dict(), "accuracy_regression": accuracy_regression(r, error_factor)}
                                        for r in shown], "only_a": only_a,
                               "only_b": only_b, "skipped_both": len(both_skipped),
                               "regressions": len(bad)}, indent=1))
    else:
        _print(rows, shown, sel_a, sel_b, only_a, only_b, alpha, factor, bad, len(both_skipped))
        for r in bad:
            why = accuracy_regression(r, error_factor)
            if why:
                console().print(f"accuracy regression: {r.a['kernel']} {impl_label_of(r.a)} {r.a['dtype']} "
                                f"n={r.a['size']}: {why}", markup=False)
    if bad:
        sys.exit(1)


def print_load_warnings(*selections) -> None:
    """The files and lines skipped while reading A and B, each once, on stderr (so that
    --json output stays parseable): a comparison of damaged results must say so."""
    for w in dict.fromkeys(w for sel in selections for w in sel.warnings):
        click.echo(f"warning: {w}", err=True)


def git_commit_of(spec: str) -> str:
    """The full hash of a git name (HEAD, origin/main, a tag, a short hash); `spec`
    itself when it names a path or git does not know it (a run id, a hash of results
    from elsewhere)."""
    import subprocess

    if Path(spec).exists() or spec.startswith("-"):
        return spec
    try:
        out = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return spec
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else spec


def impl_label_of(rec) -> str:
    from ..report.data import impl_label

    return impl_label(rec)


def _print(rows, shown, sel_a, sel_b, only_a, only_b, alpha, factor, bad, n_skipped):
    from rich.markup import escape
    from rich.table import Table

    from ..report.data import impl_label
    from ..report.units import error_cell

    con = console()
    t = Table(title=f"B = {escape(sel_b.label)} ({sel_b.kind}) against A = {escape(sel_a.label)} ({sel_a.kind})",
              title_justify="left")
    for c, j in (("kernel", "left"), ("impl", "left"), ("dtype", "left"), ("size", "right"), ("A median", "right"),
                 ("B median", "right"), ("B/A", "right"), ("p (MWU)", "right"), ("", "left"),
                 ("rel_error A", "right"), ("rel_error B", "right"), ("Δ rel_error", "right")):
        t.add_column(c, justify=j)
    bad_ids = {id(r) for r in bad}
    for r in shown:
        colour = {"slower": "red", "faster": "green", "broke": "red", "fixed": "green"}.get(r.verdict, "")
        verdict = r.verdict if r.verdict != "n/a" else f"{r.a['status']} → {r.b['status']}"
        if id(r) in bad_ids:
            verdict += " ✗ regression"
        ratio = f"{r.ratio:.3f}" if r.ratio is not None else "–"
        if colour:
            verdict = f"[{colour}]{escape(verdict)}[/]"
            ratio = f"[{colour}]{ratio}[/]"
        else:
            verdict = escape(verdict)
        t.add_row(escape(r.a["kernel"]), escape(impl_label(r.a)), escape(r.a["dtype"]), str(r.a["size"]),
                  _t(r.time_a), _t(r.time_b), ratio, f"{r.p_value:.2g}" if r.p_value is not None else "–", verdict,
                  error_cell(r.a.get("rel_error"), _metric(r.a)), error_cell(r.b.get("rel_error"), _metric(r.b)),
                  f"{r.d_rel_error:+.3g}" if r.d_rel_error is not None else "–")
    con.print(t)
    n = {v: sum(1 for r in rows if r.verdict == v) for v in ("slower", "faster", "same", "broke", "fixed")}
    con.print(f"{len(rows)} matched case(s): {n['slower']} significantly slower, {n['faster']} faster, "
              f"{n['same']} no significant change (alpha {alpha}), {n['broke']} newly failing, {n['fixed']} fixed; "
              f"{only_a} only in A, {only_b} only in B; {n_skipped} skipped on both sides (not shown).")
    if factor is not None:
        con.print(f"[red]{len(bad)} regression(s) beyond {factor}×[/]" if bad else
                  f"[green]no regression beyond {factor}×[/]")


def _metric(r: dict) -> str:
    """The error metric of a record, so that mismatch fractions get no digits."""
    em = r.get("error_model")
    return str(em.get("metric") or "") if isinstance(em, dict) else ""
