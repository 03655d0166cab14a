"""What a reference is computed with, and whether it can judge a float64 case.

A reference only measures an error if it is (a) more precise than the output and
(b) computed by a different code path from the implementation it judges. Every
record therefore carries `reference_method`, `reference_precision` (significand bits
of the working precision; EXACT_BITS for exact algorithms) and
`reference_independent`. A float64 case needs more than 53 bits: long double only
where it really has a 64-bit (x86) or 113-bit significand, checked with
np.finfo(np.longdouble).nmant; otherwise math.fsum, exact dot products or mpmath.
Where none of these applies on a platform, the reference is marked not independent,
and an error of 0 is not reported as such (runner).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: significand bits of long double here: 64 on x86 (80-bit x87), 113 on aarch64 Linux,
#: 53 where it is plain double (macOS arm64, Windows).
LONGDOUBLE_BITS = int(np.finfo(np.longdouble).nmant) + 1
#: "exact": the width of a fixed-point accumulator that holds any sum of float64 values
#: exactly (Kulisch: 2·1023 + 52 + a carry margin); math.fsum behaves as if it had one.
EXACT_BITS = 2098
#: significand bits of each format's working precision.
FORMAT_BITS = {"float16": 11, "bfloat16": 8, "float32": 24, "float64": 53}


@dataclass(frozen=True)
class ReferenceInfo:
    method: str
    precision: int
    independent: bool = True

    def fields(self) -> dict:
        return {"reference_method": self.method, "reference_precision": self.precision,
                "reference_independent": self.independent}


def longdouble_is_wide() -> bool:
    """True where long double has more significand bits than double."""
    return LONGDOUBLE_BITS > FORMAT_BITS["float64"]


def working_precision(dtype: str) -> ReferenceInfo:
    """The default: the kernel's formula evaluated in float64, or in long double for
    float64 cases (kernels/_common.ref_dtype). Not independent for a float64 case where
    long double is plain double: it would be the same arithmetic as the output."""
    if dtype != "float64":
        return ReferenceInfo("same formula in float64", 53)
    bits = LONGDOUBLE_BITS
    return ReferenceInfo(f"same formula in long double ({bits}-bit significand)", bits,
                         independent=bits > FORMAT_BITS["float64"])


def exact(method: str, bits: int = EXACT_BITS):
    """For references computed exactly (or to `bits`) whatever the dtype."""
    def info(dtype: str) -> ReferenceInfo:
        return ReferenceInfo(method, bits, independent=bits > FORMAT_BITS.get(dtype, 53))
    return info


def independent_code(method: str):
    """The default precision, for kernels whose reference is written separately from
    every implementation (mandelbrot, nbody, mlp_xor)."""
    def info(dtype: str) -> ReferenceInfo:
        base = working_precision(dtype)
        return ReferenceInfo(f"{method}, {base.method.removeprefix('same formula ')}", base.precision,
                             base.independent)
    return info


def compensated(method: str, fallback: str, bits: int = 106):
    """Long double where it is wide; otherwise an error-free-transformation fallback
    (TwoSum / TwoProduct, ~106 bits) that the kernel's reference switches to."""
    def info(dtype: str) -> ReferenceInfo:
        if dtype == "float64" and not longdouble_is_wide():
            return ReferenceInfo(fallback, bits)
        return working_precision(dtype) if method == "" else ReferenceInfo(
            f"{method}, {working_precision(dtype).method.removeprefix('same formula ')}",
            working_precision(dtype).precision, working_precision(dtype).independent)
    return info
