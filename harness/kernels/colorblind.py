"""colorblind: simulate protanopia on an RGB image. Size: the side n of the n×n×3 image.

Every pixel p (linear RGB in [0,1]) becomes M·p with the 3×3 protanopia matrix of
Machado, Oliveira & Fernandes 2009 ("A Physiologically-based Model for Simulation of
Color Vision Deficiency", IEEE TVCG 15(6), 1291-1298; severity 1.0 table). M is an
input, rounded to the case dtype like the image, so its rounding is not kernel error.
Each output channel is a length-3 dot product, so |fl(M·p) − M·p| ≤ γ₃|M||p|
componentwise (Higham 2002, §3.1 (3.5)); the normwise bound is γ₃‖|p||M|ᵀ‖_F/‖M·p‖_F,
independent of n (slope 0). Memory-bound: 15 flops per 6 values moved.
"""
from __future__ import annotations

import numpy as np

from ..accuracy import gamma
from ..declarations import array_api_implementation, implementation, register_kernel
from ..spec import KernelSpec
from ._common import cuda_map, map_error_model, opencl_map, real_type, ref_dtype, side_sizes, streaming_cost
from ._reductions import REF_ROUNDING, normwise

#: Machado et al. 2009, protanopia, severity 1.0 (rows: output R, G, B).
PROTANOPIA = np.array([[0.152286, 1.052583, -0.204868],
                       [0.114503, 0.786281, 0.099216],
                       [-0.003882, -0.048116, 1.051998]])


def generate(n, rng):
    return {"img": rng.uniform(0.0, 1.0, (n, n, 3)), "M": PROTANOPIA.copy()}


def reference(inp, dtype):
    t = ref_dtype(dtype)
    img, M = inp["img"].astype(t), inp["M"].astype(t)
    out = img[..., 0:1] * M[:, 0] + img[..., 1:2] * M[:, 1] + img[..., 2:3] * M[:, 2]
    return out.astype(np.float64)


def bound(c):
    absprod = np.abs(c.inputs["img"]) @ np.abs(c.inputs["M"]).T
    return normwise(absprod, c.reference, gamma(3, c.u)) + REF_ROUNDING


SPEC = register_kernel(KernelSpec(
    name="colorblind",
    description="protanopia simulation: a 3x3 colour matrix applied to every pixel of an n x n RGB image",
    size_meaning="side n of the n x n x 3 image",
    generate=generate,
    reference=reference,
    **streaming_cost(flops=15, values=6, dims=2),  # per pixel: 3 channels read, 3 written
    error_model=map_error_model(
        bound, "Higham 2002, §3.1 (3.5): each channel is a 3-term dot product, "
               "|fl(Mp) - Mp| <= γ_3 |M||p|; normwise over the image. Matrix: Machado, Oliveira & "
               "Fernandes 2009, IEEE TVCG 15(6), protanopia severity 1.0"),
    sizes=side_sizes(1, 7, 33, 100),
    input_distribution="pixels ~ U(0,1) per channel; M = Machado 2009 protanopia",
))


@implementation("colorblind", "cupy")
def colorblind_cupy(dev, img, M):
    cp = dev.cp
    if img.dtype == cp.float16:
        with dev.ctx():
            return cp.matmul(img, M.T)
    kern = dev.compile("colorblind.cu", REAL=real_type(img.dtype)).get_function("colorblind")
    pixels = img.shape[0] * img.shape[1]
    with dev.ctx():
        out = cp.empty_like(img)
        cuda_map(kern, pixels, (np.int32(pixels), img, M, out))
    return out


@implementation("colorblind", "opencl")
def colorblind_opencl(dev, img, M):
    """VW pixels (three cache lines) per work-item, output from the device's buffer pool."""
    return opencl_map(dev, "colorblind.cl", "colorblind_vec", img.shape, img.dtype, img.shape[0] * img.shape[1],
                      img.data, M.data)


@implementation("colorblind", "opencl", "opencl_scalar")
def colorblind_opencl_scalar(dev, img, M):
    """The untuned version: one pixel per work-item, a fresh output buffer per call."""
    return opencl_map(dev, "colorblind.cl", "colorblind", img.shape, img.dtype, img.shape[0] * img.shape[1],
                      img.data, M.data, tuned=False)


@array_api_implementation("colorblind")
def colorblind_xp(xp, img, M):
    return xp.matmul(img, xp.matrix_transpose(M))
