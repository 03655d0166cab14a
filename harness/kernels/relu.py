"""relu: y = max(x, 0). Size: the length n of the vector.

A memory-bound map with no rounding at all: max(x, 0) returns one of its operands
(IEEE 754-2008 §5.3.1 maxNum; a comparison and a select), so every correct backend
is exact and the bound is 0. Any nonzero error is a real defect (e.g. flushing
subnormals to zero, or a NaN policy), which error_ratio then shows as infinite.
Inputs are N(0,1): half the elements are clipped.
"""
from __future__ import annotations

import numpy as np

from ..declarations import array_api_implementation, implementation, register_kernel
from ..spec import KernelSpec
from ..references import exact
from ._common import map_error_model, opencl_map, streaming_cost, vector_sizes


def generate(n, rng):
    return {"x": rng.standard_normal(n)}


def reference(inp, dtype):
    """A select, not np.maximum: the NumPy implementation's own call."""
    x = np.asarray(inp["x"], dtype=np.float64)
    return np.where(x > 0.0, x, 0.0)


SPEC = register_kernel(KernelSpec(
    name="relu",
    description="y = max(x, 0) on a vector of length n",
    size_meaning="length of the vector",
    generate=generate,
    reference=reference,
    **streaming_cost(flops=1, values=2),  # x read, y written
    error_model=map_error_model(
        lambda c: 0.0, "IEEE 754-2008 §5.3.1 (maxNum) / Higham 2002 §2.2: max(x, 0) selects an operand "
                       "and is exact, so the bound is 0",
        notes="exact: any error is a defect, not rounding"),
    sizes=vector_sizes(1, 7, 1000, 1025),
    input_distribution="x ~ N(0,1)",
    reference_info=exact("select x > 0 (exact, no rounding; not np.maximum)"),
))


@implementation("relu", "numpy")
def relu_numpy(dev, x):
    return np.maximum(x, x.dtype.type(0))


@implementation("relu", "torch")
def relu_torch(dev, x):
    return dev.torch.relu(x)


@implementation("relu", "cupy")
def relu_cupy(dev, x):
    with dev.ctx():
        return dev.cp.maximum(x, x.dtype.type(0))


@implementation("relu", "opencl")
def relu_opencl(dev, x):
    """One cache line per work-item, output from the device's buffer pool (as saxpy)."""
    return opencl_map(dev, "relu.cl", "relu", x.shape, x.dtype, x.size, x.data)


@implementation("relu", "opencl", "opencl_scalar")
def relu_opencl_scalar(dev, x):
    """The untuned version: one element per work-item, a fresh output buffer per call."""
    return opencl_map(dev, "relu.cl", "relu", x.shape, x.dtype, x.size, x.data, tuned=False, VW=1)


@array_api_implementation("relu")
def relu_xp(xp, x):
    return xp.where(x > 0, x, xp.zeros_like(x))
