"""black_scholes: European call and put prices. Size: the number n of options.

    d₁ = (ln(S/K) + (r + σ²/2)T) / (σ√T),  d₂ = d₁ − σ√T,  Φ(x) = ½(1 + erf(x/√2))
    call = S·Φ(d₁) − K e^{−rT} Φ(d₂),      put = K e^{−rT} Φ(−d₂) − S·Φ(−d₁)

Output: (2, n), calls then puts. The kernel is a map dominated by transcendentals
(log, sqrt, exp, erf), whose accuracy is not fixed by IEEE 754 and differs by backend:
OpenCL 1.2 §7.4 allows float exp/log ≤ 3 ulp, sqrt ≤ 3 ulp, division ≤ 2.5 ulp and
erf ≤ 16 ulp; CUDA's limits are tighter (exp 2, log 1, erf 2 ulp); NumPy has no erf,
so the NumPy version uses scipy.special.erf. The Array API standard has no erf, so
there is no `array_api` implementation.

Inputs keep the problem well-conditioned: S ~ U(20, 120), K = S·U(0.8, 1.25),
T ~ U(0.25, 2) years, r ~ U(0.01, 0.06), σ ~ U(0.15, 0.5); so σ√T ≥ 0.075 and
|d| ≲ 4, no option is far out of the money and no price is a tiny difference of
large terms relative to the vector of prices (the metric is normwise).

Error model: a first-order forward error analysis of the formula, term by term, with
each transcendental contributing the OpenCL 1.2 §7.4 ulp limit (the loosest of the
backends) and each arithmetic operation one rounding; the error of d is propagated
through Φ with Φ' = φ, and the errors of the products and the difference are summed
in absolute value (Higham 2002, §3.1 style). The bound is normwise over all prices.
The float64 reference is computed in long double, with erf summed by its positive
series erf(x) = 2/√π·e^{−x²}·Σ (2x²)ⁿx/(2n+1)!! (no cancellation).
"""
from __future__ import annotations

import numpy as np

from ..accuracy import ErrorModel
from ..declarations import implementation, register_kernel
from ..spec import KernelSpec
from ._common import REAL_DTYPES, cuda_map, opencl_map, real_type, ref_dtype, streaming_cost

# Ulp limits (OpenCL 1.2 §7.4, single precision) in units of u = half an ulp.
C_LOG, C_EXP, C_SQRT, C_DIV, C_ERF = 6.0, 6.0, 6.0, 5.0, 32.0
INV_SQRT2 = 0.7071067811865476


def generate(n, rng):
    S = rng.uniform(20.0, 120.0, n)
    return {"S": S, "K": S * rng.uniform(0.8, 1.25, n), "T": rng.uniform(0.25, 2.0, n),
            "r": rng.uniform(0.01, 0.06, n), "sigma": rng.uniform(0.15, 0.5, n)}


def erf_series(x):
    """erf in the precision of x's dtype (long double), by the all-positive series."""
    t = x.dtype.type
    ax = np.abs(x)
    small = ax < 26  # beyond, erf is ±1 to any precision
    xs = np.where(small, ax, t(0))
    two_x2 = 2 * xs * xs
    term = xs.copy()
    total = xs.copy()
    n = 0
    while True:
        n += 1
        term = term * two_x2 / t(2 * n + 1)
        total = total + term
        if not np.any(term > total * np.finfo(t).eps) or n > 2000:
            break
    pi = t("3.14159265358979323846264338327950288")
    val = np.where(small, 2 / np.sqrt(pi) * np.exp(-xs * xs) * total, t(1))
    return np.sign(x) * val


def _erf(x):
    if x.dtype == np.float64:
        from scipy.special import erf

        return erf(x)
    return erf_series(x)


def prices(S, K, T, r, sigma, t=np.float64):
    S, K, T, r, sigma = (np.asarray(a, dtype=t) for a in (S, K, T, r, sigma))
    sq = sigma * np.sqrt(T)
    d1 = (np.log(S / K) + (r + sigma * sigma / 2) * T) / sq
    d2 = d1 - sq
    c = 1 / np.sqrt(t(2))
    disc = K * np.exp(-r * T)
    call = S * (1 + _erf(d1 * c)) / 2 - disc * (1 + _erf(d2 * c)) / 2
    put = disc * (1 + _erf(-d2 * c)) / 2 - S * (1 + _erf(-d1 * c)) / 2
    return np.stack([call, put])


def reference(inp, dtype):
    return prices(inp["S"], inp["K"], inp["T"], inp["r"], inp["sigma"], ref_dtype(dtype)).astype(np.float64)


def error_terms(S, K, T, r, sigma):
    """First-order absolute error of (call, put) per option, in units of u (see module doc)."""
    from scipy.special import erf

    sq = sigma * np.sqrt(T)
    L = np.log(S / K)
    A = (r + sigma * sigma / 2) * T
    num = L + A
    d1 = num / sq
    d2 = d1 - sq
    e_num = C_DIV + C_LOG * np.abs(L) + 3 * A + np.abs(num)
    e_sq = (C_SQRT + 1) * sq
    e_d1 = e_num / sq + np.abs(d1) * (e_sq / sq + C_DIV)
    e_d2 = e_d1 + e_sq + np.abs(d2)

    def phi_err(d, e_d):
        x = d * INV_SQRT2
        e_arg = 2 * np.abs(x) + INV_SQRT2 * e_d
        dens = 2 / np.sqrt(np.pi) * np.exp(-x * x)
        return 0.5 * (C_ERF * np.abs(erf(x)) + dens * e_arg + np.abs(1 + erf(x))) + 1

    e1, e2 = phi_err(d1, e_d1), phi_err(d2, e_d2)
    p1, p2 = 0.5 * (1 + erf(d1 * INV_SQRT2)), 0.5 * (1 + erf(d2 * INV_SQRT2))
    D = K * np.exp(-r * T)
    e_D = (C_EXP + 2 + r * T) * D
    call = S * p1 - D * p2
    put = D * (1 - p2) - S * (1 - p1)
    e_call = S * e1 + S * p1 + e_D * p2 + D * e2 + D * p2 + np.abs(call)
    e_put = D * e2 + D * (1 - p2) + e_D * (1 - p2) + S * e1 + S * (1 - p1) + np.abs(put)
    return np.stack([e_call, e_put])


def bound(c):
    i = c.inputs
    e = error_terms(i["S"], i["K"], i["T"], i["r"], i["sigma"])
    den = float(np.linalg.norm(c.reference))
    return c.u * float(np.linalg.norm(e)) / den if den else c.u * float(np.linalg.norm(e))


SPEC = register_kernel(KernelSpec(
    name="black_scholes",
    description="European call and put prices (log, sqrt, exp, erf) for n options",
    size_meaning="number n of options",
    generate=generate,
    reference=reference,
    # flops nominal: ~20 arithmetic ops + 6 transcendentals counted as ~7 flops each;
    # values: S, K, T, r, sigma read, call and put written
    **streaming_cost(flops=60, values=7),
    dtypes=REAL_DTYPES,
    error_model=ErrorModel(
        metric="normwise", kind="first_order",
        assumes="OpenCL 1.2 §7.4 ulp limits for log/exp/sqrt/erf, applied to scipy and torch too", bound=bound, growth_slope=0.0,
        source="first-order forward error analysis of the Black-Scholes formula: one rounding per "
               "arithmetic operation, OpenCL 1.2 §7.4 ulp limits per transcendental (log/exp/sqrt 3, "
               "div 2.5, erf 16 ulp), errors of d propagated through Φ' = φ; normwise over all prices"),
    sizes={"quick": (10_000, 100_000, 500_000), "full": (10_000, 100_000, 1_000_000, 10_000_000),
           "test": (1, 7, 1000, 1025)},
    category="compute",
    input_distribution="S~U(20,120), K=S*U(0.8,1.25), T~U(0.25,2), r~U(0.01,0.06), sigma~U(0.15,0.5)",
))


@implementation("black_scholes", "numpy", notes="erf from scipy.special (NumPy has none)")
def black_scholes_numpy(dev, S, K, T, r, sigma):
    from scipy.special import erf

    sq = sigma * np.sqrt(T)
    d1 = (np.log(S / K) + (r + sigma * sigma * 0.5) * T) / sq
    d2 = d1 - sq
    disc = K * np.exp(-r * T)
    out = np.empty((2,) + S.shape, dtype=S.dtype)
    out[0] = S * (0.5 + 0.5 * erf(d1 * INV_SQRT2)) - disc * (0.5 + 0.5 * erf(d2 * INV_SQRT2))
    out[1] = disc * (0.5 + 0.5 * erf(-d2 * INV_SQRT2)) - S * (0.5 + 0.5 * erf(-d1 * INV_SQRT2))
    return out


@implementation("black_scholes", "torch")
def black_scholes_torch(dev, S, K, T, r, sigma):
    torch = dev.torch
    sq = sigma * torch.sqrt(T)
    d1 = (torch.log(S / K) + (r + sigma * sigma * 0.5) * T) / sq
    d2 = d1 - sq
    disc = K * torch.exp(-r * T)
    call = S * (0.5 + 0.5 * torch.erf(d1 * INV_SQRT2)) - disc * (0.5 + 0.5 * torch.erf(d2 * INV_SQRT2))
    put = disc * (0.5 + 0.5 * torch.erf(-d2 * INV_SQRT2)) - S * (0.5 + 0.5 * torch.erf(-d1 * INV_SQRT2))
    return torch.stack([call, put])


@implementation("black_scholes", "cupy")
def black_scholes_cupy(dev, S, K, T, r, sigma):
    cp = dev.cp
    kern = dev.compile("black_scholes.cu", REAL=real_type(S.dtype)).get_function("black_scholes")
    n = S.size
    with dev.ctx():
        out = cp.empty((2, n), dtype=S.dtype)
        cuda_map(kern, n, (np.int32(n), S, K, T, r, sigma, out))
    return out


@implementation("black_scholes", "opencl")
def black_scholes_opencl(dev, S, K, T, r, sigma):
    return opencl_map(dev, "black_scholes.cl", "black_scholes", (2, S.size), S.dtype, S.size, S.data, K.data,
                      T.data, r.data, sigma.data, tuned=False)
