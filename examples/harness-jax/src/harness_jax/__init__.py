"""harness-jax: a JAX backend for kernel-harness, as an installable plugin.

JAX dispatches asynchronously and has no device-wide barrier: the only way to wait
for work is `jax.block_until_ready(output)`. So this backend implements the
harness's output-aware contract, `synchronize(outputs)`: the timing loop hands it the
last output of every block (docs/plugins.md, "Runtimes that can only wait on
arrays"). Importing this module imports no JAX; the backend's probe does, with x64
enabled so that float64 cases compute in float64.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from harness.plugin_api import (Backend, BackendUnavailable, Device, PerfCounterTimer, Timer,
                                array_api_implementation, implementation, import_or_unavailable,
                                register_backend, storage_dtype)

__version__ = "0.1.0"
BACKEND = "jax"


class JaxDevice(Device):
    """One JAX device (the CPU here). Arrays are immutable jax.Array values."""

    backend = BACKEND
    kind = "cpu"

    def __init__(self, jax_module: Any, device: Any) -> None:
        self.jax = jax_module
        self._dev = device
        self.name = f"{device.platform}:{device.id}"
        self.kind = "cpu" if device.platform == "cpu" else "gpu"
        self._jit: Any = None

    @property
    def jit(self):
        """The jitted kernels (harness_jax.kernels), imported on first use."""
        if self._jit is None:
            from . import kernels

            self._jit = kernels
        return self._jit

    def to_device(self, host: np.ndarray, dtype: str):
        reason = self.dtype_unsupported(dtype) if host.dtype.kind == "f" else None
        if reason:
            raise BackendUnavailable(reason)
        target = storage_dtype(dtype) if host.dtype.kind == "f" else host.dtype
        return self.jax.device_put(np.array(host, dtype=target, copy=True), self._dev)

    def to_host(self, arr: Any) -> np.ndarray:
        return np.array(arr, copy=True)

    def scalar(self, value: Any, dtype: str) -> Any:
        # A typed scalar keeps float32 arithmetic in float32 (a Python float is weakly typed).
        return storage_dtype(dtype).type(value) if isinstance(value, float) else value

    def synchronize(self, outputs: Any = None) -> None:
        """Wait on the outputs given (arrays, tuples, pytrees): JAX has no barrier for
        "everything queued", so with outputs=None there is nothing to wait on."""
        if outputs is not None:
            self.jax.block_until_ready(outputs)

    def timer(self) -> Timer:
        return PerfCounterTimer(self.synchronize)  # passes each block's last output on

    def dtype_unsupported(self, dtype: str) -> str | None:
        if dtype in ("float16", "bfloat16"):
            return f"harness-jax covers float32 and float64 only ({dtype} not wired up)"
        return None

    @property
    def xp(self):
        return self.jax.numpy

    def metadata(self) -> dict[str, Any]:
        md = super().metadata()
        md.update(jax=self.jax.__version__, platform=self._dev.platform,
                  x64=bool(self.jax.config.read("jax_enable_x64")))
        return md

    def divergence_sources(self) -> dict[str, Any]:
        return {"matmul_precision": "highest", "xla_cpu_fast_math": False}


@register_backend
class JaxBackend(Backend):
    name = BACKEND
    description = "JAX (jax.jit, XLA) on its default platform"

    def _load(self):
        jax = import_or_unavailable("jax", "pip install jax")
        jax.config.update("jax_enable_x64", True)  # float64 cases in float64
        return [JaxDevice(jax, d) for d in jax.devices()]

    def versions(self) -> dict[str, str]:
        import jax
        import jaxlib

        return {"jax": jax.__version__, "jaxlib": jaxlib.__version__}


# --- implementations ---------------------------------------------------------------------------

@implementation("saxpy", BACKEND, notes="jax.jit of a * x + y")
def saxpy_jax(dev, a, x, y):
    return dev.jit.saxpy(a, x, y)


@implementation("sum", BACKEND, notes="jax.jit of jnp.sum (XLA's reduction order)")
def sum_jax(dev, x):
    return dev.jit.total(x)


@implementation("matmul", BACKEND, notes="jnp.matmul, precision HIGHEST")
def matmul_jax(dev, A, B):
    return dev.jit.matmul(A, B)


@implementation("softmax", BACKEND, notes="max-subtracted exp / sum over rows")
def softmax_jax(dev, x):
    return dev.jit.softmax(x)


@implementation("conv2d", BACKEND, notes="lax.conv_general_dilated, 3x3, padding 1")
def conv2d_jax(dev, X, W):
    return dev.jit.conv2d(X, W)


def _declare_array_api() -> None:
    """The built-in write-once Array API implementations, on this backend too (xp is
    jax.numpy): the same functions the harness registers for numpy, torch and cupy."""
    from harness.kernels.matmul import matmul_xp
    from harness.kernels.saxpy import saxpy_xp
    from harness.kernels.softmax import softmax_xp
    from harness.kernels.sum import sum_xp

    for kernel, fn in (("saxpy", saxpy_xp), ("sum", sum_xp), ("matmul", matmul_xp), ("softmax", softmax_xp)):
        array_api_implementation(kernel, backends=[BACKEND])(fn)


_declare_array_api()
