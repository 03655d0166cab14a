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
from typing import Any, Callable, Literal, Mapping

import numpy as np

from .dtypes import FORMATS, ulp_distance
from .verdict import checkpoint_ratio, eval_bound, judge


def gamma(n: float, u: float) -> float:
    """Higham's γ_n = nu / (1 - nu); infinite once nu >= 1 (the bound says nothing)."""
    nu = n * u
    return nu / (1.0 - nu) if nu < 1.0 else math.inf


#: λ of the probabilistic bound: failure probability 2n·exp(−λ²(1−u)²/2) < 1e-6 up to n ≈ 10⁷.
LAMBDA = 8.0


def gamma_tilde(n: float, u: float, lam: float = LAMBDA) -> float:
    """Higham & Mary 2019 (SISC 41(5), Thm 3.1): γ̃_n(λ) = exp(λ√n·u + n·u²/(1−u)) − 1.

    It replaces γ_n when rounding errors are independent and mean zero, and stays
    below 1 long after n·u ≥ 1, so large-n fp32/fp16/bf16 cases get a check that can fail.
    """
    n = max(float(n), 0.0)
    return math.expm1(lam * math.sqrt(n) * u + n * u * u / (1.0 - u))


def tilde_confidence(n: float, u: float, lam: float = LAMBDA) -> float:
    """Probability (at least) that γ̃_n(λ) holds: 1 − 2n·exp(−λ²(1−u)²/2), Higham & Mary 2019."""
    return max(0.0, 1.0 - 2.0 * max(float(n), 1.0) * math.exp(-(lam * (1.0 - u)) ** 2 / 2.0))


#: Kinds of bound (DESIGN.md, "Verdicts"): what a bound promises.
BOUND_KINDS = ("rigorous", "first_order", "probabilistic", "estimate")

#: What an error metric is, the value code may switch on (prose goes in
#: ErrorModel.metric_description), with what each means by default.
Metric = Literal["normwise", "max_relative", "end_relative", "mismatch", "composite"]
METRICS: dict[str, str] = {
    "normwise": "normwise relative error ||out - ref||_2 / ||ref||_2",
    "max_relative": "largest error relative to the largest reference value (max-norm)",
    "end_relative": "relative error at the end of the output (every position judged too)",
    "mismatch": "fraction of discrete outputs that differ from the reference (no units of u)",
    "composite": "a sum of error measures returned by the kernel's evaluate",
}


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

    metric: one of METRICS, what kind of number the error is (code switches on it:
        a "mismatch" rate has no units of u); metric_description: the same in words
        for this kernel (e.g. "of the weights, at the last checkpoint").
    bound(ctx) -> bound on the metric (normwise relative error, or a mismatch rate).
    growth_slope: the slope of log(bound) against log(size) the analysis predicts
        (1 for γ_n, 0.5 for a probabilistic √n, 0 for an elementwise map), stored
        next to the fitted slope of measured errors.
    evaluate: optional; returns extra or overriding metrics (e.g. energy drift,
        error along iterations) as a dict. It receives (output, reference, ctx).
        A "position_ratio" it returns (max over positions of error/bound) also decides.
    kind: what `bound` promises, one of BOUND_KINDS: "rigorous" (worst case, any
        order), "first_order" (O(u²) dropped), "estimate" (a model).
    probabilistic: optional second bound, Higham & Mary 2019's λ√n·u in place of γ_n;
        prob_terms(ctx) is its n, for the stated confidence.
    componentwise: optional; (ctx, g) -> absolute bound per output element, with g(n)
        the γ function in use (gamma or gamma_tilde): judged beside the normwise one.
    relative: the metric is relative, so a bound >= 1 is met by an output of zeros.
    elementwise_ulp: max_ulp per element is meaningful (a map, or a correctly rounded
        kernel); otherwise it is scaled by max|ref| (record field `ulp_kind`).
    assumes: what the bound takes for granted (e.g. exp within 4 ulp on every backend).
    """

    metric: Metric
    bound: Callable[[BoundContext], float]
    source: str
    growth_slope: float = 0.0
    evaluate: Callable[[Any, np.ndarray, BoundContext], dict] | None = None
    notes: str = ""
    kind: str = "rigorous"
    probabilistic: Callable[[BoundContext], float] | None = None
    prob_terms: Callable[[BoundContext], float] | None = None
    componentwise: Callable[[BoundContext, Callable[[float], float]], np.ndarray] | None = None
    relative: bool = True
    assumes: str = ""
    elementwise_ulp: bool = False
    metric_description: str = ""

    def __post_init__(self):
        if self.kind not in BOUND_KINDS:
            raise ValueError(f"ErrorModel.kind {self.kind!r} is not one of {BOUND_KINDS}")
        if self.metric not in METRICS:
            raise ValueError(f"ErrorModel.metric {self.metric!r} is not one of {tuple(METRICS)}; "
                             "describe it in words in metric_description")

    def describe(self) -> dict[str, Any]:
        """What a record stores about the model."""
        return {"metric": self.metric, "metric_description": self.metric_description or METRICS[self.metric],
                "source": self.source, "growth_slope": self.growth_slope,
                "kind": self.kind, "probabilistic": self.probabilistic is not None,
                "assumes": self.assumes}


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


def nonfinite_by_position(o64: np.ndarray, r64: np.ndarray) -> int:
    """Positions where output and reference disagree on being NaN, +inf or -inf.

    Counting alone lets an output NaN where the reference is finite cancel an output
    finite where the reference is inf; comparing position by position does not.
    """
    of, rf = np.isfinite(o64), np.isfinite(r64)
    both = ~of & ~rf
    same_kind = (np.isnan(o64) & np.isnan(r64)) | (o64 == r64)
    return int(np.count_nonzero((of != rf) | (both & ~same_kind)))


def scaled_ulp(o64: np.ndarray, r64: np.ndarray, out_dtype: str) -> float:
    """max|out − ref| in units of the ulp of max|ref|: meaningful for any kernel.

    A per-element ULP distance near zero counts every representable value in between
    (a sign flip of a tiny entry reads ~10⁹ ULP); scaling by max|ref| does not.
    """
    finite = np.isfinite(o64) & np.isfinite(r64)
    if not finite.any():
        return 0.0
    scale = float(np.max(np.abs(r64[finite])))
    u = FORMATS[out_dtype][0]
    ulp = math.ldexp(u, math.frexp(scale)[1]) if scale > 0 else u * np.finfo(np.float64).tiny
    return float(np.max(np.abs(o64[finite] - r64[finite]))) / ulp


def _core_metrics(o64, r64, out_dtype: str, model: ErrorModel) -> dict[str, Any]:
    """Normwise, componentwise and ULP errors, before the kernel's own evaluate."""
    res: dict[str, Any] = {"nonfinite": int(np.count_nonzero(~np.isfinite(o64)))}
    if model.metric == "mismatch" or out_dtype not in FORMATS:
        res["rel_error"] = float(np.mean(o64 != r64)) if r64.size else 0.0
        res["max_rel_error"] = float(np.max(np.abs(o64 - r64)) / max(float(np.max(np.abs(r64))), 1.0)) if r64.size else 0.0
        res["max_ulp"], res["ulp_kind"] = None, None
        return res
    u = FORMATS[out_dtype][0]
    finite = np.isfinite(o64) & np.isfinite(r64)
    res["rel_error"] = normwise_relative(o64[finite], r64[finite])
    res["max_rel_error"] = max_componentwise_relative(o64[finite], r64[finite], u)
    if model.elementwise_ulp:
        res["max_ulp"] = float(np.max(ulp_distance(o64, r64, out_dtype))) if r64.size else 0.0
        res["ulp_kind"] = "elementwise"
    else:
        res["max_ulp"], res["ulp_kind"] = scaled_ulp(o64, r64, out_dtype), "scaled_by_max_ref"
    return res


def _candidates(model: ErrorModel, ctx: BoundContext) -> tuple[list, str, dict]:
    """(name, value, kind) of the worst-case and probabilistic bounds, or a spec error."""
    worst, problem = eval_bound(model.bound, ctx)
    if problem:
        return [], problem, {}
    cands = [("worst_case", worst, model.kind)]
    extra: dict[str, Any] = {}
    if model.probabilistic is not None:
        prob, problem = eval_bound(model.probabilistic, ctx)
        if problem:
            return [], "probabilistic " + problem, {}
        n = model.prob_terms(ctx) if model.prob_terms else ctx.size
        extra = {"probabilistic_bound": prob, "probabilistic_lambda": LAMBDA,
                 "probabilistic_confidence": tilde_confidence(n, ctx.u)}
        cands.append(("probabilistic", prob, "probabilistic"))
    return cands, "", extra


def componentwise_ratio(o64, r64, model: ErrorModel, ctx: BoundContext, g) -> float | None:
    """max |out − ref| / (componentwise bound), with g the γ function that decided."""
    if model.componentwise is None or r64.size == 0:
        return None
    cb = np.asarray(model.componentwise(ctx, g), np.float64).ravel()
    if not np.all(np.isfinite(cb)) or np.all(cb >= np.abs(r64)) and np.any(r64 != 0):
        return None  # cannot fail: zeros would pass it
    diff = np.abs(o64 - r64)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(diff == 0, 0.0, diff / cb)
    return float(np.max(np.where(np.isnan(r), np.inf, r)))


def measure(out: Any, ref: np.ndarray, dtype: str, out_dtype: str, model: ErrorModel,
            ctx: BoundContext) -> dict[str, Any]:
    """All accuracy fields of a record for one output, the verdict included."""
    o64 = flatten_output(out).ravel().astype(np.float64)
    r64 = flatten_output(ref).ravel().astype(np.float64)
    res = _core_metrics(o64, r64, out_dtype, model)
    res["nonfinite_mismatch"] = nonfinite_by_position(o64, r64) if o64.shape == r64.shape else o64.size
    if model.evaluate is not None:
        res.update(model.evaluate(out, ref, ctx))
    cands, problem, extra = _candidates(model, ctx)
    res.update(extra)
    if problem:
        res.update(verdict="spec_error", verdict_reason=problem, error_bound=None, error_ratio=None,
                   bound_kind=model.kind, verdict_bound=None, accuracy_ok=False)
        return res
    res.update(judge(res["rel_error"], cands, model.relative, _checks(o64, r64, res, model, ctx),
                     _problems(res)))
    return res


def _checks(o64, r64, res: dict, model: ErrorModel, ctx: BoundContext) -> dict[str, float | None]:
    """Further ratios that must be ≤ 1: positions, checkpoints, componentwise (against
    the tightest γ function whose componentwise bound can fail, as for the normwise one)."""
    cw = [componentwise_ratio(o64, r64, model, ctx, lambda n: gamma(n, ctx.u))]
    if model.probabilistic is not None:
        cw.append(componentwise_ratio(o64, r64, model, ctx, lambda n: gamma_tilde(n, ctx.u)))
    cw = [c for c in cw if c is not None]
    return {"position": res.get("position_ratio"),
            "checkpoints": checkpoint_ratio(res.get("profile"), model.relative),
            "parameters": res.get("param_ratio"),
            "componentwise": max(cw) if cw else None}


def _problems(res: dict) -> list[str]:
    n = res.get("nonfinite_mismatch") or 0
    return [f"{n} position(s) where output and reference differ in NaN/inf"] if n else []



def assess(rec: dict[str, Any], out: Any, again: Any, ref: Any, out_dtype: str, model: ErrorModel,
           ctx: BoundContext) -> None:
    """The accuracy stage of a validated output: fills `rec` with its digest, whether a
    second call gave the same bits, the error metrics and bound (`measure`), and the
    status: `nan` where the output has more non-finite values than the reference (a
    NaN is never within a bound), else `ok` with the verdict as the message."""
    rec["output_sha256"] = output_sha256(out)
    rec["deterministic"] = rec["output_sha256"] == output_sha256(again)
    acc = measure(out, ref, ctx.dtype, out_dtype, model, ctx)
    profile = acc.pop("profile", None)
    rec.update(acc)
    flag_dependent_reference(rec)
    if profile is not None:
        rec["profile"] = profile
    ref_nonfinite = int(np.count_nonzero(~np.isfinite(flatten_output(ref).astype(np.float64))))
    if acc["nonfinite"] > ref_nonfinite:
        rec.update(status="nan", message=f"{acc['nonfinite']} non-finite output value(s)")
    else:
        rec.update(status="ok", message=verdict_message(acc) or rec.get("reference_note", ""))


def flag_dependent_reference(rec: dict[str, Any]) -> None:
    """A reference no more precise than the output (or sharing its code) cannot show an
    error: an error of exactly 0 against it is not evidence, so it is not recorded as 0."""
    if rec.get("reference_independent", True):
        return
    rec["reference_note"] = (f"no independent reference on this platform ({rec.get('reference_method')}, "
                             f"{rec.get('reference_precision')} bits): the error is not measured")
    if rec.get("rel_error") == 0.0:
        rec.update(rel_error=None, error_ratio=None, max_rel_error=None, max_ulp=None)


def verdict_message(acc: dict[str, Any]) -> str:
    """The record's message for an ok case: empty within bound, else the verdict and why."""
    if acc.get("verdict") == "within":
        return ""
    return f"{acc.get('verdict')}: {acc.get('verdict_reason', '')}"[:2000]
