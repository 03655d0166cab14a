"""adam: k Adam steps on a fixed diagonal quadratic. Size: the number n of parameters.

    f(w) = ½ Σᵢ dᵢ (wᵢ − cᵢ)²,  g = d ⊙ (w − c)
    m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²
    w ← w − lr · (m / (1−β₁ᵗ)) / (√(v / (1−β₂ᵗ)) + ε)

with lr = 2⁻⁷, β₁ = 0.9, β₂ = 0.999, ε = 1e-8 (inputs, rounded to the dtype like every
other input), curvatures d log-uniform in [0.1, 10], and k = 64 steps from w₀ = c ± U(1, 2):
each step moves a weight by about lr, so no gradient changes sign in k steps and the
update direction m̂/√v̂ stays well-conditioned. Checkpoints every 8 steps; output (9, n).

NumPy, OpenCL and CUDA compute the bias corrections 1 − βᵗ in the working precision
(OpenCL and CUDA on the host, once per step, as GPU optimizers do);
torch uses torch.optim.Adam, which computes them in Python (double) floats; the Array
API version uses Python floats too. In float32, 1 − β₂ᵗ cancels (β₂ᵗ ≈ 1 − t·10⁻³),
so a few-ulp error in β₂ᵗ becomes a relative error of ~u/(1 − β₂) = 1000u in the
early steps: the profiles show it.

Error model: a first-order running error bound (Higham 2002, §3.3) computed along the
float64 trajectory, per coordinate: every operation contributes its rounding (one u
for + − ×, 2.5 ulp for division, 3 ulp for sqrt and 16 ulp for pow: OpenCL 1.2 §7.4
limits), and the errors of w, m and v are carried forward with their first-order
sensitivities (g is linear in w; m̂/(√v̂+ε) is differentiated in m, v and the bias
corrections). The metric is ‖ŵₜ − wₜ‖₂/‖wₜ‖₂ at every checkpoint.
"""
from __future__ import annotations

import numpy as np

from ..declarations import array_api_implementation, implementation, register_kernel
from ._common import cuda_map, real_type, ref_dtype, streaming_cost, work_group_1d
from ._iterative import (cached, checkpoint_error_model, checkpoint_steps, iterative_spec, opencl_clone,
                         opencl_copy_into, profile, rel_err, safe_div)

K_STEPS = 64
N_CHECKPOINTS = 9
# Rounding allowances in units of u (one ulp = 2u), OpenCL 1.2 §7.4 single-precision limits.
C_DIV, C_SQRT, C_POW = 5.0, 6.0, 32.0


def generate(n, rng):
    c = rng.standard_normal(n)
    offset = rng.choice([-1.0, 1.0], n) * rng.uniform(1.0, 2.0, n)
    return {"w0": c + offset, "c": c, "d": 10.0 ** rng.uniform(-1.0, 1.0, n),
            "lr": 2.0 ** -7, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "k": K_STEPS}


def adam_steps(w0, c, d, lr, beta1, beta2, eps, k, t=np.float64):
    """Stacked checkpoint weights of k Adam steps computed in float type t."""
    w, c, d = (np.array(a, dtype=t) for a in (w0, c, d))
    lr, b1, b2, eps = t(lr), t(beta1), t(beta2), t(eps)
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    steps = checkpoint_steps(k, N_CHECKPOINTS)
    out = np.empty((len(steps),) + w.shape, dtype=t)
    out[0] = w
    one = t(1)
    for it in range(1, int(k) + 1):
        g = d * (w - c)
        m = b1 * m + (one - b1) * g
        v = b2 * v + (one - b2) * (g * g)
        mh = m / (one - b1 ** it)
        vh = v / (one - b2 ** it)
        w = w - lr * mh / (np.sqrt(vh) + eps)
        if it in steps:
            out[steps.index(it)] = w
    return out


def reference(inp, dtype):
    return adam_steps(inp["w0"], inp["c"], inp["d"], inp["lr"], inp["beta1"], inp["beta2"], inp["eps"],
                      inp["k"], ref_dtype(dtype)).astype(np.float64)


def running_error(w0, c, d, lr, b1, b2, eps, k):
    """Per-checkpoint ‖error bound of w‖₂ in units of u (first order; module doc)."""
    w = np.array(w0, dtype=np.float64)
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    ew, em, ev = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    steps = checkpoint_steps(k, N_CHECKPOINTS)
    out = [0.0]
    for it in range(1, int(k) + 1):
        g = d * (w - c)
        eg = np.abs(d) * ew + 2 * np.abs(g)
        m_new = b1 * m + (1 - b1) * g
        em = b1 * em + (1 - b1) * eg + 3 * (b1 * np.abs(m) + (1 - b1) * np.abs(g))
        g2 = g * g
        eg2 = 2 * np.abs(g) * eg + g2
        v_new = b2 * v + (1 - b2) * g2
        ev = b2 * ev + (1 - b2) * eg2 + 3 * (b2 * v + (1 - b2) * g2)
        m, v = m_new, v_new
        bc1, bc2 = 1 - b1 ** it, 1 - b2 ** it
        ebc1 = (C_POW + it) * b1 ** it + bc1
        ebc2 = (C_POW + it) * b2 ** it + bc2
        mh, vh = m / bc1, v / bc2
        emh = em / bc1 + np.abs(mh) * (ebc1 / bc1 + C_DIV)
        evh = ev / bc2 + vh * (ebc2 / bc2 + C_DIV)
        s = np.sqrt(vh)
        es = evh / (2 * np.maximum(s, 1e-300)) + C_SQRT * s
        den = s + eps
        eden = es + den
        r = mh / den
        er = emh / den + np.abs(mh) * eden / den**2 + C_DIV * np.abs(r)
        step = lr * r
        w = w - step
        ew = ew + lr * er + np.abs(step) + np.abs(w)
        if it in steps:
            out.append(float(np.linalg.norm(ew)))
    return out


def _bounds(c):
    i = c.inputs
    errs = cached("adam", i, lambda: running_error(i["w0"], i["c"], i["d"], float(i["lr"]), float(i["beta1"]),
                                                     float(i["beta2"]), float(i["eps"]), i["k"]))
    return [safe_div(c.u * e, float(np.linalg.norm(c.reference[s]))) for s, e in enumerate(errs)]


def evaluate(out, ref, c):
    i = c.inputs
    steps = checkpoint_steps(i["k"], N_CHECKPOINTS)
    errs = [rel_err(out[s], ref[s]) for s in range(len(steps))]

    def loss(w):
        return 0.5 * float(np.sum(i["d"] * (np.asarray(w, dtype=np.float64) - i["c"]) ** 2))

    return {"rel_error": errs[-1], "loss_error": safe_div(abs(loss(out[-1]) - loss(ref[-1])), loss(ref[-1])),
            "profile": profile(steps, errs, _bounds(c))}


SPEC = register_kernel(iterative_spec(
    "adam", generate, reference,
    description=f"{K_STEPS} Adam steps on a diagonal quadratic with n parameters",
    size_meaning="number n of parameters",
    **streaming_cost(flops=18, values=8, steps=K_STEPS),  # per step: w, m, v, c, d read, w, m, v written
    error_model=checkpoint_error_model(
        _bounds, evaluate, "normwise", "normwise relative error of the weights", growth_slope=0.0,
        source="first-order running error bound (Higham 2002, §3.3) along the float64 trajectory: one "
               "rounding per arithmetic op, OpenCL 1.2 §7.4 ulp limits for div/sqrt/pow, errors of w, m, v "
               "and the bias corrections propagated with their first-order sensitivities"),
    sizes={"quick": (1000, 10_000, 50_000), "full": (1000, 10_000, 100_000, 1_000_000),
           "test": (1, 7, 33, 1000)},
    input_distribution="c ~ N(0,1), w0 = c +- U(1,2), d log-uniform in [0.1, 10]",
))


@implementation("adam", "numpy")
def adam_numpy(dev, w0, c, d, lr, beta1, beta2, eps, k):
    """In working precision throughout, bias corrections included; in-place updates."""
    t = w0.dtype.type
    one = t(1)
    w = w0.copy()
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    g = np.empty_like(w)
    tmp = np.empty_like(w)
    steps = checkpoint_steps(k, N_CHECKPOINTS)
    out = np.empty((len(steps),) + w.shape, dtype=w.dtype)
    out[0] = w
    for it in range(1, int(k) + 1):
        np.subtract(w, c, out=g)
        g *= d
        m *= beta1
        np.multiply(g, one - beta1, out=tmp)
        m += tmp
        v *= beta2
        np.multiply(g, g, out=tmp)
        tmp *= one - beta2
        v += tmp
        np.divide(v, one - beta2 ** it, out=tmp)
        np.sqrt(tmp, out=tmp)
        tmp += eps
        np.divide(m, one - beta1 ** it, out=g)
        g *= lr
        g /= tmp
        w -= g
        if it in steps:
            out[steps.index(it)] = w
    return out


@implementation("adam", "torch", notes="torch.optim.Adam (bias corrections in Python floats)")
def adam_torch(dev, w0, c, d, lr, beta1, beta2, eps, k):
    torch = dev.torch
    p = w0.clone()
    opt = torch.optim.Adam([p], lr=float(lr), betas=(float(beta1), float(beta2)), eps=float(eps))
    steps = checkpoint_steps(k, N_CHECKPOINTS)
    out = torch.empty((len(steps),) + tuple(w0.shape), dtype=w0.dtype, device=w0.device)
    out[0] = w0
    with torch.no_grad():
        for it in range(1, int(k) + 1):
            p.grad = d * (p - c)
            opt.step()
            if it in steps:
                out[steps.index(it)] = p
    return out


@implementation("adam", "cupy")
def adam_cupy(dev, w0, c, d, lr, beta1, beta2, eps, k):
    cp = dev.cp
    kern = dev.compile("adam.cu", REAL=real_type(w0.dtype)).get_function("adam_step")
    n = w0.size
    t = w0.dtype.type
    steps = checkpoint_steps(k, N_CHECKPOINTS)
    with dev.ctx():
        w = w0.copy()
        m, v = cp.zeros_like(w), cp.zeros_like(w)
        out = cp.empty((len(steps),) + w0.shape, dtype=w0.dtype)
        out[0] = w
        for it in range(1, int(k) + 1):
            bc1, bc2 = t(1) - t(beta1) ** it, t(1) - t(beta2) ** it
            cuda_map(kern, n, (np.int32(n), w, m, v, c, d, t(lr), t(beta1), t(beta2), t(eps), bc1, bc2))
            if it in steps:
                out[steps.index(it)] = w
    return out


@implementation("adam", "opencl")
def adam_opencl(dev, w0, c, d, lr, beta1, beta2, eps, k):
    """One elementwise launch per step on device-resident w, m, v; the bias corrections
    (one number per step) are computed on the host in the working precision."""
    prg = dev.compile("adam.cl", dtype=str(w0.dtype))
    n = w0.size
    steps = checkpoint_steps(k, N_CHECKPOINTS)
    w = opencl_clone(dev, w0)
    m, v = dev.empty(w0.shape, w0.dtype), dev.empty(w0.shape, w0.dtype)
    m.fill(0)
    v.fill(0)
    out = dev.empty((len(steps),) + w0.shape, w0.dtype)
    opencl_copy_into(dev, out, 0, w0)
    local = work_group_1d(dev)
    t = w0.dtype.type
    for it in range(1, int(k) + 1):
        bc1, bc2 = t(1) - t(beta1) ** it, t(1) - t(beta2) ** it
        dev.launch(prg.adam_step, (n,), (local,), np.int32(n), w.data, m.data, v.data, c.data, d.data,
                   lr, beta1, beta2, eps, bc1, bc2)
        if it in steps:
            opencl_copy_into(dev, out, steps.index(it), w)
    return out


@array_api_implementation("adam")
def adam_xp(xp, w0, c, d, lr, beta1, beta2, eps, k):
    lr, b1, b2, eps = float(lr), float(beta1), float(beta2), float(eps)
    steps = checkpoint_steps(k, N_CHECKPOINTS)
    w = w0
    m = xp.zeros_like(w0)
    v = xp.zeros_like(w0)
    states = [w0]
    for it in range(1, int(k) + 1):
        g = d * (w - c)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * (g * g)
        w = w - lr * (m / (1 - b1 ** it)) / (xp.sqrt(v / (1 - b2 ** it)) + eps)
        if it in steps:
            states.append(w)
    return xp.stack(states)
