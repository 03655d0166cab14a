"""Exact reductions and scans, and the bounds built on them.

References: error-free transformations (TwoProduct, TwoSum) and the exact dot
product, sum remainder and prefix sums built from them. Bounds: a componentwise bound
turned normwise, the square root of a bounded sum, how the probabilistic bound is
cited (and the probabilistic twin of a worst-case bound), and log-spaced checkpoints
for error profiles along a scan. Shared by the reduction, scan and map kernels that
need references beyond float64."""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ..accuracy import ErrorModel, gamma_tilde

#: how the probabilistic bound is cited in a kernel's ErrorModel.source.
PROB_SOURCE = ("; probabilistic: Higham & Mary 2019, SISC 41(5), Thm 3.1: γ̃_n(λ) = exp(λ√n·u + n·u²/(1−u)) − 1 "
               "in place of γ_n, λ = 8, independent mean-zero rounding errors")

#: relative error of storing a reference in float64 (the harness compares in float64).
REF_ROUNDING = 2.0**-53


def probabilistic(bound: Callable[..., float]) -> Callable[[Any], float]:
    """ErrorModel.probabilistic of a kernel whose worst-case bound is written as
    bound(ctx, g) with g = γ: the same analysis with γ̃ (PROB_SOURCE) in place of γ,
    so the two bounds can never drift apart."""
    def prob_bound(c) -> float:
        return bound(c, gamma_tilde)

    return prob_bound


def gamma_error_model(bound: Callable[..., float], source: str, growth_slope: float = 1.0,
                      metric: str = "normwise", **fields: Any) -> ErrorModel:
    """The ErrorModel of a kernel bounded by a rigorous γ analysis: `bound` as written
    with g = γ, its probabilistic twin with γ̃, and `source` followed by PROB_SOURCE,
    which cites the twin; `fields`, the rest of the model. Kept together so no kernel
    has one without the other."""
    return ErrorModel(metric=metric, kind="rigorous", bound=bound, probabilistic=probabilistic(bound),
                      growth_slope=growth_slope, source=source + PROB_SOURCE, **fields)


def two_product(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """p + e == a*b exactly (Dekker's split, Ogita-Rump-Oishi 2005 TwoProduct), float64.

    Lets a float64 dot product be summed exactly by math.fsum without an FMA in NumPy.
    Valid while no product or split overflows (|a|, |b| < 2^996).
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    split = 134217729.0  # 2^27 + 1

    def halves(v):
        c = split * v
        hi = c - (c - v)
        return hi, v - hi

    p = a * b
    ah, al = halves(a)
    bh, bl = halves(b)
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, e


def exact_dot(x: np.ndarray, y: np.ndarray) -> float:
    """xᵀy correctly rounded to float64."""
    p, e = two_product(x, y)
    return math.fsum(np.concatenate([p.ravel(), e.ravel()]))


def exact_sum_rest(terms: np.ndarray, rounded: float) -> float:
    """The rounded remainder Σterms − rounded, so that rounded + rest carries ~106 bits."""
    return math.fsum(np.concatenate([np.asarray(terms, np.float64).ravel(), [-rounded]]))


def two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """s + e == a + b exactly (Knuth's TwoSum), elementwise."""
    s = a + b
    bb = s - a
    e = (a - (s - bb)) + (b - bb)
    return s, e


def exact_cumsum(x: np.ndarray) -> np.ndarray:
    """Prefix sums of float64 values, exact before the final rounding to float64.

    Each value is cut into fixed-point limbs of w bits (w chosen from n so that every
    partial sum of one limb is a float64 integer multiple of its quantum, hence exact in
    any order); the limb prefix sums are then combined with TwoSum (Ogita-Rump-Oishi
    Sum2). Without cancellation (e.g. nonnegative data) the result is within one
    float64 rounding of the exact prefix sum; under cancellation the error is that plus
    about u²·Σ|xᵢ| (Sum2's second-order term).
    """
    x = np.asarray(x, np.float64).ravel()
    n = x.size
    if n == 0:
        return x.copy()
    mx = float(np.max(np.abs(x)))
    if mx == 0.0 or not math.isfinite(mx):
        return np.cumsum(x)
    e_scale = math.frexp(mx)[1]  # mx < 2^e_scale
    w = 52 - max(1, math.ceil(math.log2(n + 1))) - 1
    if w < 8:
        raise ValueError(f"exact_cumsum supports n up to about 2^40, got {n}")
    rem = np.ldexp(x, -e_scale)  # |rem| < 1, exact
    cums = []
    k = 0
    while np.any(rem != 0.0):
        k += w
        limb = np.ldexp(np.trunc(np.ldexp(rem, k)), -k)  # same sign as rem, |limb| <= |rem|
        rem = rem - limb  # exact: the bits of rem below 2^-k, same sign
        cums.append(np.cumsum(limb))
        if k > 1200:
            break
    s = cums[0]
    err = np.zeros_like(s)
    for c in cums[1:]:
        s, e = two_sum(s, c)
        err += e
    return np.ldexp(s + err, e_scale)


def normwise(bound_vec: np.ndarray, ref: np.ndarray, factor: float) -> float:
    """factor·‖bound_vec‖₂ / ‖ref‖₂: a componentwise bound turned into a normwise one."""
    den = float(np.linalg.norm(np.asarray(ref, np.float64).ravel()))
    num = float(np.linalg.norm(np.asarray(bound_vec, np.float64).ravel()))
    if den == 0.0:
        return 0.0 if num == 0.0 else math.inf
    return factor * num / den


def log_checkpoints(n: int, count: int = 20) -> np.ndarray:
    """About `count` distinct 1-based positions from 1 to n, log-spaced, n always included."""
    if n <= 0:
        return np.zeros(0, np.int64)
    pts = np.unique(np.round(np.logspace(0, math.log10(n), count)).astype(np.int64))
    pts = pts[(pts >= 1) & (pts <= n)]
    if pts.size == 0 or pts[-1] != n:
        pts = np.append(pts, n)
    return pts


def sqrt_bound(theta: float, u: float) -> float:
    """Relative error of fl(sqrt(s(1+θ))): |√(1+θ) − 1| ≤ θ/(1+√(1−θ)), then one rounding."""
    if not theta < 1.0:
        return math.inf
    a = theta / (1.0 + math.sqrt(1.0 - theta))
    return (1.0 + a) * (1.0 + u) - 1.0


__all__ = ["PROB_SOURCE", "REF_ROUNDING", "probabilistic", "gamma_error_model", "two_product", "exact_dot",
           "exact_sum_rest", "two_sum", "exact_cumsum", "normwise", "log_checkpoints", "sqrt_bound"]
