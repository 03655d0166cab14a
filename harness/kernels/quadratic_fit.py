"""quadratic_fit: fit a·x² + b·x + c to n noisy samples by k steps of gradient descent.
Size: the number n of samples.

    L(θ) = (1/n) Σᵢ (a xᵢ² + b xᵢ + c − yᵢ)²,   θ ← θ − lr·∇L = θ − lr·(2/n)·Φᵀr

with Φ = [x², x, 1] built in the kernel, x ~ U(−1, 1), y = a*x² + b*x + c + N(0, 0.1²)
for random true coefficients, θ₀ ~ N(0, 0.5²), lr = 1/4 and k = 200 steps, checkpoints
every 25. Since |Φᵢ|² ≤ 3, the Hessian (2/n)ΦᵀΦ has eigenvalues ≤ 6 < 2/lr, so the
iteration is stable for any data. Output (9, 3): the coefficients at each checkpoint.

Error model: gradient descent on a quadratic is the linear map θ ← Jθ + const with
J = I − lr(2/n)ΦᵀΦ, so errors made in one step are multiplied by at most ρ = ‖J‖₂ ≤ 1
per later step: ‖eₜ₊₁‖ ≤ ρ‖eₜ‖ + δₜ. The local error δₜ is a first-order running error
bound along the float64 trajectory (Higham 2002, §3.3): 4 roundings in each residual,
one in x², γ_{n+2} for the three length-n sums of the gradient (§3.1, any order), and
one rounding per scaling and per update. With ρ < 1 the bound saturates: the error of
a convergent linear iteration does not grow without limit. The metric is
‖θ̂ₜ − θₜ‖₂/‖θₜ‖₂ against the float64 (long double for float64) trajectory.
"""
from __future__ import annotations

import numpy as np

from ..declarations import array_api_implementation, implementation, register_kernel
from ._common import n_groups, real_type, ref_dtype, streaming_cost, work_group_1d
from ._iterative import (cached, checkpoint_error_model, checkpoint_evaluate, checkpoint_steps, iterative_spec,
                         opencl_copy_into, safe_div)

K_STEPS = 200
N_CHECKPOINTS = 9


def generate(n, rng):
    a, b, c = rng.standard_normal(3)
    x = rng.uniform(-1.0, 1.0, n)
    y = a * x * x + b * x + c + 0.1 * rng.standard_normal(n)
    return {"x": x, "y": y, "theta0": 0.5 * rng.standard_normal(3), "lr": 0.25, "k": K_STEPS}


def gd(x, y, theta0, lr, k, t=np.float64):
    x, y, th = (np.array(a, dtype=t) for a in (x, y, theta0))
    lr = t(lr)
    scale = t(2) / t(max(x.size, 1))
    phi = np.stack([x * x, x, np.ones_like(x)])
    steps = checkpoint_steps(k, N_CHECKPOINTS)
    out = np.empty((len(steps), 3), dtype=t)
    out[0] = th
    for it in range(1, int(k) + 1):
        r = th[0] * phi[0] + th[1] * phi[1] + th[2] - y
        g = scale * np.array([np.sum(phi[j] * r) for j in range(3)], dtype=t)
        th = th - lr * g
        if it in steps:
            out[steps.index(it)] = th
    return out


def reference(inp, dtype):
    return gd(inp["x"], inp["y"], inp["theta0"], inp["lr"], inp["k"], ref_dtype(dtype)).astype(np.float64)


def running_error(x, y, theta0, lr, k):
    """Per-checkpoint bound on ‖θ̂ₜ − θₜ‖₂ in units of u (module doc)."""
    n = x.size
    s = 2.0 / max(n, 1)
    phi = np.stack([x * x, x, np.ones_like(x)])
    rho = float(np.max(np.abs(1 - lr * s * np.linalg.eigvalsh(phi @ phi.T))))
    th = np.array(theta0, dtype=np.float64)
    steps = checkpoint_steps(k, N_CHECKPOINTS)
    e, out = 0.0, [0.0]
    aphi = np.abs(phi)
    for it in range(1, int(k) + 1):
        r = th @ phi - y
        er = abs(th[0]) * phi[0] + 4 * (np.abs(th) @ aphi + np.abs(y))
        g = s * (phi @ r)
        eg = s * (aphi @ er + np.array([np.sum(phi[0] * np.abs(r)), 0.0, 0.0]) + (n + 2) * (aphi @ np.abs(r))) \
            + 2 * np.abs(g)
        th = th - lr * g
        delta = float(np.linalg.norm(lr * eg + lr * np.abs(g) + np.abs(th)))
        e = rho * e + delta
        if it in steps:
            out.append(e)
    return out


def _bounds(c):
    i = c.inputs
    errs = cached("quadratic_fit", i, lambda: running_error(i["x"], i["y"], i["theta0"], float(i["lr"]), i["k"]))
    return [safe_div(c.u * e, float(np.linalg.norm(c.reference[s]))) for s, e in enumerate(errs)]


SPEC = register_kernel(iterative_spec(
    "quadratic_fit", generate, reference,
    description=f"{K_STEPS} gradient-descent steps fitting a*x^2+b*x+c to n noisy samples",
    size_meaning="number n of samples",
    **streaming_cost(flops=14, values=2, steps=K_STEPS),  # per step: x, y read
    error_model=checkpoint_error_model(
        _bounds, checkpoint_evaluate(_bounds, "2", N_CHECKPOINTS), "normwise",
        "normwise relative error of (a, b, c)", growth_slope=1.0,
        source="first-order running error bound (Higham 2002, §3.3; γ_{n+2} for the gradient sums, §3.1) "
               "propagated through the linear GD map with ||I - lr (2/n) Phi^T Phi||_2 <= 1"),
    sizes={"quick": (100, 1000, 10_000), "full": (100, 1000, 10_000, 100_000, 1_000_000),
           "test": (1, 7, 33, 1000)},
    input_distribution="x ~ U(-1,1); y = a x^2 + b x + c + N(0, 0.01); a, b, c ~ N(0,1); theta0 ~ N(0, 0.25)",
))


def _launch_geometry(n, local):
    return n_groups(n, local, cap=64)


@implementation("quadratic_fit", "cupy")
def quadratic_fit_cupy(dev, x, y, theta0, lr, k):
    cp = dev.cp
    mod = dev.compile("quadratic_fit.cu", REAL=real_type(x.dtype), WG=256)
    part_k, upd_k = mod.get_function("qf_partial"), mod.get_function("qf_update")
    n = x.size
    t = x.dtype.type
    groups = _launch_geometry(n, 256)
    steps = checkpoint_steps(k, N_CHECKPOINTS)
    with dev.ctx():
        th = theta0.copy()
        partial = cp.empty(3 * groups, dtype=x.dtype)
        out = cp.empty((len(steps), 3), dtype=x.dtype)
        out[0] = th
        for it in range(1, int(k) + 1):
            part_k((groups,), (256,), (np.int32(n), x, y, th, partial))
            upd_k((1,), (256,), (np.int32(groups), partial, th, t(lr), t(2) / t(max(n, 1))))
            if it in steps:
                out[steps.index(it)] = th
    return out


@implementation("quadratic_fit", "opencl")
def quadratic_fit_opencl(dev, x, y, theta0, lr, k):
    """Per step: a grid-stride pass with a work-group tree reduction of the three gradient
    sums into per-group partials, then one work-group that reduces them and updates θ."""
    import pyopencl as cl

    prg = dev.compile("quadratic_fit.cl", dtype=str(x.dtype))
    n = x.size
    t = x.dtype.type
    local = work_group_1d(dev)
    groups = _launch_geometry(n, local)
    steps = checkpoint_steps(k, N_CHECKPOINTS)
    th = dev.empty((3,), x.dtype)
    cl.enqueue_copy(dev.queue, th.data, theta0.data, byte_count=theta0.nbytes)
    partial = dev.empty((3 * groups,), x.dtype)
    out = dev.empty((len(steps), 3), x.dtype)
    opencl_copy_into(dev, out, 0, th)
    scratch = cl.LocalMemory(3 * local * x.dtype.itemsize)
    scale = t(2) / t(max(n, 1))
    for it in range(1, int(k) + 1):
        dev.launch(prg.qf_partial, (groups * local,), (local,), np.int32(n), x.data, y.data, th.data,
                   partial.data, scratch)
        dev.launch(prg.qf_update, (local,), (local,), np.int32(groups), partial.data, th.data, lr, scale,
                   scratch)
        if it in steps:
            opencl_copy_into(dev, out, steps.index(it), th)
    return out


@array_api_implementation("quadratic_fit")
def quadratic_fit_xp(xp, x, y, theta0, lr, k):
    lr = float(lr)
    scale = 2.0 / max(x.shape[0], 1)
    phi = xp.stack([x * x, x, xp.ones_like(x)])
    th = theta0
    steps = checkpoint_steps(k, N_CHECKPOINTS)
    states = [th]
    for it in range(1, int(k) + 1):
        r = xp.matmul(th, phi) - y
        th = th - lr * (scale * xp.matmul(phi, r))
        if it in steps:
            states.append(th)
    return xp.stack(states)
