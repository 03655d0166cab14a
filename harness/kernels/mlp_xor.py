"""mlp_xor: a 2-layer MLP (2 → H tanh → 1 sigmoid) trained on noisy XOR by k steps of
plain full-batch gradient descent. Size: the number n of training samples.

    z₁ = X W₁ + b₁,  h = tanh z₁,  z₂ = h W₂ + b₂,  p = σ(z₂)
    L  = (1/n) Σ softplus(z₂) − y z₂        (binary cross-entropy, stable form)
    ∇: dz₂ = (p − y)/n, dW₂ = hᵀdz₂, db₂ = Σdz₂, dz₁ = dz₂W₂ᵀ ⊙ (1 − h²), dW₁ = Xᵀdz₁, db₁ = Σdz₁
    θ ← θ − lr ∇L

Forward and backward passes are written out in every backend (no autograd), so every
backend does the same math (torch uses its fused sigmoid and addmm, with the same
rounding allowances). H = 8, lr = 1/2, k = 100 steps, samples at the four
corners (±1, ±1) plus N(0, 0.1²) noise with label 1 where the corner's signs differ.
Output: (loss at the 9 checkpoints, parameters [W₁, b₁, W₂, b₂] at the checkpoints).

Error model: a first-order normwise running error bound (Higham 2002, §3.3) along
the float64 trajectory. One step θ ← θ − lr∇L(θ) propagates an earlier error by
‖I − lr∇²L(θₜ)‖₂ (the Hessian from differences of the exact gradient), and adds
its own rounding δₜ: every intermediate of the forward and backward pass carries its
error forward (one rounding per arithmetic operation, γ_m for every length-m sum,
OpenCL 1.2 §7.4 ulp limits for tanh (5), exp (3), log1p (2) and division (2.5)).
The Hessian comes from one-sided differences of the exact gradient. The loss error
at a checkpoint is ‖∇L‖₂‖eₜ‖₂ plus the rounding of evaluating L.
The metric is the relative error of the loss at each checkpoint; the parameter error
is reported as `param_error`.
"""
from __future__ import annotations

import numpy as np

from ..declarations import array_api_implementation, implementation, register_kernel
from ..references import independent_code
from ._common import n_groups, real_type, ref_dtype
from ._iterative import cached, checkpoint_error_model, checkpoint_steps, iterative_spec, profile, rel_err, safe_div

HIDDEN = 8
N_PARAMS = 4 * HIDDEN + 1
K_STEPS = 100
N_CHECKPOINTS = 9
LR = 0.5
# Rounding allowances in units of u (one ulp = 2u): OpenCL 1.2 §7.4 single precision.
C_TANH, C_EXP, C_LOG1P, C_DIV = 10.0, 6.0, 4.0, 5.0


def generate(n, rng):
    corners = rng.choice([-1.0, 1.0], (n, 2))
    return {"X": corners + 0.1 * rng.standard_normal((n, 2)),
            "y": (corners[:, 0] != corners[:, 1]).astype(np.float64),
            "W1": rng.standard_normal((2, HIDDEN)), "b1": 0.1 * rng.standard_normal(HIDDEN),
            "W2": rng.standard_normal(HIDDEN) / np.sqrt(HIDDEN), "b2": np.zeros(1),
            "lr": LR, "k": K_STEPS}


def _unpack(theta):
    """Views W1 (…,2,H), b1 (…,H), W2 (…,H), b2 (…,1) of flat parameter vectors (…,P)."""
    H = HIDDEN
    lead = theta.shape[:-1]
    return (theta[..., :2 * H].reshape(lead + (2, H)), theta[..., 2 * H:3 * H],
            theta[..., 3 * H:4 * H], theta[..., 4 * H:])


def _pack(W1, b1, W2, b2):
    lead = W1.shape[:-2]
    return np.concatenate([W1.reshape(lead + (-1,)), b1, W2, b2], axis=-1)


def forward_backward(X, y, theta):
    """(loss, gradient) for one or a batch of parameter vectors, in theta's precision."""
    t = theta.dtype.type
    W1, b1, W2, b2 = _unpack(theta)
    n = X.shape[0]
    z1 = np.matmul(X, W1) + b1[..., None, :]
    h = np.tanh(z1)
    z2 = np.matmul(h, W2[..., :, None])[..., 0] + b2
    p = 1 / (1 + np.exp(-z2))
    loss = np.sum(np.maximum(z2, 0) + np.log1p(np.exp(-np.abs(z2))) - y * z2, axis=-1) / t(max(n, 1))
    dz2 = (p - y) / t(max(n, 1))
    gW2 = np.matmul(dz2[..., None, :], h)[..., 0, :]
    gb2 = np.sum(dz2, axis=-1, keepdims=True)
    dz1 = dz2[..., :, None] * W2[..., None, :] * (1 - h * h)
    gW1 = np.matmul(X.T, dz1)
    gb1 = np.sum(dz1, axis=-2)
    return loss, _pack(gW1, gb1, gW2, gb2)


def train(X, y, theta0, lr, k, t=np.float64):
    """(losses, parameters) at the checkpoints of k GD steps in float type t."""
    X, y, theta = np.asarray(X, dtype=t), np.asarray(y, dtype=t), np.array(theta0, dtype=t)
    lr = t(lr)
    steps = checkpoint_steps(k, N_CHECKPOINTS)
    losses = np.empty(len(steps), dtype=t)
    params = np.empty((len(steps), theta.size), dtype=t)
    for it in range(int(k) + 1):
        loss, g = forward_backward(X, y, theta)
        if it in steps:
            losses[steps.index(it)], params[steps.index(it)] = loss, theta
        if it < k:
            theta = theta - lr * g
    return losses, params


def _theta0(inp):
    return _pack(np.asarray(inp["W1"]), np.asarray(inp["b1"]), np.asarray(inp["W2"]), np.asarray(inp["b2"]))


def _reference_step(X, y, W1, b1, W2, b2):
    """(loss, gradients) of the mean logistic loss, written unit by unit: explicit sums over
    the two inputs and the hidden units, logaddexp for the loss, tanh for the sigmoid; the
    NumPy kernel (forward_backward) uses matmul, log1p and exp, so no code path is shared."""
    t = X.dtype.type
    n = t(max(X.shape[0], 1))
    h = np.tanh(X[:, 0:1] * W1[0] + X[:, 1:2] * W1[1] + b1)
    z2 = (h * W2).sum(axis=1) + b2[0]
    loss = (np.logaddexp(t(0), z2) - y * z2).sum() / n
    dz2 = ((t(1) + np.tanh(z2 / 2)) / 2 - y) / n
    dz1 = dz2[:, None] * W2 * (t(1) - h * h)
    gW1 = np.stack([(X[:, 0:1] * dz1).sum(axis=0), (X[:, 1:2] * dz1).sum(axis=0)])
    return loss, (gW1, dz1.sum(axis=0), (dz2[:, None] * h).sum(axis=0), np.array([dz2.sum()], dtype=t))


def _reference_train(inp, t):
    X, y = np.asarray(inp["X"], dtype=t), np.asarray(inp["y"], dtype=t)
    params = [np.array(inp[k], dtype=t) for k in ("W1", "b1", "W2", "b2")]
    lr, k = t(inp["lr"]), int(inp["k"])
    steps = checkpoint_steps(k, N_CHECKPOINTS)
    losses, thetas = [], []
    for it in range(k + 1):
        loss, grads = _reference_step(X, y, *params)
        if it in steps:
            losses.append(loss)
            thetas.append(np.concatenate([p.ravel() for p in params]))
        if it < k:
            params = [p - lr * g for p, g in zip(params, grads)]
    return np.array(losses, dtype=t), np.array(thetas, dtype=t).reshape(len(steps), N_PARAMS)


def reference(inp, dtype):
    losses, params = _reference_train(inp, ref_dtype(dtype))
    return losses.astype(np.float64), params.astype(np.float64)


def local_errors(X, y, theta, lr):
    """First-order rounding error of one GD step (‖·‖₂, units of u) and of evaluating L."""
    W1, b1, W2, b2 = _unpack(theta)
    n = max(X.shape[0], 1)
    aX = np.abs(X)
    z1 = X @ W1 + b1
    h = np.tanh(z1)
    z2 = h @ W2 + b2
    p = 1 / (1 + np.exp(-z2))
    E_z1 = 3 * (aX @ np.abs(W1) + np.abs(b1))
    E_h = (1 - h * h) * E_z1 + C_TANH * np.abs(h)
    E_z2 = E_h @ np.abs(W2) + (HIDDEN + 1) * (np.abs(h) @ np.abs(W2) + np.abs(b2))
    E_p = p * (1 - p) * E_z2 + (C_EXP + C_DIV + 2) * p
    dz2 = (p - y) / n
    E_dz2 = (E_p + np.abs(p - y)) / n + C_DIV * np.abs(dz2)
    ah, adz2 = np.abs(h), np.abs(dz2)
    E_gW2 = E_h.T @ adz2 + ah.T @ E_dz2 + n * (ah.T @ adz2)
    E_gb2 = np.sum(E_dz2) + n * np.sum(adz2)
    dh = np.outer(dz2, W2)
    E_dh = np.outer(E_dz2, np.abs(W2)) + np.abs(dh)
    dz1 = dh * (1 - h * h)
    E_dz1 = E_dh * (1 - h * h) + np.abs(dh) * (2 * ah * E_h + 1) + np.abs(dz1)
    E_gW1 = aX.T @ E_dz1 + n * (aX.T @ np.abs(dz1))
    E_gb1 = np.sum(E_dz1, axis=0) + n * np.sum(np.abs(dz1), axis=0)
    g = _pack(X.T @ dz1, np.sum(dz1, axis=0), h.T @ dz2, np.array([np.sum(dz2)]))
    E_g = _pack(E_gW1, E_gb1, E_gW2, np.array([E_gb2]))
    new = theta - lr * g
    step = float(np.linalg.norm(lr * E_g + lr * np.abs(g) + np.abs(new)))
    # loss evaluation
    sp = np.log1p(np.exp(-np.abs(z2)))
    ell = np.maximum(z2, 0) + sp - y * z2
    E_ell = np.abs(p - y) * E_z2 + (C_LOG1P + C_EXP) * sp + 3 * (np.maximum(z2, 0) + sp + np.abs(y * z2))
    E_L = (np.sum(E_ell) + (n + 1) * np.sum(np.abs(ell))) / n + C_DIV * abs(float(np.sum(ell)) / n)
    return step, float(E_L), g


def running_error(X, y, theta0, lr, k, fd_step=1e-6):
    """Per-checkpoint bounds in units of u (module doc): on the loss error, and on the
    parameter error ‖eₜ‖₂, as (loss_bounds, parameter_bounds)."""
    X, y, theta = np.asarray(X, np.float64), np.asarray(y, np.float64), np.array(theta0, np.float64)
    P = theta.size
    eye = np.eye(P)
    steps = checkpoint_steps(k, N_CHECKPOINTS)
    e, out, params = 0.0, [], []
    for it in range(int(k) + 1):
        step, E_L, g = local_errors(X, y, theta, lr)
        if it in steps:
            out.append(float(np.linalg.norm(g)) * e + E_L)
            params.append(e)
        if it == k:
            break
        # one-sided differences of the exact gradient: O(fd_step) error in the Hessian,
        # ample for the norm of the step's Jacobian
        _, gp = forward_backward(X, y, theta + fd_step * eye)
        hess = (gp - g) / fd_step
        hess = (hess + hess.T) / 2
        rho = float(np.max(np.abs(1 - lr * np.linalg.eigvalsh(hess))))
        e = rho * e + step
        theta = theta - lr * g
    return out, params


def _running(c):
    i = c.inputs
    return cached("mlp_xor", i, lambda: running_error(i["X"], i["y"], _theta0(i), float(i["lr"]), i["k"]))


def _bounds(c):
    losses = c.reference[0]
    return [safe_div(c.u * e, abs(float(l))) for e, l in zip(_running(c)[0], losses)]


def _param_ratio(params, ref_params, c) -> float | None:
    """max over checkpoints of ‖θ − θ_ref‖₂ / (u·‖eₜ‖ bound): the parameters are part of
    the output, so a wrong weight with a right loss must not pass. None where the
    bound is 0 (the first checkpoint holds the exact initial parameters)."""
    ratios = []
    for got, want, e in zip(params, ref_params, _running(c)[1]):
        diff = float(np.linalg.norm(np.asarray(got, np.float64) - np.asarray(want, np.float64)))
        bound = c.u * e
        if bound > 0:
            ratios.append(diff / bound)
        elif diff > 0:
            ratios.append(float("inf"))
    return max(ratios) if ratios else None


def evaluate(out, ref, c):
    steps = checkpoint_steps(c.inputs["k"], N_CHECKPOINTS)
    loss, params = (np.asarray(o, dtype=np.float64) for o in out)
    errs = [safe_div(abs(loss[s] - ref[0][s]), abs(ref[0][s])) for s in range(len(steps))]
    return {"rel_error": errs[-1], "param_error": rel_err(params[-1], ref[1][-1]),
            "param_ratio": _param_ratio(params, ref[1], c),
            "final_loss": float(loss[-1]), "profile": profile(steps, errs, _bounds(c), loss=loss)}


SPEC = register_kernel(iterative_spec(
    "mlp_xor", generate, reference,
    description=f"2-layer MLP (2-{HIDDEN}-1, tanh/sigmoid) trained on noisy XOR by {K_STEPS} GD steps",
    size_meaning="number n of training samples",
    flops=lambda n: (K_STEPS + 1) * n * 20.0 * HIDDEN,
    bytes_moved=lambda n, b: (K_STEPS + 1) * (3.0 * n + 2 * N_PARAMS) * b,
    error_model=checkpoint_error_model(
        _bounds, evaluate, "normwise", "relative error of the training loss", growth_slope=1.0,
        source="first-order normwise running error bound (Higham 2002, §3.3) along the float64 trajectory: "
               "per-step rounding of the forward/backward pass (γ_m per length-m sum, OpenCL 1.2 §7.4 ulp "
               "limits for tanh/exp/log1p/div) propagated by ||I - lr Hess L||_2"),
    sizes={"quick": (16, 128, 1024), "full": (16, 128, 1024, 8192), "test": (1, 7, 33, 100)},
    input_distribution="X = corners (+-1, +-1) + N(0, 0.01); y = XOR of the corner signs; "
                       "W1 ~ N(0,1), b1 ~ N(0, 0.01), W2 ~ N(0, 1/H), b2 = 0",
    reference_info=independent_code("unit-by-unit gradient descent (not the NumPy kernel's code)"),
))


@implementation("mlp_xor", "numpy")
def mlp_xor_numpy(dev, X, y, W1, b1, W2, b2, lr, k):
    losses, params = train(X, y, _pack(W1, b1, W2, b2), lr, k, X.dtype.type)
    return losses, params


def _xp_step(xp, X, y, W1, b1, W2, b2, inv_n):
    """Loss and gradients, written with Array API functions only (torch and array_api)."""
    z1 = xp.matmul(X, W1) + b1
    h = xp.tanh(z1)
    z2 = xp.matmul(h, W2) + b2
    p = 1 / (1 + xp.exp(-z2))
    loss = xp.sum(xp.maximum(z2, xp.zeros_like(z2)) + xp.log1p(xp.exp(-xp.abs(z2))) - y * z2) * inv_n
    dz2 = (p - y) * inv_n
    gW2 = xp.matmul(xp.matrix_transpose(h), dz2)
    gb2 = xp.sum(dz2, keepdims=True)
    dz1 = dz2[:, None] * W2[None, :] * (1 - h * h)
    gW1 = xp.matmul(xp.matrix_transpose(X), dz1)
    gb1 = xp.sum(dz1, axis=0)
    return loss, gW1, gb1, gW2, gb2


def _xp_train(xp, X, y, W1, b1, W2, b2, lr, k):
    lr = float(lr)
    inv_n = 1.0 / max(X.shape[0], 1)
    steps = checkpoint_steps(k, N_CHECKPOINTS)
    losses, params = [], []
    for it in range(int(k) + 1):
        loss, gW1, gb1, gW2, gb2 = _xp_step(xp, X, y, W1, b1, W2, b2, inv_n)
        if it in steps:
            losses.append(loss)
            params.append(xp.concat([xp.reshape(W1, (-1,)), b1, W2, b2]))
        if it < k:
            W1, b1, W2, b2 = W1 - lr * gW1, b1 - lr * gb1, W2 - lr * gW2, b2 - lr * gb2
    return xp.stack(losses), xp.stack(params)


@implementation("mlp_xor", "torch")
def mlp_xor_torch(dev, X, y, W1, b1, W2, b2, lr, k):
    """Plain torch ops (addmm, fused softplus), no autograd; the parameters live in one
    flat tensor so the update is a single op."""
    torch = dev.torch
    H = HIDDEN
    lr = float(lr)
    inv_n = 1.0 / max(X.shape[0], 1)
    steps = checkpoint_steps(k, N_CHECKPOINTS)
    theta = torch.cat([W1.reshape(-1), b1, W2, b2])
    losses = torch.empty(len(steps), dtype=X.dtype, device=X.device)
    params = torch.empty((len(steps), N_PARAMS), dtype=X.dtype, device=X.device)
    grad = torch.empty_like(theta)
    Xt = X.t()
    for it in range(int(k) + 1):
        w1, bb1, w2, bb2 = theta[:2 * H].view(2, H), theta[2 * H:3 * H], theta[3 * H:4 * H], theta[4 * H:]
        h = torch.tanh(torch.addmm(bb1, X, w1))
        z2 = torch.mv(h, w2) + bb2
        if it in steps:
            ell = torch.clamp_min(z2, 0) + torch.log1p(torch.exp(-torch.abs(z2))) - y * z2
            losses[steps.index(it)] = ell.sum() * inv_n
            params[steps.index(it)] = theta
        if it == k:
            break
        dz2 = (torch.sigmoid(z2) - y) * inv_n
        dz1 = torch.outer(dz2, w2) * (1 - h * h)
        grad[:2 * H] = torch.mm(Xt, dz1).reshape(-1)
        grad[2 * H:3 * H] = dz1.sum(0)
        grad[3 * H:4 * H] = torch.mv(h.t(), dz2)
        grad[4 * H:] = dz2.sum()
        theta = theta - lr * grad
    return losses, params


@array_api_implementation("mlp_xor")
def mlp_xor_xp(xp, X, y, W1, b1, W2, b2, lr, k):
    return _xp_train(xp, X, y, W1, b1, W2, b2, lr, k)


def _geometry(n, local):
    return n_groups(n, local, cap=64)


@implementation("mlp_xor", "opencl")
def mlp_xor_opencl(dev, X, y, W1, b1, W2, b2, lr, k):
    """Per step: one pass over the samples (one work-item per sample, grid-stride) that
    accumulates the loss and all gradient entries privately and tree-reduces them per
    work-group in local memory; then a launch with one work-item per parameter that sums
    the group partials in a fixed order and applies the update. Parameters stay on the
    device; checkpoints are copied there."""
    import pyopencl as cl

    local = max(1, min(64, dev.max_work_group_size))
    prg = dev.compile("mlp_xor.cl", dtype=str(X.dtype), H=HIDDEN, WG=local)
    n = X.shape[0]
    t = X.dtype.type
    groups = _geometry(n, local)
    steps = checkpoint_steps(k, N_CHECKPOINTS)
    theta = dev.empty((N_PARAMS,), X.dtype)
    off = 0
    for part in (W1, b1, W2, b2):
        cl.enqueue_copy(dev.queue, theta.data, part.data, byte_count=part.nbytes, dst_offset=off)
        off += part.nbytes
    partial = dev.empty((groups, N_PARAMS + 1), X.dtype)
    losses = dev.empty((len(steps),), X.dtype)
    params = dev.empty((len(steps), N_PARAMS), X.dtype)
    inv_n = t(1) / t(max(n, 1))
    for it in range(int(k) + 1):
        dev.launch(prg.mlp_partial, (groups * local,), (local,), np.int32(n), X.data, y.data, theta.data,
                   partial.data)
        slot = steps.index(it) if it in steps else -1
        if slot >= 0:
            cl.enqueue_copy(dev.queue, params.data, theta.data, byte_count=theta.nbytes,
                            dst_offset=slot * theta.nbytes)
        dev.launch(prg.mlp_update, (N_PARAMS + 1,), None, np.int32(groups), partial.data, theta.data,
                   losses.data, np.int32(slot), np.int32(it < k), lr, inv_n)
    return losses, params


@implementation("mlp_xor", "cupy")
def mlp_xor_cupy(dev, X, y, W1, b1, W2, b2, lr, k):
    cp = dev.cp
    mod = dev.compile("mlp_xor.cu", REAL=real_type(X.dtype), H=HIDDEN, WG=64)
    part_k, upd_k = mod.get_function("mlp_partial"), mod.get_function("mlp_update")
    n = X.shape[0]
    t = X.dtype.type
    groups = _geometry(n, 64)
    steps = checkpoint_steps(k, N_CHECKPOINTS)
    with dev.ctx():
        theta = cp.concatenate([W1.reshape(-1), b1, W2, b2])
        partial = cp.empty((groups, N_PARAMS + 1), dtype=X.dtype)
        losses = cp.empty(len(steps), dtype=X.dtype)
        params = cp.empty((len(steps), N_PARAMS), dtype=X.dtype)
        inv_n = t(1) / t(max(n, 1))
        for it in range(int(k) + 1):
            part_k((groups,), (64,), (np.int32(n), X, y, theta, partial))
            slot = steps.index(it) if it in steps else -1
            if slot >= 0:
                params[slot] = theta
            upd_k((1,), (64,), (np.int32(groups), partial, theta, losses, np.int32(slot), np.int32(it < k),
                                t(lr), inv_n))
    return losses, params
