"""A few output values per record, at positions shared by every backend and machine.

`output_sha256` only says whether two outputs are bitwise equal. To say by how much
two records of the same case differ, long after the arrays are gone, each ok record
keeps `output_sample`: SAMPLE_SIZE entries of the flattened output (see
`accuracy.flatten_output`) and of the reference, at positions drawn from the case seed.
The positions depend on (seed, kernel, size) and the output length only, never on the
dtype, backend, device or machine, so two records of a case line up entry by entry.
"""
from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np

from .accuracy import flatten_output
from .record import from_json_value

#: 32 entries: enough to see how far two outputs differ, at about 1 kB a record.
SAMPLE_SIZE = 32
#: The reference is kept to 12 significant digits (it only places the entries on the
#: scale of the truth; the two outputs compared keep every bit).
REFERENCE_DIGITS = 12


def sample_seed(seed: int, kernel: str, size: int) -> int:
    """128 bits of sha256 over the case: Python's hash() is salted per process, so it
    would give other positions in every worker and on every machine."""
    digest = hashlib.sha256(f"{seed}\x00{kernel}\x00{size}".encode()).digest()
    return int.from_bytes(digest[:16], "little")


def sample_positions(n: int, seed: int, kernel: str, size: int, k: int = SAMPLE_SIZE) -> np.ndarray:
    """min(k, n) distinct sorted positions in range(n).

    Drawn from the raw PCG64 stream: NumPy keeps bit-generator streams stable across
    versions, while Generator methods (choice, permutation) may change, and machines
    with different NumPy versions must still pick the same positions."""
    if n <= k:
        return np.arange(n, dtype=np.int64)
    bitgen = np.random.PCG64(np.random.SeedSequence(sample_seed(seed, kernel, size)))
    chosen: dict[int, None] = {}
    while len(chosen) < k:
        for v in bitgen.random_raw(2 * k) % np.uint64(n):
            chosen.setdefault(int(v), None)
            if len(chosen) == k:
                break
    return np.sort(np.fromiter(chosen, dtype=np.int64, count=k))


def _short(values: np.ndarray) -> list[float]:
    """Floats as the shortest decimal that reads back to the same value in the output's
    own dtype (float32 0.1 is '0.1', not '0.10000000149011612'): about half the bytes,
    and still exact once cast back to that dtype."""
    if values.dtype.kind == "f":
        return [float(str(v)) for v in values]
    return [float(v) for v in values]


def output_sample(out: Any, ref: Any, seed: int, kernel: str, size: int, k: int = SAMPLE_SIZE) -> dict[str, list]:
    """The `output_sample` field of a record: positions, output values, reference values."""
    flat = np.asarray(flatten_output(out)).ravel()
    ref64 = np.asarray(flatten_output(ref)).astype(np.float64).ravel()
    pos = sample_positions(min(flat.size, ref64.size), seed, kernel, size, k)
    return {"positions": [int(p) for p in pos], "values": _short(flat[pos]),
            "reference": [float(f"{v:.{REFERENCE_DIGITS}g}") for v in ref64[pos]], "dtype": flat.dtype.name}


def _floats(values: Any, dtype: Any = None) -> np.ndarray:
    """JSON-decoded values back to float64: null was NaN, "inf"/"-inf" were infinities.
    With the sample's float `dtype`, the short decimals are first read back into it, so
    the values are the output's exact bits again (a 1-ulp difference stays 1 ulp)."""
    out = np.asarray([math.nan if v is None else from_json_value(v) for v in values], dtype=np.float64)
    try:
        dt = np.dtype(dtype) if isinstance(dtype, str) else None
    except TypeError:
        dt = None
    return out.astype(dt).astype(np.float64) if dt is not None and dt.kind == "f" else out


def sample_arrays(sample: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(positions, values, reference) of a stored sample; None when absent (old records)
    or malformed, so callers show "n/a" instead of failing."""
    if not isinstance(sample, dict):
        return None
    try:
        pos = np.asarray(sample["positions"], dtype=np.int64)
        vals, ref = _floats(sample["values"], sample.get("dtype")), _floats(sample["reference"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (pos.shape == vals.shape == ref.shape):
        return None
    return pos, vals, ref


def sample_max_rel_diff(a: Any, b: Any) -> float:
    """max |a-b| / max(|ref|, tiny) over the shared sampled entries; NaN when either
    sample is missing or their positions differ (then the entries are not comparable).
    Equal non-finite entries (both NaN, same infinity) count as no difference."""
    sa, sb = sample_arrays(a), sample_arrays(b)
    if sa is None or sb is None or not np.array_equal(sa[0], sb[0]):
        return math.nan
    va, vb = sa[1], sb[1]
    if va.size == 0:
        return 0.0
    same = (va == vb) | (np.isnan(va) & np.isnan(vb))
    scale = np.maximum(np.maximum(np.abs(sa[2]), np.abs(sb[2])), np.finfo(np.float64).tiny)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.where(same, 0.0, np.abs(va - vb) / np.where(np.isnan(scale), 1.0, scale))
    diff = np.where(np.isnan(diff), math.inf, diff)
    return float(np.max(diff))
