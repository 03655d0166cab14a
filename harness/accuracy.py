"""Accuracy: how far an output is from the reference, and how far it may be.

Every case gets the same core metrics (normwise relative error, guarded componentwise
error, ULP distance in the output dtype, non-finite count) plus the kernel's own
theoretical bound, so that `error_ratio = rel_error / error_bound` is comparable
across kernels: below 1 means the backend is within what rounding analysis allows.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from .dtypes import FORMATS, ulp_distance


def gamma(n: float, u: float) -> float:
    """Higham's γ_n = nu / (1 - nu); infinite once nu >= 1 (the bound says nothing)."""
    nu = n * u
    return nu / (1.0 - nu) if nu < 1.0 else math.inf


@dataclass(frozen=True)
class BoundContext:
    """What a bound may depend on: size, unit roundoff, and the data (condition numbers)."""

    size: int
    dtype: str
    u: float
    inputs: Mapping[str, Any]  # exact float64 values of the rounded inputs
    reference: np.ndarray


@dataclass(frozen=True)
class ErrorModel:
    """The metric that fits a kernel's output and the theoretical bound on it.

    bound(ctx) -> bound on the metric (normwise relative error, or a mismatch rate).
    growth_slope: the slope of log(bound) against log(size) the analysis predicts
        (1 for γ_n, 0.5 for a probabilistic √n, 0 for an elementwise map), stored
        next to the fitted slope of measured errors.
    evaluate: optional; returns extra or overriding metrics (e.g. energy drift,
        error along iterations) as a dict. It receives (output, reference, ctx).
    """

    metric: str
    bound: Callable[[BoundContext], float]
    source: str
    growth_slope: float = 0.0
    evaluate: Callable[[Any, np.ndarray, BoundContext], dict] | None = None
    notes: str = ""


def normwise_relative(out: np.ndarray, ref: np.ndarray) -> float:
    diff = np.asarray(out, dtype=np.float64) - np.asarray(ref, dtype=np.float64)
    den = float(np.linalg.norm(np.asarray(ref, dtype=np.float64).ravel()))
    num = float(np.linalg.norm(diff.ravel()))
    if den == 0.0:
        return num
    return num / den


def max_componentwise_relative(out: np.ndarray, ref: np.ndarray, u: float) -> float:
    """max |out-ref| / max(|ref|, u·max|ref|): the guard keeps near-zero entries from exploding."""
    o = np.asarray(out, dtype=np.float64).ravel()
    r = np.asarray(ref, dtype=np.float64).ravel()
    if r.size == 0:
        return 0.0
    scale = float(np.max(np.abs(r)))
    floor = max(scale * u, np.finfo(np.float64).tiny)
    return float(np.max(np.abs(o - r) / np.maximum(np.abs(r), floor)))


def output_sha256(out: Any) -> str:
    """Hash of the output bytes, to compare outputs bitwise across backends and machines."""
    h = hashlib.sha256()
    for a in _arrays(out):
        a = np.ascontiguousarray(a)
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _arrays(out: Any) -> list[np.ndarray]:
    if isinstance(out, (tuple, list)):
        return [np.asarray(a) for a in out]
    return [np.asarray(out)]


def flatten_output(out: Any) -> np.ndarray:
    """Multi-output kernels compare all their outputs as one vector."""
    arrays = _arrays(out)
    if len(arrays) == 1:
        return arrays[0]
    return np.concatenate([a.astype(np.float64).ravel() for a in arrays])


def measure(out: Any, ref: np.ndarray, dtype: str, out_dtype: str, model: ErrorModel,
            ctx: BoundContext) -> dict[str, Any]:
    """All accuracy fields of a record for one output."""
    flat = flatten_output(out).ravel()
    ref_flat = flatten_output(ref).ravel()
    is_float = out_dtype in FORMATS
    o64 = flat.astype(np.float64)
    r64 = ref_flat.astype(np.float64).ravel()
    nonfinite = int(np.count_nonzero(~np.isfinite(o64)))
    ref_nonfinite = int(np.count_nonzero(~np.isfinite(r64)))
    res: dict[str, Any] = {"nonfinite": nonfinite}
    if model.metric == "mismatch" or not is_float:
        res["rel_error"] = float(np.mean(o64 != r64)) if r64.size else 0.0
        res["max_rel_error"] = float(np.max(np.abs(o64 - r64)) / max(float(np.max(np.abs(r64))), 1.0)) if r64.size else 0.0
        res["max_ulp"] = None
    else:
        u = FORMATS[out_dtype][0]
        finite = np.isfinite(o64) & np.isfinite(r64)
        res["rel_error"] = normwise_relative(o64[finite], r64[finite]) if nonfinite else normwise_relative(o64, r64)
        res["max_rel_error"] = max_componentwise_relative(o64[finite], r64[finite], u)
        res["max_ulp"] = float(np.max(ulp_distance(o64, r64, out_dtype))) if r64.size else 0.0
    if model.evaluate is not None:
        res.update(model.evaluate(out, ref, ctx))
    bound = float(model.bound(ctx))
    res["error_bound"] = bound
    err = res["rel_error"]
    if math.isnan(err):
        res["error_ratio"] = math.inf
    elif bound > 0:
        res["error_ratio"] = err / bound
    else:
        res["error_ratio"] = 0.0 if err == 0 else math.inf
    res["accuracy_ok"] = bool(nonfinite <= ref_nonfinite and res["error_ratio"] <= 1.0)
    return res


# ---- ready-made error models -------------------------------------------------------

def elementwise(ulps: float, source: str, notes: str = "") -> ErrorModel:
    """A map with a few roundings per element: normwise error ≤ ulps·u."""
    return ErrorModel(metric="normwise", bound=lambda c: ulps * c.u, source=source,
                      growth_slope=0.0, notes=notes)
