"""The Numba kernels. Imported on first use (it imports Numba and nothing compiles until
a kernel is called). Constants are built with the array's own scalar type, so float32
arithmetic stays float32; every accumulation happens in the data type."""
from __future__ import annotations

import numpy as np
from numba import njit, prange

# cache=True: compiled machine code is kept next to this file, so later processes
# (the harness's worker processes, the next run) skip compilation.
JIT = dict(parallel=True, cache=True, fastmath=False)


@njit(**JIT)
def saxpy(a, x, y):
    out = np.empty_like(x)
    for i in prange(x.size):
        out[i] = a * x[i] + y[i]
    return out


@njit(**JIT)
def total(x):
    """Sum in up to 256 chunks in parallel, then the chunk sums in order; as a 1-element
    array so that a float32 result stays float32 (Numba returns scalars as Python floats)."""
    n = x.size
    nchunks = max(1, min(n // 4096, 256))
    partial = np.zeros(nchunks, x.dtype)
    for c in prange(nchunks):
        acc = partial[c]
        for i in range(c * n // nchunks, (c + 1) * n // nchunks):
            acc += x[i]
        partial[c] = acc
    out = np.zeros(1, x.dtype)
    for c in range(nchunks):
        out[0] += partial[c]
    return out


@njit(**JIT)
def dot(x, y):
    """x·y in the same chunked order as `total`."""
    n = x.size
    nchunks = max(1, min(n // 4096, 256))
    partial = np.zeros(nchunks, x.dtype)
    for c in prange(nchunks):
        acc = partial[c]
        for i in range(c * n // nchunks, (c + 1) * n // nchunks):
            acc += x[i] * y[i]
        partial[c] = acc
    out = np.zeros(1, x.dtype)
    for c in range(nchunks):
        out[0] += partial[c]
    return out


@njit(**JIT)
def matmul(A, B):
    n, m = A.shape
    p = B.shape[1]
    C = np.zeros((n, p), A.dtype)
    for i in prange(n):
        for k in range(m):
            a = A[i, k]
            for j in range(p):
                C[i, j] += a * B[k, j]
    return C


@njit(**JIT)
def mandelbrot(cx, cy, max_iter):
    nx, ny = cx.size, cy.size
    counts = np.zeros((ny, nx), np.int32)
    four = cx.dtype.type(4)
    for i in prange(ny):
        ci = cy[i]
        for j in range(nx):
            cr = cx[j]
            zr = cr - cr
            zi = zr
            k = 0
            while k < max_iter:
                zr2 = zr * zr
                zi2 = zi * zi
                if zr2 + zi2 > four:
                    break
                zi = (zr + zr) * zi + ci
                zr = zr2 - zi2 + cr
                k += 1
            counts[i, j] = k
    return counts


@njit(**JIT)
def vadd(x, y):
    out = np.empty_like(x)
    for i in prange(x.size):
        out[i] = x[i] + y[i]
    return out


@njit(**JIT)
def relu(x):
    out = np.empty_like(x)
    zero = x.dtype.type(0)
    for i in prange(x.size):
        v = x[i]
        out[i] = zero if v < zero else v  # NaN propagates, as in np.maximum
    return out
