"""Error growth over a size sweep: the fitted slope of log(error) against log(size).

For each kernel × implementation × backend × device × dtype, the measured relative
errors over the sizes present are fitted by least squares, log e = a + s·log n, and
the slope s is set beside the slope the error model predicts (ErrorModel.growth_slope:
1 for γ_n, ½ for the probabilistic √n of Higham & Mary 2019, 0 for an elementwise
map) and beside the slope of the bound itself, fitted the same way from the
error_bound column (data-dependent bounds need not follow the nominal slope).

Zero errors (exact results, e.g. vadd in float64 against a correctly rounded
reference) have no logarithm: they are left out of the fit and counted in `n_zero`.
Several records at one size (repeated runs) count once, by their median. A slope needs
at least two distinct sizes with nonzero errors; otherwise it is None, with the reason.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

GROUP_KEYS: tuple[str, ...] = ("kernel", "impl", "backend", "device", "dtype")


def fit_loglog(sizes: Sequence[float], values: Sequence[float]) -> dict[str, Any]:
    """Slope of log(value) against log(size), ignoring non-positive or non-finite values.

    Returns slope, intercept (natural log), r2, n_points (distinct sizes used), n_zero
    (values equal to 0), and `reason` where no slope could be fitted.
    """
    by_size: dict[float, list[float]] = {}
    n_zero = 0
    for n, v in zip(sizes, values):
        if n is None or v is None:
            continue
        n, v = float(n), float(v)
        if not (math.isfinite(n) and n > 0) or math.isnan(v):
            continue
        if v == 0.0:
            n_zero += 1
            continue
        if not math.isfinite(v) or v < 0:
            continue
        by_size.setdefault(n, []).append(v)
    res: dict[str, Any] = {"slope": None, "intercept": None, "r2": None, "n_points": len(by_size),
                           "n_zero": n_zero, "reason": ""}
    if len(by_size) < 2:
        res["reason"] = ("all errors are zero (exact)" if n_zero and not by_size
                         else "fewer than two sizes with nonzero errors")
        return res
    xs = np.log(np.array(sorted(by_size)))
    ys = np.log(np.array([float(np.median(by_size[k])) for k in sorted(by_size)]))
    slope, intercept = np.polyfit(xs, ys, 1)
    resid = ys - (slope * xs + intercept)
    ss_tot = float(np.sum((ys - ys.mean()) ** 2))
    res.update(slope=float(slope), intercept=float(intercept),
               r2=float(1.0 - np.sum(resid**2) / ss_tot) if ss_tot > 0 else 1.0)
    return res


def _records(records: Any) -> list[Mapping[str, Any]]:
    """A DataFrame (harness.load_results) or an iterable of record dicts, as dicts."""
    if hasattr(records, "to_dict") and hasattr(records, "columns"):
        return records.to_dict(orient="records")
    return list(records)


def _value(v: Any) -> Any:
    """NaN (pandas' missing value) and the stored "inf" strings as Python values."""
    if isinstance(v, str):
        return {"inf": math.inf, "-inf": -math.inf}.get(v)
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def growth_rows(records: Any, *, statuses: Iterable[str] = ("ok",)) -> list[dict[str, Any]]:
    """One row per kernel × impl × backend × device × dtype with its fitted slopes.

    Row fields: the group keys, sizes (sorted distinct sizes measured), n_points,
    n_zero, slope (fitted from rel_error), r2, predicted_slope (the error model's
    growth_slope), bound_slope (fitted from the worst-case bound), slope_excess (slope minus
    predicted_slope, None if either is missing), metric, and reason when a slope is None.
    """
    keep = set(statuses)
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in _records(records):
        if r.get("status") not in keep or r.get("size") is None:
            continue
        key = tuple(r.get(k) for k in GROUP_KEYS)
        groups.setdefault(key, []).append(r)
    rows = []
    for key in sorted(groups, key=lambda k: tuple(str(x) for x in k)):
        recs = groups[key]
        sizes = [r["size"] for r in recs]
        err = fit_loglog(sizes, [_value(r.get("rel_error")) for r in recs])
        bnd = fit_loglog(sizes, [_value(r.get("worst_case_bound", r.get("error_bound"))) for r in recs])
        model = next((r["error_model"] for r in recs if isinstance(r.get("error_model"), Mapping)), {})
        predicted = _value(model.get("growth_slope"))
        row: dict[str, Any] = dict(zip(GROUP_KEYS, key))
        row.update(
            sizes=sorted({int(s) for s in sizes}),
            n_points=err["n_points"], n_zero=err["n_zero"], slope=err["slope"], r2=err["r2"],
            predicted_slope=None if predicted is None else float(predicted),
            bound_slope=bnd["slope"],
            slope_excess=None if err["slope"] is None or predicted is None else err["slope"] - float(predicted),
            metric=model.get("metric"),
            reason=err["reason"],
        )
        rows.append(row)
    return rows


def growth_records(records: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """growth_rows as JSON-safe dicts (no NaN/Inf, no NumPy scalars), ready to store."""
    from .record import to_json_safe

    return [to_json_safe(r) for r in growth_rows(records, **kwargs)]


def growth_frame(records: Any, **kwargs: Any):
    """growth_rows as a pandas DataFrame, for reports."""
    import pandas as pd

    return pd.DataFrame(growth_rows(records, **kwargs))
