"""The verdict of one case: within its bound, out of bound, unbounded, or a spec error.

A bound that cannot fail says nothing (DESIGN.md, "Verdicts"): an infinite bound, or
a relative bound >= 1 that an output of zeros meets, gives "unbounded", never a pass.
A NaN or raising bound is the spec's fault and is reported as such. Of the bounds that
can fail (worst case, probabilistic), the tightest decides; the record names it in
`verdict_bound` and keeps the worst-case one beside it. Other checks (every position
of a scan, every checkpoint of an iteration, componentwise, non-finite positions)
can only turn "within" into "out_of_bound".

This module imports nothing from the harness, so accuracy.py can use it without a cycle.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

VERDICTS = ("within", "out_of_bound", "unbounded", "spec_error")


def eval_bound(fn: Callable[[Any], float], ctx: Any) -> tuple[float | None, str]:
    """(value, problem): a raising or NaN bound is a spec error, never a silent pass."""
    try:
        value = float(fn(ctx))
    except Exception as exc:  # the bound's own bug, reported rather than hidden
        return None, f"bound raised {type(exc).__name__}: {exc}"
    if math.isnan(value):
        return None, "bound is NaN"
    if value < 0:
        return None, f"bound is negative ({value:.3g})"
    return value, ""


def vacuity(bound: float, relative: bool) -> str:
    """Why a bound cannot fail, or "" when it can."""
    if math.isinf(bound):
        return "bound is infinite (n·u >= 1: γ_n says nothing)"
    if relative and bound >= 1.0:
        return f"relative bound {bound:.3g} >= 1: an output of zeros would pass"
    return ""


def ratio(err: float | None, bound: float) -> float:
    """error/bound; a NaN error or any error against a zero bound is infinitely over."""
    if err is None or math.isnan(err):
        return math.inf
    if bound > 0:
        return err / bound
    return 0.0 if err == 0 else math.inf


def choose(candidates: Sequence[tuple[str, float, str]], relative: bool) -> tuple[tuple | None, list[str]]:
    """The tightest bound that can fail, and why each other one could not."""
    usable, why = [], []
    for name, value, kind in candidates:
        reason = vacuity(value, relative)
        if reason:
            why.append(f"{name}: {reason}")
        else:
            usable.append((name, value, kind))
    return (min(usable, key=lambda c: c[1]) if usable else None), why


def checkpoint_ratio(profile: Any, relative: bool) -> float | None:
    """max error/bound over the checkpoints of a profile whose bounds can fail."""
    if not isinstance(profile, dict) or "error" not in profile or "bound" not in profile:
        return None
    worst = None
    for e, b in zip(profile["error"], profile["bound"]):
        b = math.nan if b is None else float(b)
        if math.isnan(b) or vacuity(b, relative):
            continue
        r = ratio(None if e is None else float(e), b)
        worst = r if worst is None else max(worst, r)
    return worst


def _worst_note(err: float, candidates: Sequence[tuple[str, float, str]], decider: str, relative: bool) -> str:
    """When only the probabilistic bound failed, say whether the worst-case one still holds:
    its model (independent, mean-zero rounding errors) fails under stagnation, e.g. a long
    recursive sum of positive terms, where the output is poor but not provably wrong."""
    name, value, _ = candidates[0]
    if decider == name or vacuity(value, relative):
        return ""
    r = ratio(err, value)
    return f" (worst-case bound {'holds' if r <= 1 else 'fails too'}: error/bound {r:.3g})"


def judge(err: float, candidates: Sequence[tuple[str, float, str]], relative: bool,
          checks: dict[str, float | None], problems: Sequence[str]) -> dict[str, Any]:
    """Verdict fields from the main error, its candidate bounds and the extra checks.

    candidates: (name, value, kind) of every bound, the worst case first.
    checks: name -> ratio (≤ 1 is within) of the further checks; None = not applicable.
    problems: reasons that make the output wrong whatever the bound (non-finite positions).
    """
    worst_name, worst_value, worst_kind = candidates[0]
    best, why = choose(candidates, relative)
    res: dict[str, Any] = {"worst_case_bound": worst_value, "worst_case_kind": worst_kind}
    live = {k: v for k, v in checks.items() if v is not None}
    if best is None and not live:
        res.update(verdict="unbounded", verdict_reason="; ".join(why), verdict_bound=None,
                   error_bound=worst_value, bound_kind=worst_kind, error_ratio=None, accuracy_ok=False)
        return res
    over = [f"{k}: error/bound {v:.3g}" for k, v in live.items() if not v <= 1.0] + list(problems)
    if best is None:  # the normwise bound says nothing, but a finer check can still fail
        res.update(error_bound=worst_value, bound_kind=worst_kind, error_ratio=None,
                   verdict_bound="+".join(live))
        over.append("normwise: " + "; ".join(why))
        ok = not over[:-1]
    else:
        name, value, kind = best
        res.update(error_bound=value, bound_kind=kind, verdict_bound=name, error_ratio=ratio(err, value))
        if not res["error_ratio"] <= 1.0:
            over.insert(0, f"{name} bound: error/bound {res['error_ratio']:.3g}" + _worst_note(err, candidates, name, relative))
        ok = not over
    res.update(verdict="within" if ok else "out_of_bound", verdict_reason="; ".join(over), accuracy_ok=ok)
    return res
