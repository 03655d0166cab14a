"""sum: Σxᵢ over a vector. Size: the length n.

The reduction where backends differ most in rounding: NumPy sums pairwise in
blocks of 128, PyTorch and the OpenCL tree reduce in other orders. Every order is
covered by the recursive-summation bound |E| ≤ γ_{n−1}·Σ|xᵢ| (Higham 2002, §4.2,
eq. 4.4), and the relative error bound is that over |Σxᵢ|. Inputs are U(0,1), so
the condition number Σ|xᵢ|/|Σxᵢ| is 1 and the error growth is the summation's own.
The float64 reference is math.fsum, correctly rounded.
"""
from __future__ import annotations

import math

import numpy as np

from ..accuracy import gamma
from ..declarations import array_api_implementation, implementation, register_kernel
from ..spec import KernelSpec
from ..references import exact
from ._reductions import gamma_error_model
from ._common import chunked_reduction, cl_empty, streaming_cost, strided_reduction, vector_sizes


def generate(n, rng):
    return {"x": rng.uniform(0.0, 1.0, n)}


def reference(inp, dtype):
    return np.float64(math.fsum(inp["x"]))


def bound(c, g=gamma):
    """g(n−1, u)·Σ|xᵢ|/|Σxᵢ|, with g = γ (worst case) or γ̃ (probabilistic)."""
    x = c.inputs["x"]
    s = abs(float(c.reference))
    cond = float(np.sum(np.abs(x))) / s if s else math.inf
    return g(max(c.size - 1, 1), c.u) * cond


SPEC = register_kernel(KernelSpec(
    name="sum",
    description="sum of a vector of length n",
    size_meaning="length of the vector",
    generate=generate,
    reference=reference,
    **streaming_cost(flops=1, values=1),  # x read
    error_model=gamma_error_model(
        bound, "Higham 2002, §4.2 (4.4): |E| <= γ_{n-1} Σ|x_i| for any summation order; relative to |Σx_i|"),
    sizes=vector_sizes(1, 7, 1000, 1025, 4097),
    category="reduction",
    input_distribution="x ~ U(0,1) (condition number 1)",
    reference_info=exact("math.fsum: the exact sum, correctly rounded"),
))


def opencl_sum(dev, x):
    """Two launches of the tree reduction: n → groups → 1."""
    prg = dev.compile("sum.cl", dtype=str(x.dtype))
    g = strided_reduction(dev, x.size)
    partial = dev.empty((g.groups,), x.dtype)
    dev.launch(prg.sum_partial, g.first_launch, (g.local,), np.int32(x.size), x.data, partial.data,
               g.scratch(x.dtype))
    return g.reduce_partials(dev, prg.sum_partial, partial, dev.empty((1,), x.dtype))


def opencl_sum_chunks(dev, x):
    """Contiguous vector chunks per work-item, then one work-item adds the partials.
    16 work-items per compute unit in small groups: every core gets several chunks,
    and the final serial sum over the partials is negligible."""
    vw = 16
    prg = dev.compile("sum.cl", dtype=str(x.dtype), VW=vw)
    g = chunked_reduction(dev, x.size, prg.sum_chunks, vw)
    partial = cl_empty(dev, g.first_launch, x.dtype)
    dev.launch(prg.sum_chunks, (g.items,), (g.local,), np.int32(x.size), np.int32(g.chunk), x.data, partial.data)
    out = cl_empty(dev, (1,), x.dtype)
    dev.launch(prg.sum_final, (1,), (1,), np.int32(g.items), partial.data, out.data)
    return out.reshape(())


@implementation("sum", "opencl")
def sum_opencl(dev, x):
    return opencl_sum_chunks(dev, x)


@implementation("sum", "opencl", "opencl_tree")
def sum_opencl_tree(dev, x):
    return opencl_sum(dev, x)


@array_api_implementation("sum")
def sum_xp(xp, x):
    return xp.sum(x)
