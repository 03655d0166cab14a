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


def round_bfloat16(x: np.ndarray) -> np.ndarray:
    """Round float64 values to bfloat16 (nearest, ties to even), held in float32.

    Rounding float64 -> float32 -> bfloat16 can double-round; the error is below
    one bfloat16 ulp and only affects ties, which is harmless for test inputs.
    """
    f = np.asarray(x, dtype=np.float32)
    bits = f.view(np.uint32).astype(np.uint64)
    lsb = (bits >> 16) & 1
    rounded = ((bits + 0x7FFF + lsb) >> 16) << 16
    out = rounded.astype(np.uint32).view(np.float32)
    return np.where(np.isnan(f), f, out).reshape(np.shape(x))


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
