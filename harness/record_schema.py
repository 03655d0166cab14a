"""Checking one parsed results line against the types of the record schema (harness/record.py).

A results file can be damaged, hand-edited or written by someone else's tool: valid JSON
is not yet a usable record. `rel_error: 10**400` overflows every float conversion,
`size: true` or `size: "1000"` breaks sorting and grouping, `time_median_s: -1` shows as
a negative time, `case_id: ""` merges unrelated cases, and a name holding a bidi override
(U+202E) can make one implementation look like another. Readers would each fail in
their own way (OverflowError, TypeError, AttributeError), so the store checks every line
here once and skips a bad one with a warning that names the file, the line and why.

Only the fields whose meaning the schema fixes are checked; further fields pass, except
that no number anywhere at the top level may lie outside the float range.
"""
from __future__ import annotations

import math
import unicodedata
from typing import Any, Iterable

from .record import STATUSES

#: Names of a case: non-empty text without control or invisible formatting characters.
NAME_FIELDS = ("case_id", "kernel", "impl", "backend", "device", "dtype")
TEXT_FIELDS = ("message", "machine_id", "commit", "run_id", "timestamp", "out_dtype", "output_sha256",
               "inputs_sha256", "timer", "verdict", "verdict_reason", "bound_kind", "cache_state",
               "accumulation_dtype", "source", "isolation", "peak_rss_method", "reference_method")
#: Counts and sizes: integers >= 0 (a bool is not an integer here).
COUNT_FIELDS = ("n_samples", "seed", "loops", "warmup_calls", "nonfinite", "nonfinite_mismatch",
                "worker_pid", "mem_estimate_bytes", "peak_rss_bytes", "rss_before_bytes",
                "reference_precision", "peak_device_bytes")
#: Times, errors, bounds and rates: numbers >= 0, or "inf".
NONNEGATIVE_FIELDS = ("time_median_s", "time_iqr_s", "time_min_s", "compile_s", "transfer_s", "h2d_s",
                      "d2h_s", "timer_overhead_s", "warmup_s", "case_wall_s", "rel_error", "max_rel_error",
                      "max_ulp", "error_bound", "error_ratio", "u", "flops", "bytes", "gflops", "gbps",
                      "worst_case_bound", "probabilistic_bound", "minor_faults_per_call")
BOOL_FIELDS = ("accuracy_ok", "deterministic", "accumulation_measured", "reference_independent",
               "warmup_steady")
DICT_FIELDS = ("threads", "divergence", "error_model", "profile", "device_meta", "output_sample",
               "accumulation_probe")
#: Header fields: their type, when present and not null.
HEADER_TYPES = {"machine": dict, "options": dict, "argv": list, "run_id": str, "machine_id": str,
                "commit": str, "started": str}


def hidden_character(text: str) -> str | None:
    """The first control or invisible formatting character (bidi overrides, zero-width
    spaces: Unicode categories Cc, Cf, Zl, Zp) in `text`, as 'U+202E', or None."""
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            return f"U+{ord(ch):04X}"
    return None


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _float_problem(v: Any) -> str | None:
    """Why `v` (a parsed JSON number) cannot be a float, or None."""
    try:
        f = float(v)
    except OverflowError:
        return "is out of the float range"
    return None if math.isfinite(f) else "is not finite"


def _nonnegative_problem(v: Any) -> str | None:
    if v is None or v == "inf":
        return None
    if not _is_number(v):
        return "is not a number"
    return _float_problem(v) or ("is negative" if v < 0 else None)


def _name_problems(obj: dict[str, Any]) -> Iterable[str]:
    for k in NAME_FIELDS:
        v = obj.get(k)
        if not isinstance(v, str) or not v.strip():
            yield f"{k} {v!r} is not a non-empty string"
        elif k != "device" and (ch := hidden_character(v)):  # device names are the driver's words
            yield f"{k} {v!r} holds the invisible or control character {ch}"


def _typed_problems(obj: dict[str, Any]) -> Iterable[str]:
    size = obj.get("size")
    if not (isinstance(size, int) and not isinstance(size, bool) and size >= 0):
        yield f"size {size!r} is not an integer >= 0"
    for k in TEXT_FIELDS:
        if obj.get(k) is not None and not isinstance(obj[k], str):
            yield f"{k} {obj[k]!r} is not a string"
    for k in COUNT_FIELDS:
        v = obj.get(k)
        if v is not None and not (isinstance(v, int) and not isinstance(v, bool) and v >= 0):
            yield f"{k} {v!r} is not an integer >= 0"
    for k in NONNEGATIVE_FIELDS:
        if (p := _nonnegative_problem(obj.get(k))):
            yield f"{k} {obj[k]!r:.40} {p}"
    for k in BOOL_FIELDS:
        if obj.get(k) is not None and not isinstance(obj[k], bool):
            yield f"{k} {obj[k]!r} is not true, false or null"
    for k in DICT_FIELDS:
        if obj.get(k) is not None and not isinstance(obj[k], dict):
            yield f"{k} is not an object"


def _samples_problem(samples: Any) -> str | None:
    if samples is None:
        return None
    if not isinstance(samples, list):
        return "time_samples_s is not a list"
    bad = next((s for s in samples if _nonnegative_problem(s)), None) if samples else None
    return None if bad is None else f"time_samples_s holds {bad!r:.40}, not a time"


def record_problem(obj: dict[str, Any]) -> str | None:
    """Why a parsed record line (without its "kind") is unusable, or None if it is fine."""
    if obj.get("status") not in STATUSES:
        return f"unknown status {obj.get('status')!r:.40}"
    for problem in _name_problems(obj):
        return problem
    for problem in _typed_problems(obj):
        return problem
    if (p := _samples_problem(obj.get("time_samples_s"))):
        return p
    for k, v in obj.items():
        if _is_number(v) and (p := _float_problem(v)) == "is out of the float range":
            return f"{k} {p}"
    return None


def header_problem(header: dict[str, Any]) -> str | None:
    """Why a results file's header (schema already checked) is unusable, or None."""
    for k, kind in HEADER_TYPES.items():
        v = header.get(k)
        if v is not None and not isinstance(v, kind):
            return f"the header's {k!r} is {type(v).__name__} {v!r:.40}, not {kind.__name__}: damaged header"
    return None


def drop_duplicates(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """(records with the first record of each case_id, the case_ids dropped).

    A run file holds each case once; a second record of a case comes from two `harness
    run --resume` writing at once (or a resume of a run still going). Counting both would
    weigh that case twice in every table."""
    seen: set[str] = set()
    kept, dropped = [], []
    for r in records:
        if r["case_id"] in seen:
            dropped.append(r["case_id"])
        else:
            seen.add(r["case_id"])
            kept.append(r)
    return kept, dropped
