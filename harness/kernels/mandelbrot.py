"""mandelbrot: escape counts of z ← z² + c over an n×n grid of c. Size: the side n.

Outputs are integers and the map is chaotic, so a normwise error means nothing; the
metric is the fraction of pixels whose count differs from the float64 reference.
The bound is a perturbation (condition) estimate computed from the data: the
fraction of pixels whose float64 count changes when c moves by a relative 10·u in
either coordinate, plus one pixel. Pixels far from the set's boundary are stable
under rounding; only those near it may legitimately differ.
"""
from __future__ import annotations

import hashlib

import numpy as np

from ..accuracy import ErrorModel
from ..declarations import array_api_implementation, implementation, register_kernel
from ..spec import KernelSpec
from ..references import independent_code
from ._common import cl_empty, local_2d, real_type, square_tile

MAX_ITER = 100
KAPPA = 10.0


def generate(n, rng):
    # A jittered grid over the set: the seed moves every point by up to one cell.
    cx = np.linspace(-2.1, 0.7, n, endpoint=False) + rng.uniform(0, 2.8 / n, n)
    cy = np.linspace(-1.3, 1.3, n, endpoint=False) + rng.uniform(0, 2.6 / n, n)
    return {"cx": cx, "cy": cy, "max_iter": MAX_ITER}


def escape_counts(cx, cy, max_iter, t=np.float64):
    """Vectorised escape counts in float type t (the reference and the NumPy kernel)."""
    cr = np.broadcast_to(np.asarray(cx, t)[None, :], (len(cy), len(cx)))
    ci = np.broadcast_to(np.asarray(cy, t)[:, None], (len(cy), len(cx)))
    zr = np.zeros(cr.shape, t)
    zi = np.zeros(cr.shape, t)
    two, four = t(2), t(4)
    counts = np.zeros(cr.shape, np.int32)
    active = np.ones(cr.shape, bool)
    for _ in range(max_iter):
        zr2, zi2 = zr * zr, zi * zi
        active &= ~(zr2 + zi2 > four)
        if not active.any():
            break
        zi = np.where(active, two * zr * zi + ci, zi)
        zr = np.where(active, zr2 - zi2 + cr, zr)
        counts += active
    return counts


def escape_counts_complex(cx, cy, max_iter, ct):
    """Escape counts by complex arithmetic in complex type ct: the reference's own code,
    shared with no implementation (escape_counts is the NumPy kernel's)."""
    c = np.asarray(cx, ct)[None, :] + np.asarray(cy, ct)[:, None] * ct(1j)
    z = np.zeros(c.shape, ct)
    counts = np.zeros(c.shape, np.int32)
    active = np.ones(c.shape, bool)
    for _ in range(int(max_iter)):
        active &= ~(z.real * z.real + z.imag * z.imag > 4)
        if not active.any():
            break
        z[active] = z[active] * z[active] + c[active]
        counts += active
    return counts


def reference(inp, dtype):
    ct = np.clongdouble if dtype == "float64" else np.complex128
    return escape_counts_complex(inp["cx"], inp["cy"], inp["max_iter"], ct)


_SENSITIVE: dict[str, float] = {}


def bound(c):
    cx, cy, it = c.inputs["cx"], c.inputs["cy"], c.inputs["max_iter"]
    key = hashlib.sha256(cx.tobytes() + cy.tobytes() + str((it, c.u)).encode()).hexdigest()
    if key not in _SENSITIVE:
        d = KAPPA * c.u
        sensitive = np.zeros(c.reference.shape, bool)
        for sx, sy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            sensitive |= escape_counts(cx * (1 + sx * d), cy * (1 + sy * d), it) != c.reference
        _SENSITIVE[key] = float(np.mean(sensitive)) + 1.0 / sensitive.size
    return _SENSITIVE[key]


SPEC = register_kernel(KernelSpec(
    name="mandelbrot",
    description=f"escape counts (max {MAX_ITER} iterations) over an n x n grid",
    size_meaning="side n of the n x n grid",
    generate=generate,
    reference=reference,
    flops=lambda n: 8.0 * n * n * MAX_ITER,  # nominal: every pixel iterating to max_iter
    bytes_moved=lambda n, b: 2.0 * n * b + 4.0 * n * n,
    output_dtype=lambda dtype: "int32",
    keep_exact=frozenset({"max_iter"}),
    error_model=ErrorModel(
        metric="mismatch", metric_description="fraction of pixels whose escape count differs from the reference",
        kind="estimate", bound=bound, growth_slope=0.0,
        source="perturbation estimate: fraction of pixels whose float64 escape count changes "
               f"under a relative perturbation of c by {KAPPA:g}u (plus one pixel)"),
    sizes={"quick": (64, 256, 512), "full": (64, 256, 512, 1024, 2048), "test": (1, 7, 33, 64)},
    category="compute",
    input_distribution="jittered grid over [-2.1,0.7] x [-1.3,1.3]",
    reference_info=independent_code("complex iteration (not the NumPy kernel's code)"),
))


@implementation("mandelbrot", "numpy")
def mandelbrot_numpy(dev, cx, cy, max_iter):
    return escape_counts(cx, cy, max_iter, cx.dtype.type)


@implementation("mandelbrot", "cupy")
def mandelbrot_cupy(dev, cx, cy, max_iter):
    cp = dev.cp
    kern = dev.compile("mandelbrot.cu", REAL=real_type(cx.dtype)).get_function("mandelbrot")
    nx, ny = cx.size, cy.size
    with dev.ctx():
        counts = cp.empty((ny, nx), dtype=cp.int32)
        block = (16, 16, 1)
        grid = (-(-nx // 16), -(-ny // 16), 1)
        kern(grid, block, (np.int32(nx), np.int32(ny), np.int32(max_iter), cx, cy, counts))
    return counts


@implementation("mandelbrot", "opencl")
def mandelbrot_opencl(dev, cx, cy, max_iter):
    """VW pixels per work-item in vector registers (see mandelbrot.cl)."""
    vw = 8
    prg = dev.compile("mandelbrot.cl", dtype=str(cx.dtype), VW=vw)
    nx, ny = cx.size, cy.size
    counts = cl_empty(dev, (ny, nx), np.int32)
    grid = (-(-nx // vw), ny)
    dev.launch(prg.mandelbrot_vec, grid, local_2d(dev, grid, prg.mandelbrot_vec, target=16), np.int32(nx),
               np.int32(ny), max_iter, cx.data, cy.data, counts.data)
    return counts


@implementation("mandelbrot", "opencl", "opencl_scalar")
def mandelbrot_opencl_scalar(dev, cx, cy, max_iter):
    """The untuned version: one pixel per work-item, 16×16 work-groups."""
    prg = dev.compile("mandelbrot.cl", dtype=str(cx.dtype), VW=8)
    nx, ny = cx.size, cy.size
    counts = dev.empty((ny, nx), np.int32)
    local = (square_tile(dev),) * 2
    dev.launch(prg.mandelbrot, (nx, ny), local, np.int32(nx), np.int32(ny), max_iter,
               cx.data, cy.data, counts.data)
    return counts


@array_api_implementation("mandelbrot")
def mandelbrot_xp(xp, cx, cy, max_iter):
    shape = (cy.shape[0], cx.shape[0])
    cr = xp.broadcast_to(xp.reshape(cx, (1, -1)), shape)
    ci = xp.broadcast_to(xp.reshape(cy, (-1, 1)), shape)
    zr = xp.zeros_like(cr)
    zi = xp.zeros_like(cr)
    counts = xp.zeros(shape, dtype=xp.int32, device=getattr(cx, "device", None))
    active = xp.ones(shape, dtype=xp.bool, device=getattr(cx, "device", None))
    for _ in range(max_iter):
        zr2, zi2 = zr * zr, zi * zi
        active = xp.logical_and(active, xp.logical_not(zr2 + zi2 > 4))
        zi = xp.where(active, 2 * zr * zi + ci, zi)
        zr = xp.where(active, zr2 - zi2 + cr, zr)
        counts = counts + xp.astype(active, xp.int32)
    return counts
