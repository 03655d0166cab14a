"""The inputs stage: the host arrays a case is run on, its reference, and their digest.

Inputs are drawn in float64 from `numpy.random.Generator(seed)` and rounded to the
case's dtype (`KernelSpec.make_inputs`), so the same seed gives bit-identical inputs on
every machine and every backend. The reference is computed from the rounded inputs, in
higher precision, so that it judges the kernel and not the rounding of its inputs.
Nothing here touches a device: a case that cannot run is skipped before any of this
is allocated (`memory_estimate`).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from .dtypes import itemsize
from .spec import HostInputs, KernelSpec


@dataclass(frozen=True)
class CaseInputs:
    """A case's host inputs, the reference computed from them, and their digest."""

    host: HostInputs
    reference: Any
    sha256: str


def prepare_inputs(spec: KernelSpec, size: int, dtype: str, seed: int) -> CaseInputs:
    """The inputs stage: seeded, rounded inputs, their reference, and their digest.

    The digest goes into the record (`inputs_sha256`): equal digests across backends,
    runs and machines are the evidence that every output was judged on the same data."""
    host = spec.make_inputs(size, dtype, seed)
    reference = spec.reference_for(host)
    return CaseInputs(host=host, reference=reference, sha256=inputs_sha256(host))


class InputsCache:
    """The inputs of the last (kernel, size, dtype, seed) asked for.

    Cases are planned so that those sharing inputs are adjacent: every backend then gets
    the very same arrays, and a reference (which may be slow: higher precision) is
    computed once. Only one entry is kept, so a sweep holds one case's inputs at a time."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._value: CaseInputs | None = None

    def get(self, spec: KernelSpec, size: int, dtype: str, seed: int) -> CaseInputs:
        key = (spec.name, size, dtype, seed)
        if key != self._key or self._value is None:
            self._key = self._value = None  # free the previous arrays before making new ones
            self._value = prepare_inputs(spec, size, dtype, seed)
            self._key = key
        return self._value


def inputs_sha256(inputs: HostInputs) -> str:
    """Digest of the exact bits (name, dtype, shape, bytes) of a case's host inputs: equal
    digests across backends and runs show that every one was judged on the same data."""
    h = hashlib.sha256()
    for name in sorted(inputs.values):
        v = inputs.values[name]
        h.update(name.encode() + b"\0")
        if isinstance(v, np.ndarray):
            arr = np.ascontiguousarray(v)
            h.update(f"{arr.dtype.str}{arr.shape}".encode())
            h.update(arr.tobytes())
        else:
            h.update(f"{type(v).__name__}:{v!r}".encode())
    return h.hexdigest()


def memory_estimate(spec: KernelSpec, size: int, dtype: str) -> int:
    """Bytes a case holds at once, from the cost model alone (nothing is allocated).

    `bytes_moved(size, itemsize)` counts the inputs and outputs in the case dtype. A case
    holds them twice (host arrays, and their device copies: separate memory even on a
    CPU device), plus the float64 exact inputs and reference, `bytes_moved(size, 8)`.
    """
    try:
        data = float(spec.bytes_moved(size, itemsize(dtype)))
        wide = float(spec.bytes_moved(size, 8))
    except Exception:
        return 0
    return int(2 * data + wide)
