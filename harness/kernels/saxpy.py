"""saxpy: y ← a·x + y. Size: the length n of the vectors.

The classic memory-bound map: 2 flops and 3 memory accesses per element. Each
output is a length-2 dot product (a, 1)·(x, y), so the componentwise error is at
most γ₂(|a||x| + |y|) (Higham 2002, §3.1); with an FMA it is at most u.
"""
from __future__ import annotations

import numpy as np

from ..accuracy import gamma
from ..declarations import array_api_implementation, implementation, register_kernel
from ..spec import KernelSpec
from ..references import compensated, longdouble_is_wide
from ._common import map_error_model, opencl_map, ref_dtype, streaming_cost, vector_sizes
from ._reductions import two_product, two_sum


def generate(n, rng):
    return {"a": float(rng.uniform(0.5, 2.0)), "x": rng.standard_normal(n), "y": rng.standard_normal(n)}


def reference(inp, dtype):
    if dtype == "float64" and not longdouble_is_wide():
        # a·x + y as p + e + y (TwoProduct), then TwoSum: ~106 bits without long double.
        p, e = two_product(np.float64(inp["a"]), inp["x"])
        s, f = two_sum(p, np.asarray(inp["y"], np.float64))
        return s + (e + f)
    t = ref_dtype(dtype)
    return (t(inp["a"]) * inp["x"].astype(t) + inp["y"].astype(t)).astype(np.float64)


def bound(c):
    a, x, y = c.inputs["a"], c.inputs["x"], c.inputs["y"]
    den = np.linalg.norm(c.reference)
    return gamma(2, c.u) * np.linalg.norm(abs(a) * np.abs(x) + np.abs(y)) / den if den else gamma(2, c.u)


SPEC = register_kernel(KernelSpec(
    name="saxpy",
    description="y <- a*x + y on vectors of length n",
    size_meaning="length of the vectors",
    generate=generate,
    reference=reference,
    **streaming_cost(flops=2, values=3),  # x, y read, y written
    error_model=map_error_model(
        bound, "Higham 2002, Accuracy and Stability of Numerical Algorithms, §3.1: "
               "|fl(a*x+y) - (a*x+y)| <= γ_2 (|a||x|+|y|), normwise over the vector"),
    sizes=vector_sizes(1, 7, 1000, 1025),
    input_distribution="x, y ~ N(0,1); a ~ U(0.5, 2)",
    reference_info=compensated("", "TwoProduct + TwoSum in float64 (~106 bits)"),
))


@implementation("saxpy", "torch")
def saxpy_torch(dev, a, x, y):
    return dev.torch.add(y, x, alpha=a)


@implementation("saxpy", "opencl")
def saxpy_opencl(dev, a, x, y):
    """VW elements (one cache line) per work-item, output from the device's buffer pool."""
    return opencl_map(dev, "saxpy.cl", "saxpy", x.shape, x.dtype, x.size, a, x.data, y.data)


@implementation("saxpy", "opencl", "opencl_scalar")
def saxpy_opencl_scalar(dev, a, x, y):
    """The untuned version: one element per work-item, a fresh output buffer per call."""
    return opencl_map(dev, "saxpy.cl", "saxpy", x.shape, x.dtype, x.size, a, x.data, y.data, tuned=False, VW=1)


@array_api_implementation("saxpy")
def saxpy_xp(xp, a, x, y):
    return a * x + y
