"""jacobi2d: k Jacobi sweeps of the 5-point Poisson stencil on an n×n grid. Size: the side n.

    x⁽ᵗ⁺¹⁾[i,j] = ¼ (x⁽ᵗ⁾[i−1,j] + x⁽ᵗ⁾[i+1,j] + x⁽ᵗ⁾[i,j−1] + x⁽ᵗ⁾[i,j+1] + b[i,j])

on the interior; the outer ring is a fixed Dirichlet boundary. The sweep count k is
fixed (K_SWEEPS) and kept in the inputs as an exact int; states are returned at
9 checkpoints (iteration 0, 16, ..., 128), stacked as (9, n, n).

Error model (first-order, max norm): one sweep sums 5 terms and scales by ¼, which
is exact, so its local error is at most γ_4·(4‖x‖∞ + ‖b‖∞)/4 (Higham 2002, §3.1,
recursive summation of 5 terms in any order); γ_5 leaves room for one more rounding
(e.g. scaling before adding b). The sweep is non-expansive in the max norm (weights
¼ sum to 1 and the boundary is fixed), so local errors add up without amplification:
‖x̂ₜ − xₜ‖∞ ≤ γ_{5t}·(Mₜ + ‖b‖∞/4) with Mₜ = ‖x₀‖∞ + t‖b‖∞/4 (the discrete maximum
principle bounds every iterate; inputs are non-negative). The metric is the max-norm
relative error ‖x̂ₜ − xₜ‖∞/‖xₜ‖∞, reported at every checkpoint.
"""
from __future__ import annotations

import numpy as np

from ..accuracy import gamma
from ..declarations import array_api_implementation, implementation, register_kernel
from ._common import real_type, ref_dtype, square_tile
from ._iterative import (checkpoint_error_model, checkpoint_evaluate, checkpoint_steps, iterative_spec, opencl_clone,
                         opencl_copy_into, safe_div)

K_SWEEPS = 128
N_CHECKPOINTS = 9


def generate(n, rng):
    return {"x0": rng.uniform(0.0, 1.0, (n, n)), "b": rng.uniform(0.0, 1.0 / 32, (n, n)), "k": K_SWEEPS}


def sweeps(x0, b, k, t=np.float64):
    """Stacked checkpoint states of k sweeps in float type t (reference and checks)."""
    x = np.array(x0, dtype=t)
    bb = np.asarray(b, dtype=t)
    y = x.copy()
    steps = checkpoint_steps(k, N_CHECKPOINTS)
    out = np.empty((len(steps),) + x.shape, dtype=t)
    out[0] = x
    quarter = t(0.25)
    for it in range(1, int(k) + 1):
        y[1:-1, 1:-1] = (x[:-2, 1:-1] + x[2:, 1:-1] + x[1:-1, :-2] + x[1:-1, 2:] + bb[1:-1, 1:-1]) * quarter
        x, y = y, x
        if it in steps:
            out[steps.index(it)] = x
    return out


def reference(inp, dtype):
    return sweeps(inp["x0"], inp["b"], inp["k"], ref_dtype(dtype)).astype(np.float64)


def _bounds(c):
    steps = checkpoint_steps(c.inputs["k"], N_CHECKPOINTS)
    x0 = float(np.max(np.abs(c.inputs["x0"]))) if c.inputs["x0"].size else 0.0
    bq = float(np.max(np.abs(c.inputs["b"]))) / 4 if c.inputs["b"].size else 0.0
    out = []
    for i, t in enumerate(steps):
        xt = float(np.max(np.abs(c.reference[i]))) if c.reference[i].size else 0.0
        out.append(safe_div(gamma(5 * t, c.u) * (x0 + t * bq + bq), xt) if t else 0.0)
    return out


SPEC = register_kernel(iterative_spec(
    "jacobi2d", generate, reference,
    description=f"{K_SWEEPS} Jacobi sweeps of the 5-point Poisson stencil on an n x n grid",
    size_meaning="side n of the n x n grid (boundary ring included)",
    flops=lambda n: 5.0 * max(n - 2, 0) ** 2 * K_SWEEPS,
    bytes_moved=lambda n, b: (2.0 * K_SWEEPS + 1.0) * n * n * b,
    error_model=checkpoint_error_model(
        _bounds, checkpoint_evaluate(_bounds, "inf", N_CHECKPOINTS), "max_relative",
        "max-norm relative error of the grid", growth_slope=0.0,
        source="first-order: each sweep adds <= γ_5 (M_t + ||b||/4) in the max norm (Higham 2002, §3.1, "
               "summation of 5 terms; scaling by 1/4 exact) and the sweep is non-expansive in the max norm, "
               "so ||e_t|| <= γ_{5t} (||x0|| + (t+1)||b||/4); relative to ||x_t||_inf"),
    sizes={"quick": (32, 64, 128), "full": (64, 128, 256, 512, 1024), "test": (1, 3, 7, 33, 70)},
    input_distribution="x0 ~ U(0,1), b ~ U(0,1/32) on an n x n grid",
))


def ping_pong(sweep, x, y, k, keep) -> None:
    """k sweeps alternating two grids, as every version but the Array API one runs them:
    sweep(src, dst) writes the next state into dst, then the two swap roles;
    keep(slot, grid) stores the state at each checkpoint after the first."""
    steps = checkpoint_steps(k, N_CHECKPOINTS)
    for it in range(1, int(k) + 1):
        sweep(x, y)
        x, y = y, x
        if it in steps:
            keep(steps.index(it), x)


def in_place_sweep(add, b, quarter):
    """The NumPy and torch sweep (`add` is np.add or torch.add): into the interior of
    dst in place, with no temporaries, two neighbours added, the other two, b, then the
    scaling by `quarter`, in the same order for both."""
    bi = b[1:-1, 1:-1]

    def sweep(x, y) -> None:
        yi = y[1:-1, 1:-1]
        add(x[:-2, 1:-1], x[2:, 1:-1], out=yi)
        yi += x[1:-1, :-2]
        yi += x[1:-1, 2:]
        yi += bi
        yi *= quarter

    return sweep


@implementation("jacobi2d", "numpy")
def jacobi2d_numpy(dev, x0, b, k):
    """In-place adds into a preallocated buffer: no temporaries per sweep."""
    out = np.empty((len(checkpoint_steps(k, N_CHECKPOINTS)),) + x0.shape, dtype=x0.dtype)
    out[0] = x0
    ping_pong(in_place_sweep(np.add, b, x0.dtype.type(0.25)), x0.copy(), x0.copy(), k, out.__setitem__)
    return out


@implementation("jacobi2d", "torch")
def jacobi2d_torch(dev, x0, b, k):
    torch = dev.torch
    out = torch.empty((len(checkpoint_steps(k, N_CHECKPOINTS)),) + tuple(x0.shape), dtype=x0.dtype, device=x0.device)
    out[0] = x0
    ping_pong(in_place_sweep(torch.add, b, 0.25), x0.clone(), x0.clone(), k, out.__setitem__)
    return out


@implementation("jacobi2d", "cupy")
def jacobi2d_cupy(dev, x0, b, k):
    cp = dev.cp
    kern = dev.compile("jacobi2d.cu", REAL=real_type(x0.dtype)).get_function("jacobi_sweep")
    n = x0.shape[0]
    grid = (-(-n // 16), -(-n // 16), 1)
    with dev.ctx():
        out = cp.empty((len(checkpoint_steps(k, N_CHECKPOINTS)),) + x0.shape, dtype=x0.dtype)
        out[0] = x0
        ping_pong(lambda src, dst: kern(grid, (16, 16, 1), (np.int32(n), src, b, dst)), x0.copy(), x0.copy(), k,
                  out.__setitem__)
    return out


@implementation("jacobi2d", "opencl")
def jacobi2d_opencl(dev, x0, b, k):
    """One launch per sweep, ping-ponging two device buffers; checkpoints copied on the device."""
    ts = square_tile(dev)
    prg = dev.compile("jacobi2d.cl", dtype=str(x0.dtype), TS=ts)
    n = x0.shape[0]
    x, y = opencl_clone(dev, x0), opencl_clone(dev, x0)
    out = dev.empty((len(checkpoint_steps(k, N_CHECKPOINTS)),) + x0.shape, x0.dtype)
    opencl_copy_into(dev, out, 0, x0)

    def sweep(src, dst) -> None:
        dev.launch(prg.jacobi_sweep, (n, n), (ts, ts), np.int32(n), src.data, b.data, dst.data)

    ping_pong(sweep, x, y, k, lambda slot, grid: opencl_copy_into(dev, out, slot, grid))
    return out


@array_api_implementation("jacobi2d")
def jacobi2d_xp(xp, x0, b, k):
    n = x0.shape[0]
    steps = checkpoint_steps(k, N_CHECKPOINTS)
    states = [x0]
    x = x0
    if n > 2:
        bi = b[1:-1, 1:-1]
        for it in range(1, int(k) + 1):
            interior = (x[:-2, 1:-1] + x[2:, 1:-1] + x[1:-1, :-2] + x[1:-1, 2:] + bi) * 0.25
            # rebuild the grid around the new interior: the boundary ring stays fixed
            mid = xp.concat([x[1:-1, :1], interior, x[1:-1, -1:]], axis=1)
            x = xp.concat([x[:1, :], mid, x[-1:, :]], axis=0)
            if it in steps:
                states.append(x)
    else:
        states += [x0] * (len(steps) - 1)
    return xp.stack(states)
