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

from ..columnar import fetch_records, open_entries, query
from ..record import FAILURE_STATUSES
from ..store import ResultsWarning

BASELINE_BACKEND = "numpy"


@dataclass
class Run:
    path: str
    header: dict[str, Any]
    n_records: int


@dataclass
class ResultSet:
    """What the report draws from the given folders, aggregated so that its size does not
    grow with the number of runs: the newest record of each case on each machine (whole,
    with samples and output samples), per-commit medians for the history, counts.

    Only the summary columns of every record are read; whole records only for the newest."""

    records: list[dict[str, Any]] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: one row per (machine, case, commit): median time and error over that commit's runs.
    history: list[dict[str, Any]] = field(default_factory=list)
    #: every record read, before keeping the newest per case.
    n_records: int = 0
    #: machine_id -> {"records", "ok", "commits"} over every record of that machine.
    machine_stats: dict[str, dict[str, Any]] = field(default_factory=dict)

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


#: the newest record per these fields is the one the pages show (reruns replace older ones).
CASE_KEY = ("machine_id", "kernel", "impl", "backend", "device", "dtype", "size")
TEXT_FIELDS = ("backend", "impl", "device", "dtype", "status", "kernel")
#: the summary columns the aggregation reads from every record.
SUMMARY_FIELDS = (*CASE_KEY, "status", "commit", "run_id", "timestamp", "time_median_s", "rel_error",
                  "error_ratio", "verdict", "commit_date", "message")
#: a kernel page's history shows this many commits at most (the newest), so that its size
#: stays bounded however long the history.
HISTORY_COMMITS = 100


def _summary_frame(paths: Sequence[str | Path], where: dict[str, Any] | None):
    """(entries, the summary columns of every usable record, normalised as report rows are)."""
    import pandas as pd

    entries = []
    for p in paths:
        entries += open_entries([p])
    df = query(entries, SUMMARY_FIELDS, where, position=True)
    df = df[df["kernel"].notna() & (df["kernel"].astype(str) != "") & df["machine_id"].notna()].copy()
    for k in (*TEXT_FIELDS, "machine_id"):
        df[k] = df[k].fillna("").astype(str)
    df["size"] = pd.to_numeric(df["size"], errors="coerce")
    df["timestamp"] = df["timestamp"].fillna("").astype(str)
    for k in ("time_median_s", "rel_error", "error_ratio"):
        df[k] = pd.to_numeric(df[k], errors="coerce")
    return entries, df


def _newest(df):
    """The newest row of each case and machine; equal timestamps: the later file and line."""
    newest = df.sort_values(["timestamp", "_entry", "_row"], kind="stable")
    newest = newest.drop_duplicates(subset=list(CASE_KEY), keep="last")
    return newest.sort_values(["_entry", "_row"], kind="stable")


def _report_row(rec: dict[str, Any], header: dict[str, Any], path: str) -> dict[str, Any]:
    row = dict(rec)
    machine = header.get("machine") or {}
    row["machine_id"] = str(row["machine_id"])
    row["machine"] = machine if isinstance(machine, dict) else {}
    row["file"] = path
    row["size"] = int(row["size"]) if _num(row.get("size")) is not None else None
    for k in TEXT_FIELDS:
        row[k] = "" if row.get(k) is None else str(row[k])
    return row


def _machine_stats(df) -> dict[str, dict[str, Any]]:
    out = {}
    for mid, rows in df.groupby("machine_id", sort=True):
        commits = rows["commit"].dropna().astype(str)
        out[str(mid)] = {"records": int(len(rows)), "ok": int((rows["status"] == "ok").sum()),
                         "commits": sorted({c[:8] for c in commits.unique() if c})}
    return out


def history_rows(df, max_commits: int = HISTORY_COMMITS) -> list[dict[str, Any]]:
    """Per machine, case and commit: the median time and error over that commit's ok runs,
    its first timestamp and run count, or, at a commit where the case never ran ok, its
    newest failure with the reason; only the newest `max_commits` commits of each kernel,
    and of each series (machine, implementation, device, dtype) only its largest size."""
    df = df[df["commit"].notna() & df["size"].notna() & (df["status"] != "skipped")]
    df = df.assign(commit=df["commit"].astype(str))
    df = df[df["commit"] != ""]
    ok = df[(df["status"] == "ok") & df["time_median_s"].notna()]
    if df.empty:
        return []
    first = df.groupby(["kernel", "commit"], sort=False)["timestamp"].min().reset_index()
    first["rank"] = first.groupby("kernel")["timestamp"].rank(method="first", ascending=False)
    keep = first[first["rank"] <= max_commits][["kernel", "commit"]]
    df, ok = df.merge(keep, on=["kernel", "commit"]), ok.merge(keep, on=["kernel", "commit"])
    # The history plot draws the largest size of each series: only those rows are kept,
    # else there would be one row per record kept (a commit a night is a row a record).
    series = ["machine_id", "kernel", "backend", "impl", "device", "dtype"]
    ok = ok[ok["size"] == ok.groupby(series)["size"].transform("max")]
    failed = _failures_without_ok(df, ok, series)
    agg = ok.groupby([*CASE_KEY, "commit"], sort=True, dropna=False).agg(
        time_median_s=("time_median_s", "median"), rel_error=("rel_error", "median"),
        error_ratio=("error_ratio", "median"), timestamp=("timestamp", "min"),
        n_runs=("time_median_s", "size"), commit_date=("commit_date", "first"),
        verdict=("verdict", "last")).reset_index()
    agg["status"] = "ok"
    rows = agg.to_dict("records") + failed
    for r in rows:
        r["size"] = int(r["size"])
    return rows


def _failures_without_ok(df, ok, series: list[str]) -> list[dict[str, Any]]:
    """The newest failure of each (case, commit) with no ok run, at the series' largest
    size: a commit that broke a case is a point of its history, with its reason."""
    bad = df[df["status"] != "ok"]
    if bad.empty:
        return []
    done = set(map(tuple, ok[[*CASE_KEY, "commit"]].astype(str).values.tolist()))
    bad = bad[[tuple(x) not in done for x in bad[[*CASE_KEY, "commit"]].astype(str).values.tolist()]]
    largest = df.groupby(series)["size"].transform("max")
    bad = bad[bad["size"] == largest.loc[bad.index]]
    bad = bad.sort_values("timestamp").drop_duplicates(subset=[*CASE_KEY, "commit"], keep="last")
    return [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items() if not str(k).startswith("_")}
            for r in bad.to_dict("records")]




def load(paths: Sequence[str | Path], where: dict[str, Any] | None = None) -> ResultSet:
    """Read every results file under `paths` (the records matching `where`, a
    columnar.query condition); unusable files become warnings, not errors."""
    rs = ResultSet()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResultsWarning)
        entries, df = _summary_frame(paths, where)
        newest = _newest(df)
        picks: dict[int, list[int]] = defaultdict(list)
        for e, r in zip(newest["_entry"], newest["_row"]):
            picks[int(e)].append(int(r))
        full = fetch_records(entries, picks)
    rs.warnings = [str(w.message) for w in caught]
    rs.runs = [Run(str(e.source), e.header, e.n_records) for e in entries]
    rs.records = [_report_row(full[(int(e), int(r))], entries[int(e)].header, str(entries[int(e)].source))
                  for e, r in zip(newest["_entry"], newest["_row"])]
    rs.history = history_rows(df)
    rs.n_records = len(df)
    rs.machine_stats = _machine_stats(df)
    return rs


def distinct(paths: Sequence[str | Path], column: str) -> list[str]:
    """The distinct non-empty values of one field over every record under `paths`
    (e.g. the commits a prefix may name), reading that column only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResultsWarning)
        df = query([e for p in paths for e in open_entries([p])], [column])
    return sorted({str(v) for v in df[column].dropna() if str(v)})


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
