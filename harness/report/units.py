"""Units a person reads: correct decimal digits beside a relative error, the bound in
the same digits with its kind, and throughput with the share of the machine's roofline
beside a time.

"rel_error 6.5e-08" asks the reader to take a logarithm; "7.2 correct digits" does not.
A bound of 6e-05 becomes "≥ 4.2 digits guaranteed (rigorous)": the number of digits
the error model promises, in the same units as the measurement, so the distance between
promise and measurement reads off directly. Digits only mean something for relative
errors, so for mismatch metrics (fractions of wrong pixels) the digits are left out.
"""
from __future__ import annotations

import math
from typing import Any

from .data import num, throughput
from .html import fmt, text_esc


def correct_digits(err: Any) -> float | None:
    """−log10 of a relative error: inf for an exact result, None where there is no error
    (missing, NaN or negative). Not clipped: an error above 1 gives negative digits."""
    e = num(err)
    if e is None or e < 0 or math.isinf(e):
        return None
    return math.inf if e == 0 else -math.log10(e)


def has_digits(metric: Any) -> bool:
    """True for relative-error metrics; mismatch fractions are counts, not digits."""
    return "mismatch" not in str(metric or "")


def fmt_digits(digits: float | None, spec: str = ".1f") -> str:
    """"7.2", "exact", or "0.0" for an error of 100% or more (no correct digit)."""
    if digits is None:
        return "–"
    if math.isinf(digits):
        return "exact"
    return format(max(digits, 0.0), spec)


def digits_text(err: Any) -> str:
    """"7.2 digits", "exact", "" without an error: for hover text and tables."""
    d = correct_digits(err)
    if d is None:
        return ""
    return "exact" if math.isinf(d) else f"{fmt_digits(d)} digits"


def error_cell(err: Any, metric: Any = "normwise") -> str:
    """A rel_error with its correct digits beside it, e.g. "6.5e-08 (7.2 digits)"."""
    text = fmt(num(err))
    d = digits_text(err) if has_digits(metric) else ""
    return f"{text} ({d})" if d else text


def bound_kind(r: dict[str, Any]) -> str:
    """The kind of the bound that judged a record (harness.accuracy.BOUND_KINDS), older
    records: the kind of their error model."""
    em = r.get("error_model") if isinstance(r.get("error_model"), dict) else {}
    return str(r.get("bound_kind") or em.get("kind") or "")


def bound_cell(r: dict[str, Any], metric: Any = "normwise") -> str:
    """The error bound with the digits it guarantees and its kind, e.g.
    "6e-05 (≥ 4.2 digits, rigorous)"."""
    b = num(r.get("error_bound"))
    if b is None:
        return "–"
    parts = []
    d = correct_digits(b)
    if has_digits(metric) and d is not None and not math.isinf(d):
        parts.append(f"≥ {fmt_digits(d)} digits")
    kind = bound_kind(r).replace("_", " ")
    if kind:
        parts.append(text_esc(kind))
    return f"{fmt(b)} ({', '.join(parts)})" if parts else fmt(b)


def rate_text(r: dict[str, Any], kind: str) -> str:
    """Throughput in the kernel's unit (GB/s or GFLOP/s, `data.throughput_kind`) and the
    share of the roofline the record reached, e.g. "20.6 GB/s, 61% of roofline"."""
    v = throughput(r, kind)
    if v is None:
        return ""
    unit = "GFLOP/s" if kind == "gflops" else "GB/s"
    frac = num(r.get("roofline_fraction"))
    roof = f", {100 * frac:.0f}% of roofline" if frac is not None else ""
    return f"{v:.3g} {unit}{roof}"
