"""cumsum: inclusive prefix sums sₖ = x₁ + … + xₖ. Size: the length n of the vector.

Every output is a sum, so its error grows with its position: whatever the order
(sequential, or the tree of a parallel scan), |ŝₖ − sₖ| ≤ γ_{k−1}Σ_{i≤k}|xᵢ| (Higham
2002, §4.2 (4.4)). Inputs are U(0,1), so Σ|xᵢ| = sₖ and the bound at position k is
γ_{k−1}. rel_error is the error at the end of the array, |ŝₙ − sₙ|/|sₙ| (bound
γ_{n−1}, slope 1), but every position is judged: ErrorModel.evaluate returns
position_ratio, the maximum over k of error_k / bound_k (with bound_k the tighter of
γ_{k−1} and the probabilistic γ̃_{k−1} that can fail), so an output holding the total
everywhere, or an exclusive scan, is out of bound. The profile gives the relative
error at ~20 log-spaced positions, with the worst-case bound there.
The reference is exact (fixed-point limbs, see _reductions.exact_cumsum), so float64
cases are judged against the correctly rounded prefix sums.
"""
from __future__ import annotations

import numpy as np

from ..accuracy import LAMBDA, gamma
from ..declarations import array_api_implementation, implementation, register_kernel
from ..spec import KernelSpec
from ..references import exact
from ._common import streaming_cost, vector_sizes, work_group_1d
from ._reductions import REF_ROUNDING, exact_cumsum, gamma_error_model, log_checkpoints

SCAN_K = 4  # elements per work-item in a scan tile


def generate(n, rng):
    return {"x": rng.uniform(0.0, 1.0, n)}


def reference(inp, dtype):
    return exact_cumsum(inp["x"])


def _rel(err, ref):
    den = np.abs(ref)
    return np.where(den > 0, err / np.where(den > 0, den, 1.0), err)


def position_bound(abs_prefix: np.ndarray, ref: np.ndarray, positions: np.ndarray, u: float) -> np.ndarray:
    """γ_{k−1}Σ_{i≤k}|xᵢ|/|sₖ| at 1-based positions k, plus the reference's own rounding."""
    g = np.array([gamma(max(int(k) - 1, 0), u) for k in positions])
    cond = _rel(abs_prefix[positions - 1], ref[positions - 1])
    return g * cond + REF_ROUNDING


def position_bounds(abs_prefix: np.ndarray, ref: np.ndarray, u: float) -> np.ndarray:
    """Per position k, the tightest relative bound that can fail: min(γ_{k−1}, γ̃_{k−1})·cond_k
    + the reference's rounding, with inf where neither is below 1."""
    k1 = np.arange(ref.size, dtype=np.float64)  # k − 1 for 1-based k
    nu = k1 * u
    with np.errstate(divide="ignore"):
        worst = np.where(nu < 1.0, nu / np.where(nu < 1.0, 1.0 - nu, 1.0), np.inf)
    prob = np.expm1(LAMBDA * np.sqrt(k1) * u + k1 * u * u / (1.0 - u))
    cond = _rel(abs_prefix, ref)
    b = np.minimum(worst, prob) * cond + REF_ROUNDING
    return np.where(b < 1.0, b, np.inf)


def position_ratio(out: np.ndarray, ref: np.ndarray, abs_prefix: np.ndarray, u: float) -> float | None:
    """max over positions of error/bound, over the positions whose bound can fail."""
    err = _rel(np.abs(out - ref), ref)
    b = position_bounds(abs_prefix, ref, u)
    ok = np.isfinite(b)
    if not ok.any():
        return None
    r = err[ok] / b[ok]
    return float(np.max(np.where(np.isnan(r), np.inf, r)))


def bound(c, g=gamma):
    n = c.reference.size
    if n == 0:
        return 0.0
    abs_prefix = exact_cumsum(np.abs(c.inputs["x"]))
    if g is gamma:
        return float(position_bound(abs_prefix, c.reference, np.array([n]), c.u)[0])
    return g(max(n - 1, 0), c.u) * float(_rel(abs_prefix[-1:], c.reference[-1:])[0]) + REF_ROUNDING


def evaluate(out, ref, c):
    out = np.asarray(out, np.float64).ravel()
    ref = np.asarray(ref, np.float64).ravel()
    if ref.size == 0:
        return {"rel_error": 0.0}
    err = _rel(np.abs(out - ref), ref)
    pos = log_checkpoints(ref.size, 20)
    abs_prefix = exact_cumsum(np.abs(c.inputs["x"]))
    profile = {"x_label": "position", "x": pos.tolist(), "error": err[pos - 1].tolist(),
               "bound": position_bound(abs_prefix, ref, pos, c.u).tolist()}
    return {"rel_error": float(err[-1]), "max_position_error": float(np.max(err)), "profile": profile,
            "position_ratio": position_ratio(out, ref, abs_prefix, c.u)}


SPEC = register_kernel(KernelSpec(
    name="cumsum",
    description="inclusive prefix sum of a vector of length n",
    size_meaning="length of the vector",
    generate=generate,
    reference=reference,
    **streaming_cost(flops=1, values=2),  # x read, the prefix sums written
    error_model=gamma_error_model(
        bound, "Higham 2002, §4.2 (4.4): |s_k - fl(s_k)| <= γ_{k-1} Σ_{i<=k}|x_i| for any order; "
               "rel_error is the end of the array (k = n); every position k is judged (position_ratio)",
        metric="end_relative", evaluate=evaluate),
    sizes=vector_sizes(1, 7, 1000, 1025, 4097),
    category="reduction",
    input_distribution="x ~ U(0,1) (condition number 1 at every position)",
    reference_info=exact("fixed-point limbs + TwoSum (Sum2): exact prefix sums to ~106 bits", 106),
))


def _scan_opencl(dev, prg, x, n: int, local: int):
    """Scan tiles, scan the tile totals recursively, add them back."""
    import pyopencl as cl

    tile = local * SCAN_K
    groups = -(-n // tile)
    out = dev.empty((n,), x.dtype)
    sums = dev.empty((groups,), x.dtype)
    item = x.dtype.itemsize
    dev.launch(prg.scan_blocks, (groups * local,), (local,), np.int32(n), np.int32(SCAN_K), x.data, out.data,
               sums.data, cl.LocalMemory(tile * item), cl.LocalMemory(local * item))
    if groups > 1:
        scanned = _scan_opencl(dev, prg, sums, groups, local)
        dev.launch(prg.add_back, (n,), (local,), np.int32(n), np.int32(tile), out.data, scanned.data)
    return out


@implementation("cumsum", "opencl")
def cumsum_opencl(dev, x):
    prg = dev.compile("cumsum.cl", dtype=str(x.dtype))
    local = work_group_1d(dev)
    # the tile and the chunk totals must fit in local memory (half of it, to be safe)
    fit = int(dev.device.local_mem_size) // (2 * (SCAN_K + 1) * x.dtype.itemsize)
    local = max(1, min(local, fit))
    if x.size == 0:
        return dev.empty((0,), x.dtype)
    return _scan_opencl(dev, prg, x, x.size, local)


@array_api_implementation("cumsum")
def cumsum_xp(xp, x):
    return xp.cumulative_sum(x)
