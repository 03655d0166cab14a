"""Accumulation dtypes, measured: what precision a reduction really adds in.

A recorded accumulation dtype used to be a claim declared next to the implementation,
and some claims were wrong (torch.sum on float32 CPU tensors was recorded as float64;
`sum([2**24] + [1]*1000)` gives 16778196, float accumulation). Here each
(implementation, device, dtype) is probed instead: a big value B = 2^t, where adding 1
in the data dtype is lost (1 is half an ulp of B, and the tie rounds to even), followed
by K ones. Accumulating in the data dtype loses some of the ones, whatever the order or
number of partial sums (the partial sum holding B drops every one added to it);
accumulating in a wider dtype recovers all K exactly. A tree that adds the ones
up before meeting B hides the loss, so sums and norms also get a second probe: random values in
[1, 2), whose exact sum fits the wider dtype, must come out correctly rounded every
time. The probe runs the implementation's own code on the device, so the answer is
about that code path.

Probes exist for the reductions whose error depends on it (sum, cumsum, dot, l2norm,
softmax); other kernels record no accumulation dtype rather than an unverified one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .dtypes import round_to, unit_roundoff

#: number of ones added to B.
K = 4096
#: t such that 1 is half an ulp of 2^t in each format (t = significand bits); l2norm
#: needs an even t (B is the square of a representable x0).
BIG_EXP = {"float16": 11, "bfloat16": 8, "float32": 24, "float64": 53}
#: the accumulation dtype reported when every one was recovered.
WIDER = {"float16": "float32", "bfloat16": "float32", "float32": "float64", "float64": "wider than float64"}


@dataclass(frozen=True)
class Probe:
    """inputs(dtype) -> float64 host values; recovered(output, dtype) -> how many of the
    K ones survived in the output (K: wide accumulation; fewer: the data dtype)."""

    inputs: Callable[[str], dict[str, np.ndarray]]
    recovered: Callable[[np.ndarray, str], float]
    #: tolerance(output, dtype): how far from K the recovered count may be and still read
    #: as wide: what a few roundings of the final sqrt, exp or division move it by.
    tolerance: Callable[[np.ndarray, str], float] = lambda out, dtype: 0.0


def _big(dtype: str, even: bool = False) -> int:
    t = BIG_EXP[dtype]
    return t + (t % 2) if even else t


def _vector(dtype: str) -> np.ndarray:
    return np.concatenate([[2.0 ** _big(dtype)], np.ones(K)])


def _sum_recovered(out, dtype):
    return float(np.asarray(out, dtype=np.float64).ravel()[-1]) - 2.0 ** _big(dtype)


def _l2_inputs(dtype):
    return {"x": np.concatenate([[2.0 ** (_big(dtype, even=True) // 2)], np.ones(K)])}


def _l2_recovered(out, dtype):
    return float(np.asarray(out, dtype=np.float64)) ** 2 - 2.0 ** _big(dtype, even=True)


def _softmax_x0(dtype: str) -> float:
    """x0 with exp(-x0) ≈ 2^-t, rounded to the dtype as the kernel will see it."""
    return float(round_to(np.float64(_big(dtype) * math.log(2.0)), dtype))


def _softmax_recovered(out, dtype):
    """softmax([x0, 0, ..., 0])[0] = 1 / (1 + K·e^{-x0}), with the shift by the max."""
    p0 = float(np.asarray(out, dtype=np.float64).ravel()[0])
    e = math.exp(-_softmax_x0(dtype))
    return (1.0 / p0 - 1.0) / e if p0 > 0 else math.inf


def _l2_tolerance(out, dtype):
    """4u·out² is what two ulps of the output move out² by."""
    return 0.002 * K + 4.0 * unit_roundoff(dtype) * float(np.asarray(out, dtype=np.float64)) ** 2


def _softmax_tolerance(out, dtype):
    """Two ulps of p0 move the count by 4u/(p0·e); each exp may be a few ulps off."""
    p0 = float(np.asarray(out, dtype=np.float64).ravel()[0])
    u = unit_roundoff(dtype)
    e = math.exp(-_softmax_x0(dtype))
    return 0.002 * K + 8.0 * u * K + (4.0 * u / (p0 * e) if p0 > 0 else math.inf)


PROBES: dict[str, Probe] = {
    "sum": Probe(lambda dt: {"x": _vector(dt)}, _sum_recovered),
    "cumsum": Probe(lambda dt: {"x": _vector(dt)}, _sum_recovered),
    "dot": Probe(lambda dt: {"x": _vector(dt), "y": np.ones(K + 1)}, _sum_recovered),
    "l2norm": Probe(_l2_inputs, _l2_recovered, _l2_tolerance),
    "softmax": Probe(lambda dt: {"x": np.concatenate([[_softmax_x0(dt)], np.zeros(K)])[None, :]},
                     _softmax_recovered, _softmax_tolerance),
}


def classify(kernel: str, out: Any, dtype: str) -> dict[str, Any]:
    """The record fields for one probe output."""
    probe = PROBES[kernel]
    got = probe.recovered(out, dtype)
    # A float64 output resolves the count only to a few ones: claim more than float64
    # only on an exact count.
    tol = 0.0 if dtype == "float64" else probe.tolerance(out, dtype)
    wide = math.isfinite(got) and abs(got - K) <= tol
    return {"accumulation_dtype": WIDER[dtype] if wide else dtype, "accumulation_measured": True,
            "accumulation_probe": {"big": f"2^{_big(dtype, even=kernel == 'l2norm')}", "ones": K,
                                   "ones_recovered": got}}


def _exact_sum(x, dtype):
    return {float(round_to(np.float64(math.fsum(x)), dtype))}


def _exact_norm(x, dtype):
    """sqrt of the exact Σx² (x*x is exact: x has half the significand bits), rounded
    once, or after Σx² itself was rounded to the dtype (a wide sum stored before sqrt)."""
    s = math.fsum(x * x)
    return {float(round_to(np.float64(math.sqrt(s)), dtype)),
            float(round_to(np.float64(math.sqrt(float(round_to(np.float64(s), dtype)))), dtype))}


#: kernel -> (inputs from a random vector, bits the vector keeps, its exact result), for
#: the order-proof second probe.
TRIAL_PROBES = {
    "sum": (lambda x: {"x": x}, 1, _exact_sum),
    "cumsum": (lambda x: {"x": x}, 1, _exact_sum),
    "dot": (lambda x: {"x": x, "y": np.ones_like(x)}, 1, _exact_sum),
    "l2norm": (lambda x: {"x": x}, 2, _exact_norm),
}
TRIALS = 8


def _run(fn, device, host: dict, dtype: str):
    host = {k: round_to(v, dtype) for k, v in host.items()}
    return device.outputs_to_host(fn(device, **device.inputs_to_device(host, dtype)))


def _trial_vector(rng, dtype: str, divide: int) -> np.ndarray:
    """K+1 values ±[1, 2) with 1/divide of the format's significand bits; random signs
    make the result small against the partial sums, so orders in the data dtype are
    rarely right (about 1 time in 5 for NumPy's pairwise sum)."""
    bits = max(1, (BIG_EXP[dtype] - 1) // divide)
    mag = 1.0 + np.floor(rng.uniform(0.0, 1.0, K + 1) * 2.0**bits) / 2.0**bits
    return mag * rng.choice([-1.0, 1.0], K + 1)


def correctly_rounded_trials(kernel: str, fn, device, dtype: str) -> int:
    """How many of TRIALS random sums (or norms) come out correctly rounded.

    The 2^t + ones probe can be fooled by an order that adds the ones up first (a tree).
    Here the exact sum of K+1 values needs about 13 bits more than the data dtype: exact
    in the wider dtype, so a wide accumulator rounds once and is correct every time,
    while any order in the data dtype rounds along the way and is off in some trial."""
    rng = np.random.default_rng(12)
    make, divide, exact_fn = TRIAL_PROBES[kernel]
    good = 0
    for _ in range(TRIALS):
        x = _trial_vector(rng, dtype, divide)
        out = np.asarray(_run(fn, device, make(x), dtype), dtype=np.float64).ravel()[-1]
        good += bool(float(out) in exact_fn(x, dtype))
    return good


def measure_accumulation(kernel: str, fn: Callable[..., Any], device: Any, dtype: str) -> dict[str, Any]:
    """Run the probe through implementation `fn` on `device`; no claim when there is no probe."""
    if kernel not in PROBES or dtype not in BIG_EXP:
        return {"accumulation_dtype": None, "accumulation_measured": False}
    try:
        res = classify(kernel, _run(fn, device, PROBES[kernel].inputs(dtype), dtype), dtype)
        if kernel in TRIAL_PROBES:
            good = correctly_rounded_trials(kernel, fn, device, dtype)
            res["accumulation_probe"]["correctly_rounded"] = f"{good}/{TRIALS}"
            if good < TRIALS:
                res["accumulation_dtype"] = dtype
        return res
    except Exception as exc:  # a probe that cannot run leaves the dtype unknown, never guessed
        return {"accumulation_dtype": None, "accumulation_measured": False,
                "accumulation_probe": {"error": f"{type(exc).__name__}: {exc}"[:300]}}


_CACHE: dict[tuple, dict[str, Any]] = {}


def cached_accumulation(kernel: str, impl_key: tuple, fn: Callable[..., Any], device: Any,
                        dtype: str) -> dict[str, Any]:
    """One probe per (implementation, device, dtype) and process: the answer cannot change."""
    key = (impl_key, getattr(device, "backend", ""), getattr(device, "name", ""), dtype)
    if key not in _CACHE:
        _CACHE[key] = measure_accumulation(kernel, fn, device, dtype)
    return dict(_CACHE[key])
