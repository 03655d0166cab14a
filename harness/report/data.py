"""Loading results for reports and the derived tables: speed relative to NumPy,
worst error ratios, fitted error slopes, crossovers, output-hash agreement.

Everything here works on plain records (dicts) so that a field missing from old or
imported (asv) results is simply absent, never an error.
"""
from __future__ import annotations

import math
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..record import FAILURE_STATUSES
from ..store import ResultsWarning, iter_runs

BASELINE_BACKEND = "numpy"


@dataclass
class Run:
    path: str
    header: dict[str, Any]
    n_records: int


@dataclass
class ResultSet:
    """All records of the given folders, with the run headers they came from."""

    records: list[dict[str, Any]] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def machines(self) -> list[str]:
        return sorted({r["machine_id"] for r in self.records if r.get("machine_id")})

    @property
    def kernels(self) -> list[str]:
        return sorted({r["kernel"] for r in self.records if r.get("kernel")})

    def machine_info(self) -> dict[str, dict[str, Any]]:
        """machine_id -> the fingerprint of its most recent run."""
        out: dict[str, dict[str, Any]] = {}
        for run in sorted(self.runs, key=lambda r: str(r.header.get("started") or "")):
            mid = run.header.get("machine_id")
            if mid:
                out[str(mid)] = run.header.get("machine") or {}
        return out


def _num(v: Any) -> float | None:
    """A finite float, or None (JSON nulls, strings, NaN)."""
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) or f == math.inf else None


def load(paths: Sequence[str | Path]) -> ResultSet:
    """Read every results file under `paths`; unusable files become warnings, not errors."""
    rs = ResultSet()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResultsWarning)
        for p in paths:
            for f, header, records in iter_runs(p):
                rs.runs.append(Run(str(f), header, len(records)))
                machine = header.get("machine") or {}
                for r in records:
                    row = dict(r)
                    for k in ("run_id", "machine_id", "commit"):
                        if row.get(k) is None:
                            row[k] = header.get(k)
                    if not row.get("kernel") or row.get("machine_id") is None:
                        continue
                    row["machine_id"] = str(row["machine_id"])
                    row["machine"] = machine if isinstance(machine, dict) else {}
                    row["file"] = str(f)
                    row["size"] = int(row["size"]) if _num(row.get("size")) is not None else None
                    for k in ("backend", "impl", "device", "dtype", "status", "kernel"):
                        row[k] = "" if row.get(k) is None else str(row[k])
                    rs.records.append(row)
    rs.warnings = [str(w.message) for w in caught]
    return rs


def impl_label(r: dict[str, Any]) -> str:
    """'torch' for a backend's own implementation, 'torch:array_api' for another one."""
    return r["backend"] if r["impl"] in ("", r["backend"]) else f"{r['backend']}:{r['impl']}"


def is_ok(r: dict[str, Any]) -> bool:
    return r.get("status") == "ok" and _num(r.get("time_median_s")) is not None


def is_failure(r: dict[str, Any]) -> bool:
    return r.get("status") in FAILURE_STATUSES


def verdict_of(r: dict[str, Any]) -> str | None:
    """The accuracy verdict of an ok record: "within", "out_of_bound", "unbounded" or
    "spec_error"; older records without `verdict` read it off accuracy_ok."""
    if r.get("status") != "ok":
        return None
    v = r.get("verdict")
    if v:
        return v
    ok = r.get("accuracy_ok")
    return None if ok is None else ("within" if ok else "out_of_bound")


def is_trusted(r: dict[str, Any]) -> bool:
    """Fit for speed advice: measured, and not out of bound or judged by a broken bound.
    Advice for a backend whose answers are wrong would recommend the wrong answer."""
    return is_ok(r) and verdict_of(r) not in ("out_of_bound", "spec_error")


def verdict_counts(recs: Iterable[dict[str, Any]]) -> Counter:
    return Counter(verdict_of(r) for r in recs if verdict_of(r))


def latest(records: Iterable[dict[str, Any]], key=lambda r: (r["machine_id"], r["kernel"], r["impl"],
                                                             r["backend"], r["device"], r["dtype"], r["size"])
           ) -> list[dict[str, Any]]:
    """One record per case and machine: the newest (reruns replace older measurements)."""
    best: dict[Any, dict[str, Any]] = {}
    for r in records:
        k = key(r)
        if k not in best or newness(r) >= newness(best[k]):
            best[k] = r
    return list(best.values())


def newness(r: dict[str, Any]) -> tuple[str, str]:
    """Newest commit first, then newest measurement. asv measures a range newest commit
    first, so by measurement time alone its oldest commit would read as the newest;
    asv records carry their commit's date (commit_date), a run's time stands for its own."""
    t = str(r.get("timestamp") or "")
    return str(r.get("commit_date") or t), t


def quantiles(r: dict[str, Any]) -> tuple[float | None, float | None]:
    """(q25, q75) of the stored samples, or median ± IQR/2 when only summaries exist."""
    samples = [s for s in (r.get("time_samples_s") or []) if _num(s) is not None]
    if len(samples) >= 2:
        import numpy as np

        q25, q75 = np.percentile(np.asarray(samples, dtype=float), [25, 75])
        return float(q25), float(q75)
    med, iqr = _num(r.get("time_median_s")), _num(r.get("time_iqr_s"))
    if med is None:
        return None, None
    if iqr is None:
        return med, med
    return max(med - iqr / 2, med * 1e-3), med + iqr / 2


def baseline_times(records: Iterable[dict[str, Any]]) -> dict[tuple, float]:
    """(machine, kernel, dtype, size) -> NumPy's median time: its own implementation
    where present, else the fastest NumPy implementation."""
    own: dict[tuple, float] = {}
    fastest: dict[tuple, float] = {}
    for r in records:
        if r["backend"] != BASELINE_BACKEND or not is_ok(r):
            continue
        k = (r["machine_id"], r["kernel"], r["dtype"], r["size"])
        t = float(r["time_median_s"])
        if r["impl"] == BASELINE_BACKEND:
            own[k] = min(t, own.get(k, math.inf))
        fastest[k] = min(t, fastest.get(k, math.inf))
    return {**fastest, **own}


def fit_slope(sizes: Sequence[float], values: Sequence[float]) -> float | None:
    """Least-squares slope of log(value) against log(size) over the positive values: the
    same fit as the stored error-growth rows (harness.growth.fit_loglog)."""
    from ..growth import fit_loglog

    return fit_loglog(sizes, values)["slope"]


def crossover(sizes: Sequence[int], ratio: Sequence[float]) -> dict[str, Any]:
    """Where a backend starts to beat the baseline, from its time ratio (backend / baseline)
    per size. `from` is the smallest measured size from which it wins at every larger
    measured size; `estimate` interpolates ratio = 1 in log-log between the last losing
    and the first winning size."""
    pts = sorted((s, q) for s, q in zip(sizes, ratio) if q is not None and math.isfinite(q) and q > 0)
    if not pts:
        return {"kind": "none"}
    wins = [q < 1 for _, q in pts]
    if all(wins):
        return {"kind": "always", "from": pts[0][0]}
    if not wins[-1]:
        return {"kind": "never", "best_ratio": min(q for _, q in pts), "up_to": pts[-1][0]}
    i = len(pts) - 1
    while i > 0 and wins[i - 1]:
        i -= 1
    (s0, q0), (s1, q1) = pts[i - 1], pts[i]
    est = None
    if q0 > 1 > q1 and s1 > s0:
        t = math.log(q0) / (math.log(q0) - math.log(q1))
        est = math.exp(math.log(s0) + t * (math.log(s1) - math.log(s0)))
    return {"kind": "from", "from": s1, "last_loss": s0, "estimate": est,
            "monotone": wins == sorted(wins)}


def hash_classes(records: Iterable[dict[str, Any]]) -> dict[str, str]:
    """output_sha256 -> a short class letter (A, B, ...), in order of first appearance,
    so that equal letters mean bitwise-identical outputs."""
    letters: dict[str, str] = {}
    for r in records:
        h = r.get("output_sha256")
        if h and h not in letters:
            n = len(letters)
            name = ""
            while True:
                name = chr(ord("A") + n % 26) + name
                n = n // 26 - 1
                if n < 0:
                    break
            letters[h] = name
    return letters


def throughput_kind(records: Iterable[dict[str, Any]]) -> str:
    """'gflops' for compute-bound kernels (≥ 4 flops per byte), else 'gbps'."""
    ratios = [(_num(r.get("flops")) or 0) / (_num(r.get("bytes")) or 1) for r in records
              if _num(r.get("flops")) is not None]
    if not ratios:
        return "gbps"
    ratios.sort()
    return "gflops" if ratios[len(ratios) // 2] >= 4 else "gbps"


def throughput(r: dict[str, Any], kind: str) -> float | None:
    v = _num(r.get(kind))
    if v is not None:
        return v
    med = _num(r.get("time_median_s"))
    amount = _num(r.get("flops" if kind == "gflops" else "bytes"))
    if med and amount is not None:
        return amount / med / 1e9
    return None


def ceilings(machine: dict[str, Any], backend: str, device: str) -> dict[str, Any]:
    """The device's measured ceilings from a run header (keyed "<backend>/<device>")."""
    from ..roofline import ceilings_for

    return ceilings_for(machine, backend, device)


def group(records: Iterable[dict[str, Any]], *keys: str) -> dict[tuple, list[dict[str, Any]]]:
    out: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        out[tuple(r.get(k) for k in keys)].append(r)
    return dict(out)


num = _num
