"""chroma_key: composite a foreground over a background where the foreground pixel's
colour is close to a key colour. Size: the side n of the n×n×3 images.

out[p] = bg[p] if ‖fg[p] − key‖² < t² else fg[p], with the squared Euclidean distance
(no square root) and the threshold t as an input. The output is a pure selection, so
the only way rounding can change it is by flipping the mask. Computing d² = Σ(f−k)²
takes 5 roundings on the longest path and t² one, so a flip needs
|d² − t²| ≤ γ₆(d² + t²) (Higham 2002, §3.1 (3.5) for the 3-term sum of squares, §2.2
(2.4) for the subtractions). The bound is the fraction of such "ambiguous" pixels,
computed from the data; pixels outside that band must agree with the reference.

Metric (from ErrorModel.evaluate): rel_error = mask mismatch rate + normwise relative
error of the composited pixels whose mask agrees (which a correct backend copies
exactly, so it is 0). The implementation's mask is read off the output: a pixel equal
to bg but not fg took the background.
"""
from __future__ import annotations

import numpy as np

from ..accuracy import ErrorModel, gamma, normwise_relative
from ..declarations import array_api_implementation, implementation, register_kernel
from ..spec import KernelSpec
from ._common import opencl_map, ref_dtype, side_sizes, streaming_cost

KEY = (0.1, 0.8, 0.2)
THRESHOLD = 0.25


def generate(n, rng):
    screen = rng.uniform(size=(n, n, 1)) < 0.5
    near_key = np.asarray(KEY) + rng.normal(0.0, 0.12, (n, n, 3))
    fg = np.clip(np.where(screen, near_key, rng.uniform(0.0, 1.0, (n, n, 3))), 0.0, 1.0)
    return {"fg": fg, "bg": rng.uniform(0.0, 1.0, (n, n, 3)), "key": np.asarray(KEY), "threshold": THRESHOLD}


def _dist2(inp, t=np.float64):
    d = inp["fg"].astype(t) - inp["key"].astype(t)
    return np.sum(d * d, axis=-1), t(inp["threshold"]) * t(inp["threshold"])


def key_mask(inp, dtype="float32"):
    d2, t2 = _dist2(inp, ref_dtype(dtype))
    return d2 < t2


def reference(inp, dtype):
    return np.where(key_mask(inp, dtype)[..., None], inp["bg"], inp["fg"]).astype(np.float64)


def ambiguous(inp, u):
    """Pixels whose mask rounding may legitimately flip: |d² − t²| ≤ γ₆(d² + t²)."""
    d2, t2 = _dist2(inp)
    return np.abs(d2 - t2) <= gamma(6, u) * (d2 + t2)


def bound(c):
    return float(np.mean(ambiguous(c.inputs, c.u))) if c.reference.size else 0.0


def evaluate(out, ref, c):
    out = np.asarray(out, np.float64)
    fg, bg = c.inputs["fg"], c.inputs["bg"]
    mask_ref = key_mask(c.inputs, c.dtype)
    took_bg = np.all(out == bg, axis=-1)
    took_fg = np.all(out == fg, axis=-1)
    mismatch = np.where(mask_ref, took_fg & ~took_bg, took_bg & ~took_fg)
    agree = ~mismatch
    composite = normwise_relative(out[agree], ref[agree]) if agree.any() else 0.0
    rate = float(np.mean(mismatch)) if mismatch.size else 0.0
    return {"rel_error": rate + composite, "mask_mismatch_rate": rate, "composite_error": composite,
            "ambiguous_rate": float(np.mean(ambiguous(c.inputs, c.u))) if mismatch.size else 0.0}


SPEC = register_kernel(KernelSpec(
    name="chroma_key",
    description="composite fg over bg where |fg - key|^2 < t^2, on n x n RGB images",
    size_meaning="side n of the n x n x 3 images",
    generate=generate,
    reference=reference,
    **streaming_cost(flops=9, values=9, dims=2),  # per pixel: fg, bg read, out written (3 channels each)
    error_model=ErrorModel(
        metric="composite",
        metric_description="mask mismatch rate + normwise relative error of the composite",
        kind="rigorous", bound=bound, growth_slope=0.0, evaluate=evaluate,
        source="data-dependent: fraction of pixels with |d^2 - t^2| <= γ_6 (d^2 + t^2), the band in which "
               "rounding of the distance (Higham 2002, §3.1 (3.5) and §2.2 (2.4)) can flip the mask; "
               "composited pixels are exact copies"),
    sizes=side_sizes(1, 7, 33, 100),
    input_distribution="fg: half key colour + N(0, 0.12) noise, half U(0,1); bg ~ U(0,1); "
                       f"key={KEY}, t={THRESHOLD}",
))


def _composite(xp_where, fg, bg, key, threshold):
    d = fg - key
    d2 = d[..., 0] * d[..., 0] + d[..., 1] * d[..., 1] + d[..., 2] * d[..., 2]
    return xp_where((d2 < threshold * threshold)[..., None], bg, fg)


@implementation("chroma_key", "opencl")
def chroma_key_opencl(dev, fg, bg, key, threshold):
    """VW pixels (three cache lines per image) per work-item, output from the buffer pool."""
    return opencl_map(dev, "chroma_key.cl", "chroma_key_vec", fg.shape, fg.dtype, fg.shape[0] * fg.shape[1],
                      fg.data, bg.data, key.data, threshold)


@implementation("chroma_key", "opencl", "opencl_scalar")
def chroma_key_opencl_scalar(dev, fg, bg, key, threshold):
    """The untuned version: one pixel per work-item, a fresh output buffer per call."""
    return opencl_map(dev, "chroma_key.cl", "chroma_key", fg.shape, fg.dtype, fg.shape[0] * fg.shape[1],
                      fg.data, bg.data, key.data, threshold, tuned=False)


@array_api_implementation("chroma_key")
def chroma_key_xp(xp, fg, bg, key, threshold):
    return _composite(xp.where, fg, bg, key, threshold)
