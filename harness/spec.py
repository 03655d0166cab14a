"""Kernel specifications: what a kernel computes, independent of any backend.

A spec is declared once per kernel and is the single source of truth for inputs,
reference, sizes, cost model and error model. Backends only ever see the inputs a
spec produced, so every backend is judged on bit-identical data.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from .dtypes import DTYPES, round_to
from .accuracy import ErrorModel
from .references import ReferenceInfo, working_precision

#: Host inputs: arrays and scalars by name. Arrays are what backends move to a device;
#: Python ints (iteration counts, grid parameters) are passed through unchanged.
Inputs = Mapping[str, Any]


@dataclass(frozen=True)
class HostInputs:
    """The inputs of one case, in the case's dtype and as exact float64 values.

    `values` is what every backend receives (rounded to the dtype); `exact` holds the
    same numbers upcast to float64, from which the reference is computed, so input
    rounding never counts as kernel error.
    """

    values: dict[str, Any]
    exact: dict[str, Any]
    dtype: str
    seed: int

    def nbytes(self) -> int:
        return sum(v.nbytes for v in self.values.values() if isinstance(v, np.ndarray))


@dataclass(frozen=True)
class KernelSpec:
    """One kernel. See the module docstring of each kernel for its size meaning.

    generate(size, rng) -> dict of float64 arrays / Python scalars (before rounding)
    reference(exact_inputs, dtype) -> float64 (or integer) array: the truth, computed
        from the rounded inputs; it receives the dtype so float64 cases can use an
        exact (fsum) or extended-precision reference.
    flops(size), bytes_moved(size, itemsize): cost model for throughput and roofline.
    """

    name: str
    description: str
    size_meaning: str
    generate: Callable[[int, np.random.Generator], dict[str, Any]]
    reference: Callable[[Mapping[str, Any], str], np.ndarray]
    flops: Callable[[int], float]
    bytes_moved: Callable[[int, int], float]
    error_model: ErrorModel
    sizes: Mapping[str, tuple[int, ...]]
    dtypes: tuple[str, ...] = DTYPES
    #: output dtype as a function of the input dtype (escape counts are int32).
    output_dtype: Callable[[str], str] = lambda dtype: dtype
    #: inputs that stay float64/int whatever the case dtype (e.g. iteration counts).
    keep_exact: frozenset[str] = frozenset()
    #: "map", "reduction", "compute", "iterative": used for grouping in reports.
    category: str = "map"
    #: how the inputs are distributed; recorded because error growth depends on it.
    input_distribution: str = ""
    min_size: int = 1
    tags: Mapping[str, Any] = field(default_factory=dict)
    #: reference_info(dtype) -> how the reference is computed (method, bits, and
    #: whether it is independent of the implementations); see harness/references.py.
    reference_info: Callable[[str], ReferenceInfo] = working_precision

    def make_inputs(self, size: int, dtype: str, seed: int) -> HostInputs:
        """Deterministic inputs: float64 from Generator(seed), then rounded to dtype."""
        if dtype not in self.dtypes:
            raise ValueError(f"kernel {self.name!r} does not support dtype {dtype!r}")
        raw = self.generate(int(size), np.random.default_rng(seed))
        values: dict[str, Any] = {}
        exact: dict[str, Any] = {}
        for key, v in raw.items():
            if key in self.keep_exact or isinstance(v, (int, np.integer, bool)) or (
                isinstance(v, np.ndarray) and v.dtype.kind in "iub"
            ):
                values[key] = v
                exact[key] = v
                continue
            r = round_to(np.asarray(v, dtype=np.float64) if isinstance(v, np.ndarray) else float(v), dtype)
            values[key] = r
            exact[key] = np.asarray(r, dtype=np.float64) if isinstance(r, np.ndarray) else float(r)
        return HostInputs(values=values, exact=exact, dtype=dtype, seed=seed)

    def reference_for(self, inputs: HostInputs):
        """The reference output (a tuple of arrays for multi-output kernels)."""
        ref = self.reference(inputs.exact, inputs.dtype)
        if isinstance(ref, (tuple, list)):
            return tuple(np.asarray(r) for r in ref)
        return np.asarray(ref)

    def preset_sizes(self, preset: str) -> tuple[int, ...]:
        if preset not in self.sizes:
            raise ValueError(f"unknown preset {preset!r}; valid: {', '.join(self.sizes)}")
        return tuple(self.sizes[preset])
