"""vadd: z = x + y. Size: the length n of the vectors.

The simplest memory-bound map: 1 flop and 3 memory accesses per element. Each output
is one rounded addition, so |fl(x+y) − (x+y)| ≤ u|x+y| componentwise (Higham 2002,
§2.2, the standard model (2.4)) and the normwise relative error is at most u, whatever
the size: the predicted growth slope is 0. With a correctly rounded reference, a
correct backend gives exactly zero error.
"""
from __future__ import annotations

import numpy as np

from ..declarations import array_api_implementation, implementation, register_kernel
from ..spec import KernelSpec
from ..references import exact
from ._common import map_error_model, opencl_map, ref_dtype, streaming_cost, vector_sizes


def generate(n, rng):
    return {"x": rng.standard_normal(n), "y": rng.standard_normal(n)}


def reference(inp, dtype):
    t = ref_dtype(dtype)
    return (inp["x"].astype(t) + inp["y"].astype(t)).astype(np.float64)


def bound(c):
    return c.u


SPEC = register_kernel(KernelSpec(
    name="vadd",
    description="z = x + y on vectors of length n",
    size_meaning="length of the vectors",
    generate=generate,
    reference=reference,
    **streaming_cost(flops=1, values=3),  # x, y read, z written
    error_model=map_error_model(
        bound, "Higham 2002, Accuracy and Stability of Numerical Algorithms, §2.2 (2.4): "
               "fl(x+y) = (x+y)(1+δ), |δ| <= u, so the normwise relative error is <= u"),
    sizes=vector_sizes(1, 7, 1000, 1025),
    input_distribution="x, y ~ N(0,1)",
    reference_info=exact("x + y in a wider format: one IEEE addition, the exact sum correctly rounded"),
))


@implementation("vadd", "opencl")
def vadd_opencl(dev, x, y):
    """One cache line per work-item, output from the device's buffer pool (as saxpy)."""
    return opencl_map(dev, "vadd.cl", "vadd", x.shape, x.dtype, x.size, x.data, y.data)


@implementation("vadd", "opencl", "opencl_scalar")
def vadd_opencl_scalar(dev, x, y):
    """The untuned version: one element per work-item, a fresh output buffer per call."""
    return opencl_map(dev, "vadd.cl", "vadd", x.shape, x.dtype, x.size, x.data, y.data, tuned=False, VW=1)


@array_api_implementation("vadd")
def vadd_xp(xp, x, y):
    return xp.add(x, y)
