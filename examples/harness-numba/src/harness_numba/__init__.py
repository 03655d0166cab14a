"""harness-numba: a Numba backend for kernel-harness, as an installable plugin.

The entry point (`harness.backends`: numba = "harness_numba") names this module;
importing it declares the backend and its implementations and imports no Numba:
Numba (about half a second to import) loads when the backend is first probed, and
each kernel compiles on its first call (the harness's warm-up, kept as `compile_s`).
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from harness.plugin_api import (Backend, BackendUnavailable, Device, Timer, implementation,
                                import_or_unavailable, register_backend, storage_dtype)

__version__ = "0.1.0"
BACKEND = "numba"


class NumbaTimer(Timer):
    """Integer-nanosecond host clock. Numba's parallel regions join all their threads
    before a call returns, so there is never queued work to wait for at stop()."""

    name = "perf_counter_ns"

    def start(self) -> None:
        self._t0 = time.perf_counter_ns()

    def stop(self) -> float:
        return (time.perf_counter_ns() - self._t0) * 1e-9


class NumbaDevice(Device):
    """The host CPU, driven by Numba's thread pool. Arrays are C-contiguous NumPy arrays."""

    backend = BACKEND
    name = "cpu"
    kind = "cpu"

    def __init__(self, numba_module: Any) -> None:
        self._numba = numba_module
        self._jit = None

    @property
    def jit(self):
        """The compiled kernels (module harness_numba.kernels), imported on first use."""
        if self._jit is None:
            from . import kernels

            self._jit = kernels
        return self._jit

    # Data movement: a fresh contiguous copy each way, so a kernel never aliases the
    # harness's host arrays, and values are copied bit for bit.
    def to_device(self, host: np.ndarray, dtype: str) -> np.ndarray:
        reason = self.dtype_unsupported(dtype) if dtype in ("float16", "bfloat16") else None
        if reason:
            raise BackendUnavailable(reason)
        return np.array(host, dtype=storage_dtype(dtype), order="C", copy=True)

    def to_host(self, arr: Any) -> np.ndarray:
        return np.array(arr, copy=True)

    def scalar(self, value: Any, dtype: str) -> Any:
        # A typed scalar keeps Numba's type inference in the case dtype (a Python float
        # would be float64 and promote float32 arithmetic).
        return storage_dtype(dtype).type(value) if isinstance(value, float) else value

    def synchronize(self) -> None:
        """Nothing to wait for: every call returns after its parallel region has joined."""

    def timer(self) -> Timer:
        return NumbaTimer()

    def dtype_unsupported(self, dtype: str) -> str | None:
        if dtype == "float16":
            return "Numba's CPU target has no float16 data model"
        if dtype == "bfloat16":
            return "Numba has no bfloat16 type"
        return None

    def threads(self) -> dict[str, Any]:
        return {"numba_threads": self._numba.get_num_threads()}

    def divergence_sources(self) -> dict[str, Any]:
        # fastmath off: no reassociation and no FMA contraction, so float results
        # depend only on each kernel's loop order.
        return {"fastmath": False}

    def metadata(self) -> dict[str, Any]:
        md = super().metadata()
        md.update(numba=self._numba.__version__, threads=self._numba.get_num_threads(),
                  threading_layer=self._numba.config.THREADING_LAYER)
        try:
            import llvmlite.binding as llvm

            md["llvm_cpu"] = llvm.get_host_cpu_name()
        except Exception:  # metadata is best effort
            pass
        return md


@register_backend
class NumbaBackend(Backend):
    name = BACKEND
    description = "Numba @njit(parallel=True) kernels on the host CPU"

    def _load(self):
        numba = import_or_unavailable("numba", "pip install numba")
        return [NumbaDevice(numba)]

    def versions(self) -> dict[str, str]:
        import llvmlite
        import numba

        return {"numba": numba.__version__, "llvmlite": llvmlite.__version__}


# --- implementations: thin wrappers around the compiled kernels --------------------------------

@implementation("saxpy", BACKEND, notes="prange over elements")
def saxpy_numba(dev, a, x, y):
    return dev.jit.saxpy(a, x, y)


@implementation("sum", BACKEND, notes="prange over up to 256 chunks, recursive sum within each")
def sum_numba(dev, x):
    return dev.jit.total(x).reshape(())


@implementation("matmul", BACKEND, notes="prange over rows, i-k-j loop order")
def matmul_numba(dev, A, B):
    return dev.jit.matmul(A, B)


@implementation("mandelbrot", BACKEND, notes="prange over rows")
def mandelbrot_numba(dev, cx, cy, max_iter):
    return dev.jit.mandelbrot(cx, cy, max_iter)


@implementation("vadd", BACKEND, notes="prange over elements")
def vadd_numba(dev, x, y):
    return dev.jit.vadd(x, y)


@implementation("relu", BACKEND, notes="prange over elements")
def relu_numba(dev, x):
    return dev.jit.relu(x)


@implementation("dot", BACKEND, notes="prange over up to 256 chunks, recursive dot within each")
def dot_numba(dev, x, y):
    return dev.jit.dot(x, y).reshape(())
