"""Floating-point formats the harness knows, and how host inputs are rounded to them.

NumPy has no bfloat16, so bfloat16 data lives on the host as float32 arrays whose
values are exactly representable in bfloat16 (the low 16 bits are zero). Backends
that support bfloat16 convert those values exactly when moving them to the device.
"""
from __future__ import annotations

import numpy as np

#: dtype name -> (unit roundoff u, numpy storage dtype on the host)
FORMATS: dict[str, tuple[float, np.dtype]] = {
    "float16": (2.0**-11, np.dtype(np.float16)),
    "bfloat16": (2.0**-8, np.dtype(np.float32)),
    "float32": (2.0**-24, np.dtype(np.float32)),
    "float64": (2.0**-53, np.dtype(np.float64)),
}
DTYPES: tuple[str, ...] = tuple(FORMATS)
#: integer output dtypes (escape counts, masks); they have no unit roundoff.
INT_DTYPES: tuple[str, ...] = ("int32", "int64", "uint8", "bool")


def check_dtype(name: str) -> str:
    if name not in FORMATS:
        raise ValueError(f"unknown dtype {name!r}; valid dtypes: {', '.join(DTYPES)}")
    return name


def unit_roundoff(name: str) -> float:
    """u = eps/2: the bound on the relative error of one rounding."""
    return FORMATS[check_dtype(name)][0]


def storage_dtype(name: str) -> np.dtype:
    """The numpy dtype that holds values of this format on the host."""
    if name in FORMATS:
        return FORMATS[name][1]
    return np.dtype(name)


def itemsize(name: str) -> int:
    """Bytes per element on the device (bfloat16 is 2 bytes there, not 4)."""
    return 2 if name == "bfloat16" else storage_dtype(name).itemsize


#: bfloat16 keeps 8 significant bits of float64's 53; below 2^-126 it is subnormal,
#: with spacing 2^-133.
_BF16_DROP = 53 - 8
_BF16_TINY, _BF16_SUB_ULP = 2.0**-126, 2.0**-133


def round_bfloat16(x: np.ndarray) -> np.ndarray:
    """Round float64 values to bfloat16 (nearest, ties to even) from the float64 bits, held in float32.

    Going through float32 first double-rounds: 1 + 2⁻⁸ + 2⁻³⁰ becomes the tie 1 + 2⁻⁸ in
    float32 and then 1.0, where the correct bfloat16 value is 1 + 2⁻⁷; a correctly
    rounded bf16 output would then read 1 ULP off.
    """
    d = np.ascontiguousarray(x, dtype=np.float64)
    bits = d.view(np.uint64)
    lsb = (bits >> np.uint64(_BF16_DROP)) & np.uint64(1)
    half = np.uint64((1 << (_BF16_DROP - 1)) - 1)
    kept = ((bits + half + lsb) >> np.uint64(_BF16_DROP)) << np.uint64(_BF16_DROP)
    normal = kept.view(np.float64)
    with np.errstate(over="ignore"):
        sub = np.round(d / _BF16_SUB_ULP) * _BF16_SUB_ULP  # exact scaling; np.round is ties-to-even
        out = np.where(np.abs(d) < _BF16_TINY, sub, normal).astype(np.float32)  # exact, or ±inf past the range
    return np.where(np.isnan(d), np.float32(np.nan), out).reshape(np.shape(x))


def round_to(x, name: str):
    """Round float64 host values to the format `name`, returned in host storage."""
    if name == "bfloat16":
        r = round_bfloat16(np.asarray(x, dtype=np.float64))
        return r if isinstance(x, np.ndarray) else np.float32(r)
    if isinstance(x, np.ndarray):
        return x.astype(storage_dtype(name))
    return storage_dtype(name).type(x)


def _ordered_ints(x: np.ndarray, name: str) -> np.ndarray:
    """Map floats to int64 whose order and spacing follow the format's ulps (-0 == +0)."""
    if name == "bfloat16":
        bits = np.asarray(x, dtype=np.float32).view(np.int32).astype(np.int64) >> 16
    else:
        dt = storage_dtype(name)
        ity = {2: np.int16, 4: np.int32, 8: np.int64}[dt.itemsize]
        bits = np.asarray(x, dtype=dt).view(ity).astype(np.int64)
    # Signed views of sign-magnitude floats: negative floats have negative ints whose
    # magnitude grows the wrong way; mirror them around the sign bit.
    sign = np.iinfo(np.int64).min if name == "float64" else -(1 << (8 * itemsize(name) - 1))
    return np.where(bits < 0, sign - bits, bits)


def ulp_distance(a: np.ndarray, b: np.ndarray, name: str) -> np.ndarray:
    """Number of representable values of format `name` between a and b (as float64).

    Both arrays are first rounded to the format; a NaN on either side gives +inf.
    """
    a = np.asarray(round_to(np.asarray(a, dtype=np.float64), name))
    b = np.asarray(round_to(np.asarray(b, dtype=np.float64), name))
    ia, ib = _ordered_ints(a, name), _ordered_ints(b, name)
    same_sign = (ia >= 0) == (ib >= 0)
    with np.errstate(over="ignore"):
        near = np.abs(np.where(same_sign, ia - ib, 0)).astype(np.float64)
    far = np.abs(ia.astype(np.float64)) + np.abs(ib.astype(np.float64))
    d = np.where(same_sign, near, far)
    nan = np.isnan(a.astype(np.float64)) | np.isnan(b.astype(np.float64))
    return np.where(nan, np.inf, d)
