"""l2norm: ‖x‖₂. Size: the length n of the vector.

A sum of squares then a square root. With all terms nonnegative the condition number
is 1: fl(Σxᵢ²) = Σxᵢ²(1+θ), |θ| ≤ γ_n (Higham 2002, §3.1 (3.5) with y = x), so the
norm's relative error is at most |√(1+θ) − 1| ≤ γ_n/(1+√(1−γ_n)) plus one rounding
of the square root (§2.2 (2.4)). We allow γ_{n+2} for θ so that an implementation
that scales by a non-power-of-two (x/m, then m·√s) is covered too.

Overflow: the naive Σxᵢ² overflows once ‖x‖₂² exceeds the format's range: for
float16 (max 65504) at n ≈ 65 000 N(0,1) values, although the norm itself (≈ 256)
is representable. The OpenCL kernel scales by 2^-e with 2^e > max|xᵢ| (exact, a
power of two; Blue 1978, LAPACK xNRM2, Anderson 2017 ACM TOMS Algorithm 978), so it
cannot overflow. np.linalg.norm does not scale: its float16 result overflows there,
which the harness records as a `nan` status rather than hiding it. The reference is
the exact Σxᵢ² (TwoProduct + fsum) carried in ~106 bits into an mpmath square root.
"""
from __future__ import annotations

import math

import numpy as np

from ..accuracy import gamma
from ..declarations import array_api_implementation, implementation, register_kernel
from ..spec import KernelSpec
from ..references import exact
from ._common import chunked_reduction, cl_empty, streaming_cost, strided_reduction, vector_sizes
from ._reductions import REF_ROUNDING, exact_sum_rest, gamma_error_model, sqrt_bound, two_product


def generate(n, rng):
    return {"x": rng.standard_normal(n)}


def reference(inp, dtype):
    import mpmath

    p, e = two_product(inp["x"], inp["x"])
    terms = np.concatenate([p, e])
    hi = math.fsum(terms)
    lo = exact_sum_rest(terms, hi)
    with mpmath.workprec(140):
        return np.float64(float(mpmath.sqrt(mpmath.mpf(hi) + mpmath.mpf(lo))))


def bound(c, g=gamma):
    """sqrt of a sum of squares with |θ| <= g(n+2, u): g = γ (worst case) or γ̃ (probabilistic)."""
    return sqrt_bound(g(c.size + 2, c.u), c.u) + REF_ROUNDING


SPEC = register_kernel(KernelSpec(
    name="l2norm",
    description="Euclidean norm of a vector of length n",
    size_meaning="length of the vector",
    generate=generate,
    reference=reference,
    **streaming_cost(flops=2, values=1),  # x read
    error_model=gamma_error_model(
        bound, "Higham 2002, §3.1 (3.5) with y = x: fl(Σx²) = Σx²(1+θ), |θ| <= γ_{n+2} (scaling "
               "included); |√(1+θ) - 1| <= θ/(1+√(1-θ)) plus one rounding of sqrt (§2.2)",
        prob_terms=lambda c: c.size + 2,
        notes="OpenCL scales by a power of two (no overflow); np.linalg.norm and "
              "torch.linalg.vector_norm do not scale"),
    sizes=vector_sizes(1, 7, 1000, 1025, 4097),
    category="reduction",
    input_distribution="x ~ N(0,1)",
    reference_info=exact("TwoProduct + math.fsum (~106 bits) into an mpmath sqrt at 140 bits", 106),
))


@implementation("l2norm", "numpy",
                notes="sqrt(dot(x, x)): no scaling, float16 dot accumulates in float32")
def l2norm_numpy(dev, x):
    return np.linalg.norm(x)


@implementation("l2norm", "cupy")
def l2norm_cupy(dev, x):
    with dev.ctx():
        return dev.cp.linalg.norm(x)


@implementation("l2norm", "opencl")
def l2norm_opencl(dev, x):
    """Both passes stream vector chunks per work-item with a tree per group (as dot)."""
    vw = 16
    prg = dev.compile("l2norm.cl", dtype=str(x.dtype), VW=vw)
    g = chunked_reduction(dev, x.size, prg.sumsq_chunks, vw)
    return _scaled_norm(dev, prg, g, x, (prg.maxabs_chunks, prg.sumsq_chunks), (np.int32(g.chunk),), cl_empty)


@implementation("l2norm", "opencl", "opencl_tree")
def l2norm_opencl_tree(dev, x):
    """The untuned GPU-style version: grid-stride slices, 256-wide groups, fresh buffers."""
    prg = dev.compile("l2norm.cl", dtype=str(x.dtype))
    g = strided_reduction(dev, x.size)
    return _scaled_norm(dev, prg, g, x, (prg.maxabs_partial, prg.sumsq_partial), (), _fresh)


def _fresh(dev, shape, dtype):
    return dev.empty(shape, dtype)


def _scaled_norm(dev, prg, g, x, first_kernels, chunk_args, alloc):
    """max|x| (first kernel, then one group), the scaled sum of squares (second kernel),
    then one group's sqrt(sum)·2^e: the four launches both versions share."""
    maxabs_first, sumsq_first = first_kernels
    n, groups = np.int32(x.size), np.int32(g.groups)
    scratch, final_scratch = g.scratch(x.dtype), g.scratch(x.dtype, final=True)
    partial = alloc(dev, (g.groups,), x.dtype)
    maxabs = alloc(dev, (1,), x.dtype)
    dev.launch(maxabs_first, g.first_launch, (g.local,), n, *chunk_args, x.data, partial.data, scratch)
    dev.launch(prg.maxabs_partial, (g.final,), (g.final,), groups, partial.data, maxabs.data, final_scratch)
    dev.launch(sumsq_first, g.first_launch, (g.local,), n, *chunk_args, x.data, maxabs.data, partial.data, scratch)
    out = alloc(dev, (1,), x.dtype)
    dev.launch(prg.sum_finalize, (g.final,), (g.final,), groups, partial.data, maxabs.data, out.data,
               final_scratch)
    return out.reshape(())


@array_api_implementation("l2norm")
def l2norm_xp(xp, x):
    return xp.linalg.vector_norm(x)
