"""Comparing two sets of results (runs, machines or commits) case by case.

Times are compared with a Mann-Whitney U test on the stored per-call samples, as asv
does: a ratio is only called a change when the two sample sets differ significantly.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..output_sample import sample_max_rel_diff
from .data import distinct, impl_label, is_failure, latest, load, num, verdict_of


class SelectionError(ValueError):
    """A selector that names no results, or more than one commit."""


@dataclass
class Selection:
    spec: str
    kind: str  # "run", "folder", "commit", "run_id"
    label: str
    records: list[dict[str, Any]]
    #: files and lines skipped while reading, as load_results warns of them
    warnings: list[str] = field(default_factory=list)


def select(spec: str, results: Sequence[str | Path]) -> Selection:
    """A results file (one run), a folder (a machine's runs) or a commit-hash prefix / run id
    within `results`."""
    p = Path(spec)
    if p.is_file():
        rs = load([p])
        if not rs.records:
            raise SelectionError(f"{spec}: no usable records" + (f" ({'; '.join(rs.warnings)})" if rs.warnings else ""))
        return Selection(spec, "run", p.name, rs.records, rs.warnings)
    if p.is_dir():
        rs = load([p])
        if not rs.records:
            raise SelectionError(f"{spec}: folder holds no usable results files")
        return Selection(spec, "folder", p.name or spec, rs.records, rs.warnings)
    folders = [Path(r) for r in results if Path(r).exists()]
    if not folders:
        raise SelectionError(f"{spec!r} is not a results file or folder, and there is no results folder "
                             f"({', '.join(map(str, results))}) to look up a commit in")
    by_run = load(folders, where={"run_id": spec})
    if by_run.records:
        return Selection(spec, "run_id", spec, by_run.records, by_run.warnings)
    if not re.fullmatch(r"[0-9a-fA-F]{4,64}", spec):
        raise SelectionError(f"{spec!r} is not a results file, a folder, a run id, or a commit hash prefix "
                             f"(at least 4 hex digits) in {', '.join(map(str, folders))}")
    commits = [c for c in distinct(folders, "commit") if c.lower().startswith(spec.lower())]
    if not commits:
        raise SelectionError(f"no results for commit {spec!r} in {', '.join(map(str, folders))}")
    if len(commits) > 1:
        raise SelectionError(f"commit prefix {spec!r} is ambiguous: {', '.join(c[:12] for c in commits)}")
    chosen = load(folders, where={"commit": commits[0]})
    return Selection(spec, "commit", commits[0][:10], chosen.records, chosen.warnings)


def _key(r: dict[str, Any], machine: bool, device: bool) -> tuple:
    k = (r["kernel"], r["impl"], r["backend"], r["dtype"], r["size"])
    return k + ((r["device"],) if device else ()) + ((r["machine_id"],) if machine else ())


def match(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> tuple[list[tuple[dict, dict]], int, int]:
    """Pairs of records for the same case. Machines are part of the key only when both
    sides have machines in common (comparing commits or runs on one machine); devices
    are matched by name, else by (kernel, impl, backend, dtype, size) where unique."""
    same_machines = bool({r["machine_id"] for r in a} & {r["machine_id"] for r in b})
    a = latest(a, key=lambda r: _key(r, same_machines, True))
    b = latest(b, key=lambda r: _key(r, same_machines, True))
    ia = {_key(r, same_machines, True): r for r in a}
    ib = {_key(r, same_machines, True): r for r in b}
    pairs = [(ia[k], ib[k]) for k in ia if k in ib]
    rest_a = [r for k, r in ia.items() if k not in ib]
    rest_b = [r for k, r in ib.items() if k not in ia]
    loose_a: dict[tuple, list] = {}
    loose_b: dict[tuple, list] = {}
    for r in rest_a:
        loose_a.setdefault(_key(r, same_machines, False), []).append(r)
    for r in rest_b:
        loose_b.setdefault(_key(r, same_machines, False), []).append(r)
    for k, ra in loose_a.items():
        rb = loose_b.get(k, [])
        if len(ra) == 1 and len(rb) == 1:
            pairs.append((ra[0], rb[0]))
    matched = len(pairs)
    pairs.sort(key=lambda p: (p[0]["kernel"], p[0]["dtype"], p[0]["size"] or 0, impl_label(p[0]), p[0]["device"]))
    return pairs, len(a) - matched, len(b) - matched


@dataclass
class Row:
    a: dict[str, Any]
    b: dict[str, Any]
    time_a: float | None
    time_b: float | None
    ratio: float | None
    p_value: float | None
    significant: bool
    verdict: str  # "slower", "faster", "same", "broke", "fixed", "n/a"
    d_rel_error: float | None

    def as_dict(self) -> dict[str, Any]:
        a = self.a
        return {"kernel": a["kernel"], "impl": a["impl"], "backend": a["backend"], "device_a": a["device"],
                "device_b": self.b["device"], "dtype": a["dtype"], "size": a["size"], "status_a": a["status"],
                "status_b": self.b["status"], "time_a_s": self.time_a, "time_b_s": self.time_b, "ratio": self.ratio,
                "p_value": self.p_value, "significant": self.significant, "verdict": self.verdict,
                "rel_error_a": num(a.get("rel_error")), "rel_error_b": num(self.b.get("rel_error")),
                "d_rel_error": self.d_rel_error, "bitwise_equal": bitwise_equal(a, self.b),
                "sample_max_rel_diff": num(sample_max_rel_diff(a.get("output_sample"), self.b.get("output_sample")))}


def bitwise_equal(a: dict[str, Any], b: dict[str, Any]) -> bool | None:
    """Equal output hashes; None where either record has none (failed or old records)."""
    ha, hb = a.get("output_sha256"), b.get("output_sha256")
    return None if not ha or not hb else ha == hb


def _samples(r: dict[str, Any]) -> list[float]:
    return [float(s) for s in (r.get("time_samples_s") or []) if num(s) is not None]


def compare_pair(a: dict[str, Any], b: dict[str, Any], alpha: float) -> Row:
    ta, tb = num(a.get("time_median_s")), num(b.get("time_median_s"))
    ea, eb = num(a.get("rel_error")), num(b.get("rel_error"))
    d_err = eb - ea if ea is not None and eb is not None else None
    a_ok, b_ok = a["status"] == "ok", b["status"] == "ok"
    if a_ok and is_failure(b):
        return Row(a, b, ta, None, None, None, False, "broke", d_err)
    if is_failure(a) and b_ok:
        return Row(a, b, None, tb, None, None, False, "fixed", d_err)
    if not (a_ok and b_ok and ta and tb):
        return Row(a, b, ta if a_ok else None, tb if b_ok else None, None, None, False, "n/a", d_err)
    ratio = tb / ta
    p = None
    sa, sb = _samples(a), _samples(b)
    if len(sa) >= 2 and len(sb) >= 2:
        from scipy.stats import mannwhitneyu

        p = float(mannwhitneyu(sa, sb, alternative="two-sided").pvalue)
        if math.isnan(p):
            p = None
    sig = p is not None and p < alpha
    verdict = ("slower" if ratio > 1 else "faster") if sig else "same"
    return Row(a, b, ta, tb, ratio, p, sig, verdict, d_err)


def compare(a: Selection, b: Selection, alpha: float = 0.05) -> tuple[list[Row], int, int]:
    pairs, only_a, only_b = match(a.records, b.records)
    return [compare_pair(x, y, alpha) for x, y in pairs], only_a, only_b


#: default factor by which rel_error may grow from A to B before it is a regression.
ERROR_FACTOR = 10.0


def accuracy_regression(row: Row, error_factor: float = ERROR_FACTOR) -> str:
    """Why B is less accurate than A ("" if it is not): a case within its bound in A and
    out of it in B, or rel_error grown beyond error_factor (errors below u are noise)."""
    va, vb = verdict_of(row.a), verdict_of(row.b)
    if va == "within" and vb in ("out_of_bound", "spec_error"):
        return f"within bound → {vb}"
    ea, eb = num(row.a.get("rel_error")), num(row.b.get("rel_error"))
    if va is None or vb is None or ea is None or eb is None:
        return ""
    floor = max(ea, num(row.b.get("u")) or 0.0)
    if eb > error_factor * floor:
        return f"rel_error {ea:.3g} → {eb:.3g} (> {error_factor:g}×)"
    return ""


def regressions(rows: list[Row], factor: float, error_factor: float = ERROR_FACTOR) -> list[Row]:
    """Significant slowdowns beyond `factor`, cases that ran in A and fail in B, and
    accuracy regressions (see accuracy_regression)."""
    return [r for r in rows if r.verdict == "broke" or accuracy_regression(r, error_factor) or
            (r.verdict == "slower" and r.ratio is not None and r.ratio > factor)]
