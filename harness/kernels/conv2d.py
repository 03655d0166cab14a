"""conv2d: 3×3 convolution, NCHW, stride 1, same (zero) padding. Size: the image side s.

    out[n, o, y, x] = Σ_{c, ky, kx} W[o, c, ky, kx] · X[n, c, y + ky − 1, x + kx − 1]

with a batch of N_BATCH images of C_IN channels and C_OUT filters fixed, so the cost
grows as s² (2·N·C_OUT·C_IN·9·s² flops). This is the gather (direct) formulation
that the OpenCL and CUDA kernels implement; NumPy lowers it to im2col + one matmul,
torch calls torch.nn.functional.conv2d (oneDNN on CPU, cuDNN on CUDA, where
torch.backends.cudnn.allow_tf32 defaults to True: conv2d on Ampere or newer then runs
in TF32 and the float32 bound no longer applies; the device records the flag).

Every output is a dot product of at most k = C_IN·3·3 terms, so whatever the order
|out − ôut| ≤ γ_k (|W| ⋆ |X|) componentwise (Higham 2002, §3.1); the normwise bound
is γ_k ‖|W| ⋆ |X|‖_F / ‖out‖_F. The float64 reference is computed in long double.
"""
from __future__ import annotations

import numpy as np

from ..accuracy import gamma
from ..declarations import array_api_implementation, implementation, register_kernel
from ..spec import KernelSpec
from ._common import REAL_DTYPES, real_type, ref_dtype, square_tile
from ._reductions import gamma_error_model

N_BATCH, C_IN, C_OUT, KSIZE = 2, 8, 16, 3
K_TERMS = C_IN * KSIZE * KSIZE


def generate(s, rng):
    return {"X": rng.standard_normal((N_BATCH, C_IN, s, s)),
            "W": rng.standard_normal((C_OUT, C_IN, KSIZE, KSIZE)) / np.sqrt(K_TERMS)}


def conv_gather(X, W, t=np.float64):
    """Direct convolution in float type t: 9 shifted tensor contractions over a padded input."""
    n, c, s, _ = X.shape
    p = KSIZE // 2
    Xp = np.zeros((n, c, s + 2 * p, s + 2 * p), dtype=t)
    Xp[:, :, p:p + s, p:p + s] = X
    Wt = np.asarray(W, dtype=t)
    out = np.zeros((n, W.shape[0], s, s), dtype=t)
    for ky in range(KSIZE):
        for kx in range(KSIZE):
            out += np.einsum("oc,ncyx->noyx", Wt[:, :, ky, kx], Xp[:, :, ky:ky + s, kx:kx + s])
    return out


def reference(inp, dtype):
    return conv_gather(inp["X"], inp["W"], ref_dtype(dtype)).astype(np.float64)


def bound(c, gfun=gamma):
    """g(k, u)·‖|W| ⋆ |X|‖_F/‖out‖_F, with g = γ (worst case) or γ̃ (probabilistic)."""
    absconv = conv_gather(np.abs(c.inputs["X"]), np.abs(c.inputs["W"]))
    den = float(np.linalg.norm(c.reference))
    g = gfun(K_TERMS, c.u)
    return g * float(np.linalg.norm(absconv)) / den if den else g


def componentwise(c, g):
    """|out − ôut| <= g(k)·(|W| ⋆ |X|) entry by entry."""
    return g(K_TERMS) * conv_gather(np.abs(c.inputs["X"]), np.abs(c.inputs["W"]))


SPEC = register_kernel(KernelSpec(
    name="conv2d",
    description=f"3x3 conv, NCHW, stride 1, same padding: {N_BATCH} images, {C_IN} -> {C_OUT} channels",
    size_meaning=f"side s of the s x s images (batch {N_BATCH}, {C_IN} in / {C_OUT} out channels, 3x3 filters)",
    generate=generate,
    reference=reference,
    flops=lambda s: 2.0 * N_BATCH * C_OUT * K_TERMS * s * s,
    bytes_moved=lambda s, b: float(N_BATCH * (C_IN + C_OUT) * s * s + C_OUT * K_TERMS) * b,
    dtypes=REAL_DTYPES,
    error_model=gamma_error_model(
        bound, "Higham 2002, §3.1: each output is a dot product of k = C_in*3*3 terms, "
               "|out - fl(out)| <= γ_k (|W| * |X|) componentwise; normwise over the output",
        growth_slope=0.0, prob_terms=lambda c: K_TERMS, componentwise=componentwise,
        notes="covers any summation order of the direct method, not Winograd or FFT convolutions"),
    sizes={"quick": (32, 64, 128), "full": (32, 64, 128, 256, 512), "test": (1, 3, 7, 33)},
    category="compute",
    input_distribution="X ~ N(0,1); W ~ N(0,1)/sqrt(C_in*9)",
))


@implementation("conv2d", "numpy")
def conv2d_numpy(dev, X, W):
    """im2col: gather the 9 shifted planes once, then one BLAS matmul."""
    n, c, s, _ = X.shape
    Xp = np.zeros((n, c, s + 2, s + 2), dtype=X.dtype)
    Xp[:, :, 1:-1, 1:-1] = X
    cols = np.empty((n, c, KSIZE, KSIZE, s, s), dtype=X.dtype)
    for ky in range(KSIZE):
        for kx in range(KSIZE):
            cols[:, :, ky, kx] = Xp[:, :, ky:ky + s, kx:kx + s]
    out = W.reshape(W.shape[0], -1) @ cols.reshape(n, c * KSIZE * KSIZE, s * s)
    return out.reshape(n, W.shape[0], s, s)


@implementation("conv2d", "torch",
                notes="torch.nn.functional.conv2d: oneDNN on CPU; on CUDA cuDNN, which runs float32 in TF32 "
                      "when torch.backends.cudnn.allow_tf32 is True (the default)")
def conv2d_torch(dev, X, W):
    return dev.torch.nn.functional.conv2d(X, W, padding=KSIZE // 2)


@implementation("conv2d", "cupy")
def conv2d_cupy(dev, X, W):
    cp = dev.cp
    kern = dev.compile("conv2d.cu", REAL=real_type(X.dtype)).get_function("conv2d_3x3")
    n, c, s, _ = X.shape
    co = W.shape[0]
    with dev.ctx():
        out = cp.empty((n, co, s, s), dtype=X.dtype)
        grid = (-(-s // 16), -(-s // 16), n * co)
        kern(grid, (16, 16, 1), (np.int32(s), np.int32(c), np.int32(co), X, W, out))
    return out


@implementation("conv2d", "opencl")
def conv2d_opencl(dev, X, W):
    ts = square_tile(dev)
    prg = dev.compile("conv2d.cl", dtype=str(X.dtype), TS=ts)
    n, c, s, _ = X.shape
    co = W.shape[0]
    out = dev.empty((n, co, s, s), X.dtype)
    dev.launch(prg.conv2d_3x3, (s, s, n * co), (ts, ts, 1), np.int32(s), np.int32(c), np.int32(co),
               X.data, W.data, out.data)
    return out


@array_api_implementation("conv2d")
def conv2d_xp(xp, X, W):
    n, c, s, _ = X.shape
    zc = xp.zeros((n, c, s, 1), dtype=X.dtype, device=X.device)
    Xp = xp.concat([zc, X, zc], axis=3)
    zr = xp.zeros((n, c, 1, s + 2), dtype=X.dtype, device=X.device)
    Xp = xp.concat([zr, Xp, zr], axis=2)
    out = None
    for ky in range(KSIZE):
        for kx in range(KSIZE):
            term = xp.tensordot(W[:, :, ky, kx], Xp[:, :, ky:ky + s, kx:kx + s], axes=([1], [1]))
            out = term if out is None else out + term
    return xp.permute_dims(out, (1, 0, 2, 3))
