"""dot: xᵀy. Size: the length n of the vectors.

The reduction behind every matmul and norm. Every summation order obeys
|xᵀy − fl(xᵀy)| ≤ γ_n|x|ᵀ|y| (Higham 2002, §3.1 (3.5)); the relative bound is that
over |xᵀy| (the condition number). Inputs are U(0,1), so that condition number is 1
and the measured growth is the summation's own (slope ≤ 1; about ½ for random
rounding, Higham & Mary 2019). The reference is exact: products are split into
float64 pairs with TwoProduct and summed with math.fsum, so float64 cases are judged
against the correctly rounded value.
"""
from __future__ import annotations

import math

import numpy as np

from ..accuracy import gamma
from ..declarations import array_api_implementation, implementation, register_kernel
from ..spec import KernelSpec
from ..references import exact
from ._common import chunked_reduction, cl_empty, n_groups, real_type, streaming_cost, strided_reduction, vector_sizes
from ._reductions import REF_ROUNDING, exact_dot, gamma_error_model


def generate(n, rng):
    return {"x": rng.uniform(0.0, 1.0, n), "y": rng.uniform(0.0, 1.0, n)}


def reference(inp, dtype):
    return np.float64(exact_dot(inp["x"], inp["y"]))


def bound(c, g=gamma):
    """g(n, u)·|x|ᵀ|y|/|xᵀy|, with g = γ (worst case) or γ̃ (probabilistic)."""
    x, y = c.inputs["x"], c.inputs["y"]
    s = abs(float(c.reference))
    absdot = exact_dot(np.abs(x), np.abs(y))
    if s == 0.0:
        return 0.0 if absdot == 0.0 else math.inf
    return g(c.size, c.u) * absdot / s + REF_ROUNDING


SPEC = register_kernel(KernelSpec(
    name="dot",
    description="dot product of two vectors of length n",
    size_meaning="length of the vectors",
    generate=generate,
    reference=reference,
    **streaming_cost(flops=2, values=2),  # x, y read
    error_model=gamma_error_model(
        bound, "Higham 2002, §3.1 (3.5): |x^T y - fl(x^T y)| <= γ_n |x|^T|y| for any order; relative to |x^T y|"),
    sizes=vector_sizes(1, 7, 1000, 1025, 4097),
    category="reduction",
    input_distribution="x, y ~ U(0,1) (condition number 1)",
    reference_info=exact("TwoProduct + math.fsum: the exact dot product, correctly rounded"),
))


@implementation("dot", "numpy",
                notes="BLAS ?dot for float32/64; NumPy's float16 dot accumulates in float32")
def dot_numpy(dev, x, y):
    return np.dot(x, y)


@implementation("dot", "torch")
def dot_torch(dev, x, y):
    return dev.torch.dot(x, y)


@implementation("dot", "cupy")
def dot_cupy(dev, x, y):
    cp = dev.cp
    if x.dtype == cp.float16:
        with dev.ctx():
            return cp.dot(x, y)
    mod = dev.compile("dot.cu", REAL=real_type(x.dtype))
    threads = 256
    blocks = n_groups(x.size, threads)
    shmem = threads * x.dtype.itemsize
    with dev.ctx():
        partial = cp.empty(blocks, x.dtype)
        mod.get_function("dot_partial")((blocks,), (threads,), (np.int32(x.size), x, y, partial),
                                        shared_mem=shmem)
        out = cp.empty(1, x.dtype)
        mod.get_function("sum_partial")((1,), (threads,), (np.int32(blocks), partial, out), shared_mem=shmem)
    return out.reshape(())


@implementation("dot", "opencl")
def dot_opencl(dev, x, y):
    """Vector chunks per work-item, a tree per group, then one group over the partials."""
    vw = 16
    prg = dev.compile("dot.cl", dtype=str(x.dtype), VW=vw)
    g = chunked_reduction(dev, x.size, prg.dot_chunks, vw)
    partial = cl_empty(dev, (g.groups,), x.dtype)
    dev.launch(prg.dot_chunks, g.first_launch, (g.local,), np.int32(x.size), np.int32(g.chunk), x.data, y.data,
               partial.data, g.scratch(x.dtype))
    return g.reduce_partials(dev, prg.sum_partial, partial, cl_empty(dev, (1,), x.dtype))


@implementation("dot", "opencl", "opencl_tree")
def dot_opencl_tree(dev, x, y):
    """The untuned GPU-style version: grid-stride slices, 256-wide groups, fresh buffers."""
    prg = dev.compile("dot.cl", dtype=str(x.dtype))
    g = strided_reduction(dev, x.size)
    partial = dev.empty((g.groups,), x.dtype)
    dev.launch(prg.dot_partial, g.first_launch, (g.local,), np.int32(x.size), x.data, y.data, partial.data,
               g.scratch(x.dtype))
    return g.reduce_partials(dev, prg.sum_partial, partial, dev.empty((1,), x.dtype))


@array_api_implementation("dot")
def dot_xp(xp, x, y):
    return xp.vecdot(x, y)
