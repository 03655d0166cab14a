"""softmax: row-wise, max-subtracted. Size: n, for an n×n matrix (n rows of length n).

yᵢ = exp(xᵢ − m) / Σⱼ exp(xⱼ − m) with m the row maximum, so no exponential overflows.
Following Blanchard, Higham & Mary 2021 ("Accurate computation of the log-sum-exp and
softmax functions", IMA J. Numer. Anal. 41(4), §3), each eᵢ = exp(xᵢ − m) carries a
relative error η ≤ (1+c·u)·exp(u·R) − 1 from the rounded subtraction (argument
error u|xᵢ − m| ≤ uR, R the largest spread xⱼ − m in any row) and the exponential
(c·u: 4 ulp = 8u, the loosest of NumPy's SIMD paths, OpenCL 1.2 §7.4's 3 ulp and
CUDA's 2 ulp); the sum of positive terms adds γ_{n−1} (Higham 2002, §4.2 (4.4)), the
division one rounding. So every output is within (1+η)(1+u)/(1−ξ) − 1, where
ξ = (1+η)(1+γ_{n−1}) − 1, of the truth, and so is the normwise error. The reference
is float64 (long double for float64 cases).
"""
from __future__ import annotations

import math

import numpy as np

from ..accuracy import gamma
from ..declarations import array_api_implementation, implementation, register_kernel
from ..spec import KernelSpec
from ._common import pow2_at_least, real_type, ref_dtype, side_sizes, streaming_cost, work_group_1d
from ._reductions import REF_ROUNDING, gamma_error_model

EXP_ULPS = 4.0
SCALE = 3.0


def generate(n, rng):
    return {"x": SCALE * rng.standard_normal((n, n))}


def reference(inp, dtype):
    x = inp["x"].astype(ref_dtype(dtype))
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float64)


def bound(c, g=gamma):
    """The Blanchard-Higham-Mary bound, with g = γ (worst case) or γ̃ (probabilistic) for the row sum."""
    x = c.inputs["x"]
    if x.size == 0:
        return 0.0
    spread = float(np.max(x.max(axis=1, keepdims=True) - x))
    u = c.u
    eta = (1.0 + 2.0 * EXP_ULPS * u) * math.exp(u * spread) - 1.0
    xi = (1.0 + eta) * (1.0 + g(max(x.shape[1] - 1, 0), u)) - 1.0
    if xi >= 1.0:
        return math.inf
    return (1.0 + eta) * (1.0 + u) / (1.0 - xi) - 1.0 + REF_ROUNDING


SPEC = register_kernel(KernelSpec(
    name="softmax",
    description="row-wise max-subtracted softmax of an n x n matrix",
    size_meaning="n: an n x n matrix, softmax along each row of length n",
    generate=generate,
    reference=reference,
    # flops per element: max, subtract, exp (counted as 1), sum, divide; x read, y written
    **streaming_cost(flops=5, values=2, dims=2),
    error_model=gamma_error_model(
        bound, "Blanchard, Higham & Mary 2021, IMA J. Numer. Anal. 41(4), §3 (softmax with max shift); "
               "sum of positive terms γ_{n-1} (Higham 2002, §4.2 (4.4)); exp within 4 ulp",
        assumes="exp within 4 ulp on every backend (OpenCL 1.2 §7.4: 3, CUDA: 2, NumPy SIMD: up to 4)"),
    sizes=side_sizes(1, 7, 33, 300),
    category="reduction",
    input_distribution=f"x ~ N(0, {SCALE:g}^2)",
))


@implementation("softmax", "torch")
def softmax_torch(dev, x):
    return dev.torch.softmax(x, dim=1)


@implementation("softmax", "cupy")
def softmax_cupy(dev, x):
    cp = dev.cp
    if x.dtype == cp.float16:
        with dev.ctx():
            e = cp.exp(x - x.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
    kern = dev.compile("softmax.cu", REAL=real_type(x.dtype)).get_function("softmax_rows")
    rows, cols = x.shape
    threads = 256
    with dev.ctx():
        out = cp.empty_like(x)
        if rows:
            kern((rows,), (threads,), (np.int32(cols), x, out), shared_mem=threads * x.dtype.itemsize)
    return out


@implementation("softmax", "opencl")
def softmax_opencl(dev, x):
    import pyopencl as cl

    rows, cols = x.shape
    prg = dev.compile("softmax.cl", dtype=str(x.dtype))
    local = work_group_1d(dev, cap=pow2_at_least(max(cols, 1)))
    out = dev.empty(x.shape, x.dtype)
    if rows:
        dev.launch(prg.softmax_rows, (rows * local,), (local,), np.int32(cols), x.data, out.data,
                   cl.LocalMemory(local * x.dtype.itemsize))
    return out


@array_api_implementation("softmax")
def softmax_xp(xp, x):
    e = xp.exp(x - xp.max(x, axis=1, keepdims=True))
    return e / xp.sum(e, axis=1, keepdims=True)
