"""matmul: C = A·B for square matrices. Size: n of the n×n matrices.

Compute-bound (2n³ flops on 3n² elements). Componentwise |Ĉ − C| ≤ γ_n|A||B|
(Higham 2002, §3.5, eq. 3.13) whatever the blocking or FMA use, so the normwise
bound is γ_n‖|A||B|‖_F / ‖C‖_F. The float64 reference is computed in long double.
"""
from __future__ import annotations

import numpy as np

from ..accuracy import gamma
from ..declarations import array_api_implementation, implementation, register_kernel
from ..spec import KernelSpec
from ..references import compensated, longdouble_is_wide
from ._common import cl_empty, local_2d, ref_dtype, square_tile
from ._reductions import gamma_error_model, two_product, two_sum


def generate(n, rng):
    return {"A": rng.standard_normal((n, n)), "B": rng.standard_normal((n, n))}


def dot2_matmul(A, B):
    """A @ B with every product and partial sum carried error-free (Ogita-Rump-Oishi Dot2,
    vectorised over the output): ~106 bits in float64 arithmetic alone."""
    A, B = np.asarray(A, np.float64), np.asarray(B, np.float64)
    s = np.zeros((A.shape[0], B.shape[1]))
    c = np.zeros_like(s)
    for k in range(A.shape[1]):
        p, e = two_product(A[:, k:k + 1], B[k:k + 1, :])
        s, q = two_sum(s, p)
        c += q + e
    return s + c


def reference(inp, dtype):
    if dtype == "float64" and not longdouble_is_wide():
        return dot2_matmul(inp["A"], inp["B"])
    t = ref_dtype(dtype)
    return (inp["A"].astype(t) @ inp["B"].astype(t)).astype(np.float64)


def bound(c, g=gamma):
    """g(n, u)·‖|A||B|‖_F/‖C‖_F, with g = γ (worst case) or γ̃ (probabilistic)."""
    absprod = np.abs(c.inputs["A"]) @ np.abs(c.inputs["B"])
    den = np.linalg.norm(c.reference)
    return g(c.size, c.u) * np.linalg.norm(absprod) / den if den else g(c.size, c.u)


def componentwise(c, g):
    """|C − Ĉ| <= g(n)·|A||B| entry by entry: no cancellation hides a wrong entry."""
    return g(c.size) * (np.abs(c.inputs["A"]) @ np.abs(c.inputs["B"]))


SPEC = register_kernel(KernelSpec(
    name="matmul",
    description="C = A @ B for n x n matrices",
    size_meaning="n of the n x n matrices",
    generate=generate,
    reference=reference,
    flops=lambda n: 2.0 * n**3,
    bytes_moved=lambda n, b: 3.0 * n * n * b,
    error_model=gamma_error_model(
        bound, "Higham 2002, §3.5 (3.13): |C - fl(AB)| <= γ_n |A||B| componentwise; "
               "normwise γ_n ||(|A||B|)||_F / ||C||_F", componentwise=componentwise),
    sizes={"quick": (64, 256, 512), "full": (64, 128, 256, 512, 1024, 2048), "test": (1, 7, 33, 100)},
    category="compute",
    input_distribution="A, B ~ N(0,1)",
    reference_info=compensated("", "Dot2 (TwoProduct + TwoSum) in float64 (~106 bits)"),
))


#: Register block of the CPU-tuned kernel: RM rows × VW columns per work-item (VW-wide
#: vectors). 4×16 keeps 4 (fp32) or 8 (fp64) AVX registers of accumulators, measured
#: best on PoCL among 2-8 rows and 8-32 columns (docs/performance.md).
MATMUL_RM, MATMUL_VW = 4, 16


@implementation("matmul", "opencl")
def matmul_opencl(dev, A, B):
    """Register-blocked, no local memory, no barriers (see matmul.cl)."""
    prg = dev.compile("matmul.cl", dtype=str(A.dtype), RM=MATMUL_RM, VW=MATMUL_VW)
    n = A.shape[0]
    C = cl_empty(dev, (n, n), A.dtype)
    grid = (-(-n // MATMUL_RM), -(-n // MATMUL_VW))
    dev.launch(prg.matmul_block, grid, local_2d(dev, grid, prg.matmul_block), np.int32(n), A.data, B.data, C.data)
    return C


@implementation("matmul", "opencl", "opencl_tiled16")
def matmul_opencl_tiled(dev, A, B):
    """The untuned version: 16×16 local-memory tiles, one output per work-item."""
    ts = square_tile(dev)
    prg = dev.compile("matmul.cl", dtype=str(A.dtype), TS=ts)
    n = A.shape[0]
    C = dev.empty((n, n), A.dtype)
    dev.launch(prg.matmul_tiled, (n, n), (ts, ts), np.int32(n), A.data, B.data, C.data)
    return C


@array_api_implementation("matmul")
def matmul_xp(xp, A, B):
    return xp.matmul(A, B)
