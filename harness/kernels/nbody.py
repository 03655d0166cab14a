"""nbody: k leapfrog (kick-drift-kick) steps of N softened gravitating bodies. Size: N.

    aᵢ = Σⱼ mⱼ (xⱼ − xᵢ) / (|xⱼ − xᵢ|² + ε²)^{3/2}          (G = 1)
    v ← v + (h/2)a(x);  x ← x + h v;  v ← v + (h/2)a(x)

Bodies start uniform in the unit ball with N(0, 0.3²) velocities and total mass 1;
h = 2⁻⁷, ε = 2⁻² (dyadic, so exact in every dtype), k = 32 steps, checkpoints every
4 steps. The output is (9, 2, N, 3): positions and velocities at each checkpoint.

N-body dynamics is chaotic: rounding errors grow exponentially, at worst like
e^{tω} with ω² = L, the Lipschitz constant of the acceleration. The bound is a
first-order linearised forward error analysis. With softening, ‖∂a/∂x‖ ≤ L = 2M/ε³
(M the total mass; the Jacobian of d/(|d|²+ε²)^{3/2} has 2-norm ≤ ε⁻³), and one
kick-drift-kick step propagates errors (e_x, e_v/ω) by the non-negative matrix
P = [[1+θ²/2, θ], [θ+θ³/4, 1+θ²/2]], θ = hω. Each step adds local rounding errors:
one rounding per position and velocity update (h/2 and h are powers of two, so
their products are exact), and an acceleration error ≤ (32u + γ_{N−1})·M·2/(3√3ε²)
(32u = a few ulp for the difference, squares, sqrt/rsqrt and division, within the
OpenCL 1.2 §7.4 limits; γ_{N−1} for the sum over bodies in any order, Higham 2002
§3.1; M·2/(3√3ε²) bounds Σⱼ mⱼ|xⱼ−xᵢ|/(|xⱼ−xᵢ|²+ε²)^{3/2}). The position and
velocity maxima come from the reference checkpoints, with a margin of 1.5. The bound
is meaningful only while θk is small (here θ ≈ 0.088 and θk ≈ 2.8, an amplification
of about 20): that is why k is small. Beyond it, the float32 and float64 trajectories
of a chaotic system simply part ways and only statistics (energy) can be compared.

Metric: max-body position error relative to the largest |xᵢ| at the last checkpoint;
also reported: the relative energy drift |E_k − E_0|/|E_0| of the output, that of the
reference (the integrator's own), and the energy error against the reference.
"""
from __future__ import annotations

import math

import numpy as np

from ..declarations import array_api_implementation, implementation, register_kernel
from ..references import independent_code
from ._common import real_type, ref_dtype, work_group_1d
from ._iterative import (checkpoint_error_model, checkpoint_steps, iterative_spec, opencl_clone, opencl_copy_into,
                         profile, safe_div)

K_STEPS = 32
N_CHECKPOINTS = 9
H = 2.0 ** -7
EPS2 = 2.0 ** -4  # softening ε = 1/4
C_TERM = 32.0  # units of u per pairwise term


def generate(n, rng):
    direction = rng.standard_normal((n, 3))
    direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-300)
    pos = direction * rng.uniform(0.0, 1.0, (n, 1)) ** (1.0 / 3.0)
    m = rng.uniform(0.5, 1.5, n)
    return {"pos": pos, "vel": 0.3 * rng.standard_normal((n, 3)), "mass": m / m.sum(),
            "h": H, "eps2": EPS2, "k": K_STEPS}


def accel(x, m, eps2):
    d = x[None, :, :] - x[:, None, :]
    s = np.einsum("ijk,ijk->ij", d, d) + eps2
    w = m[None, :] / (s * np.sqrt(s))
    return np.einsum("ij,ijk->ik", w, d)


def leapfrog(pos, vel, mass, h, eps2, k, t=np.float64):
    """Stacked (positions, velocities) at the checkpoints, computed in float type t."""
    x, v, m = (np.array(a, dtype=t) for a in (pos, vel, mass))
    h, eps2 = t(h), t(eps2)
    hh = h / 2
    steps = checkpoint_steps(k, N_CHECKPOINTS)
    out = np.empty((len(steps), 2) + x.shape, dtype=t)
    out[0, 0], out[0, 1] = x, v
    a = accel(x, m, eps2)
    for it in range(1, int(k) + 1):
        v = v + hh * a
        x = x + h * v
        a = accel(x, m, eps2)
        v = v + hh * a
        if it in steps:
            out[steps.index(it), 0], out[steps.index(it), 1] = x, v
    return out


def _accel_rows(x, m, eps2):
    """Accelerations body by body (a loop over i, not the NumPy kernel's einsum)."""
    a = np.empty_like(x)
    for i in range(x.shape[0]):
        d = x - x[i]
        s = (d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1] + d[:, 2] * d[:, 2]) + eps2
        w = m / (s * np.sqrt(s))
        a[i] = (w[:, None] * d).sum(axis=0)
    return a


def _reference_leapfrog(pos, vel, mass, h, eps2, k, t):
    """Kick-drift-kick written separately from `leapfrog`, so that no implementation shares
    the reference's code path: a bug in one cannot hide in the other."""
    x, v, m = (np.array(a, dtype=t) for a in (pos, vel, mass))
    h, eps2 = t(h), t(eps2)
    steps = checkpoint_steps(k, N_CHECKPOINTS)
    out = [] if 0 not in steps else [(x.copy(), v.copy())]
    a = _accel_rows(x, m, eps2)
    for it in range(1, int(k) + 1):
        v_half = v + (h / 2) * a
        x = x + h * v_half
        a = _accel_rows(x, m, eps2)
        v = v_half + (h / 2) * a
        if it in steps:
            out.append((x.copy(), v.copy()))
    return np.array([[p, q] for p, q in out], dtype=t).reshape((len(steps), 2) + x.shape)


def reference(inp, dtype):
    return _reference_leapfrog(inp["pos"], inp["vel"], inp["mass"], inp["h"], inp["eps2"], inp["k"],
                               ref_dtype(dtype)).astype(np.float64)


def energy(x, v, m, eps2):
    x, v, m = (np.asarray(a, dtype=np.float64) for a in (x, v, m))
    kinetic = 0.5 * float(np.sum(m * np.sum(v * v, axis=1)))
    d = x[None, :, :] - x[:, None, :]
    inv_r = 1.0 / np.sqrt(np.einsum("ijk,ijk->ij", d, d) + eps2)
    np.fill_diagonal(inv_r, 0.0)
    return kinetic - 0.5 * float(m @ inv_r @ m)


def _bounds(c):
    i = c.inputs
    n = i["mass"].size
    steps = checkpoint_steps(i["k"], N_CHECKPOINTS)
    h, eps = float(i["h"]), math.sqrt(float(i["eps2"]))
    M = float(np.sum(np.abs(i["mass"])))
    ref = c.reference
    X = 1.5 * float(np.max(np.linalg.norm(ref[:, 0], axis=-1))) if n else 0.0
    V = 1.5 * float(np.max(np.linalg.norm(ref[:, 1], axis=-1))) if n else 0.0
    omega = math.sqrt(2 * M / eps**3) if M > 0 else 1.0
    th = h * omega
    P = np.array([[1 + th * th / 2, th], [th + th**3 / 4, 1 + th * th / 2]])
    da = (C_TERM + max(n - 1, 0)) * M * 2 / (3 * math.sqrt(3) * eps * eps)
    dv = 2 * V + h * da + 2
    dx = 2 * X + h * dv
    local = np.array([dx, dv / omega])
    e = np.zeros(2)
    out = [0.0]
    for it in range(1, int(i["k"]) + 1):
        e = P @ e + local
        if it in steps:
            xt = float(np.max(np.linalg.norm(ref[steps.index(it), 0], axis=-1)))
            out.append(safe_div(c.u * e[0], xt))
    return out


def evaluate(out, ref, c):
    i = c.inputs
    steps = checkpoint_steps(i["k"], N_CHECKPOINTS)
    out = np.asarray(out, dtype=np.float64)
    errs, drift = [], []
    e0 = energy(out[0, 0], out[0, 1], i["mass"], i["eps2"])
    for s in range(len(steps)):
        num = float(np.max(np.linalg.norm(out[s, 0] - ref[s, 0], axis=-1))) if out.shape[2] else 0.0
        den = float(np.max(np.linalg.norm(ref[s, 0], axis=-1))) if out.shape[2] else 0.0
        errs.append(safe_div(num, den) if np.isfinite(num) else math.inf)
        drift.append(safe_div(abs(energy(out[s, 0], out[s, 1], i["mass"], i["eps2"]) - e0), abs(e0)))
    ref_e0 = energy(ref[0, 0], ref[0, 1], i["mass"], i["eps2"])
    ref_ek = energy(ref[-1, 0], ref[-1, 1], i["mass"], i["eps2"])
    out_ek = energy(out[-1, 0], out[-1, 1], i["mass"], i["eps2"])
    vden = float(np.max(np.abs(ref[-1, 1]))) if out.shape[2] else 0.0
    return {"rel_error": errs[-1],
            "energy_drift": drift[-1],
            "ref_energy_drift": safe_div(abs(ref_ek - ref_e0), abs(ref_e0)),
            "energy_error": safe_div(abs(out_ek - ref_ek), abs(ref_e0)),
            "velocity_error": safe_div(float(np.max(np.abs(out[-1, 1] - ref[-1, 1]))) if vden else 0.0, vden),
            "profile": profile(steps, errs, _bounds(c), energy_drift=drift)}


SPEC = register_kernel(iterative_spec(
    "nbody", generate, reference,
    description=f"{K_STEPS} leapfrog steps of N softened gravitating bodies",
    size_meaning="number N of bodies",
    flops=lambda n: 20.0 * n * n * (K_STEPS + 1) + 12.0 * n * K_STEPS,
    bytes_moved=lambda n, b: float(K_STEPS) * 16.0 * n * b,
    error_model=checkpoint_error_model(
        _bounds, evaluate, "max_relative", "max-body position error relative to max |x|", growth_slope=1.0,
        source="first-order linearised error propagation for kick-drift-kick leapfrog: Lipschitz constant "
               "L = 2M/eps^3 of the softened acceleration, step amplification matrix P(h sqrt(L)); local "
               "errors one rounding per update and (32u + γ_{N-1}) M 2/(3 sqrt(3) eps^2) per acceleration "
               "(Higham 2002, §3.1 for the sum; OpenCL 1.2 §7.4 ulp limits); k kept small (θk ≈ 2.8)"),
    sizes={"quick": (32, 64, 128), "full": (32, 128, 256, 512, 1024), "test": (1, 3, 7, 33, 70)},
    input_distribution="positions uniform in the unit ball, velocities N(0, 0.3^2), masses U(0.5,1.5) "
                       "normalised to 1",
    reference_info=independent_code("body-by-body leapfrog (not the NumPy kernel's code)"),
))


@implementation("nbody", "numpy")
def nbody_numpy(dev, pos, vel, mass, h, eps2, k):
    return leapfrog(pos, vel, mass, h, eps2, k, pos.dtype.type)


def _torch_accel(torch, x, m, eps2):
    d = x[None, :, :] - x[:, None, :]
    s = (d * d).sum(-1) + eps2
    return torch.einsum("ij,ijk->ik", m[None, :] / (s * torch.sqrt(s)), d)


@implementation("nbody", "torch")
def nbody_torch(dev, pos, vel, mass, h, eps2, k):
    torch = dev.torch
    h, eps2 = float(h), float(eps2)
    steps = checkpoint_steps(k, N_CHECKPOINTS)
    out = torch.empty((len(steps), 2) + tuple(pos.shape), dtype=pos.dtype, device=pos.device)
    x, v = pos, vel
    out[0, 0], out[0, 1] = x, v
    a = _torch_accel(torch, x, mass, eps2)
    for it in range(1, int(k) + 1):
        v = v + (h / 2) * a
        x = x + h * v
        a = _torch_accel(torch, x, mass, eps2)
        v = v + (h / 2) * a
        if it in steps:
            out[steps.index(it), 0], out[steps.index(it), 1] = x, v
    return out


@implementation("nbody", "cupy")
def nbody_cupy(dev, pos, vel, mass, h, eps2, k):
    cp = dev.cp
    mod = dev.compile("nbody.cu", REAL=real_type(pos.dtype), WG=256)
    acc_k, kd_k, kick_k = (mod.get_function(f) for f in ("nbody_accel", "kick_drift", "kick"))
    n = pos.shape[0]
    t = pos.dtype.type
    hh, hs, e2 = t(float(h) / 2), t(h), t(eps2)
    steps = checkpoint_steps(k, N_CHECKPOINTS)
    with dev.ctx():
        x, v = pos.copy(), vel.copy()
        a = cp.empty_like(pos)
        out = cp.empty((len(steps), 2) + pos.shape, dtype=pos.dtype)
        out[0, 0], out[0, 1] = x, v
        gb, g3 = (-(-n // 256),), (-(-3 * n // 256),)
        n32, n3 = np.int32(n), np.int32(3 * n)
        acc_k(gb, (256,), (n32, x, mass, e2, a))
        for it in range(1, int(k) + 1):
            kd_k(g3, (256,), (n3, x, v, a, hh, hs))
            acc_k(gb, (256,), (n32, x, mass, e2, a))
            kick_k(g3, (256,), (n3, v, a, hh))
            if it in steps:
                out[steps.index(it), 0], out[steps.index(it), 1] = x, v
    return out


@implementation("nbody", "opencl")
def nbody_opencl(dev, pos, vel, mass, h, eps2, k):
    """Three launches per step (kick+drift, accelerations, kick) on device-resident state;
    the O(N²) acceleration kernel tiles the bodies through local memory."""
    wg = work_group_1d(dev, target=128)
    prg = dev.compile("nbody.cl", dtype=str(pos.dtype), WG=wg)
    n = pos.shape[0]
    t = pos.dtype.type
    hh, hs, e2 = t(float(h) / 2), t(h), t(eps2)
    steps = checkpoint_steps(k, N_CHECKPOINTS)
    x, v = opencl_clone(dev, pos), opencl_clone(dev, vel)
    a = dev.empty(pos.shape, pos.dtype)
    out = dev.empty((len(steps), 2) + pos.shape, pos.dtype)
    opencl_copy_into(dev, out, 0, x)
    opencl_copy_into(dev, out, 1, v)
    n32, n3 = np.int32(n), np.int32(3 * n)
    local3 = work_group_1d(dev)
    dev.launch(prg.nbody_accel, (n,), (wg,), n32, x.data, mass.data, e2, a.data)
    for it in range(1, int(k) + 1):
        dev.launch(prg.kick_drift, (3 * n,), (local3,), n3, x.data, v.data, a.data, hh, hs)
        dev.launch(prg.nbody_accel, (n,), (wg,), n32, x.data, mass.data, e2, a.data)
        dev.launch(prg.kick, (3 * n,), (local3,), n3, v.data, a.data, hh)
        if it in steps:
            opencl_copy_into(dev, out, 2 * steps.index(it), x)
            opencl_copy_into(dev, out, 2 * steps.index(it) + 1, v)
    return out


@array_api_implementation("nbody")
def nbody_xp(xp, pos, vel, mass, h, eps2, k):
    h, eps2 = float(h), float(eps2)
    steps = checkpoint_steps(k, N_CHECKPOINTS)

    def acc(x):
        d = x[None, :, :] - x[:, None, :]
        s = xp.sum(d * d, axis=-1) + eps2
        w = mass[None, :] / (s * xp.sqrt(s))
        return xp.sum(w[:, :, None] * d, axis=1)

    x, v = pos, vel
    states = [xp.stack([x, v])]
    a = acc(x)
    for it in range(1, int(k) + 1):
        v = v + (h / 2) * a
        x = x + h * v
        a = acc(x)
        v = v + (h / 2) * a
        if it in steps:
            states.append(xp.stack([x, v]))
    return xp.stack(states)
