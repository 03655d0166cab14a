"""Backends by name. Classes are named by import path so that nothing heavy loads
until a backend is asked for; plugins add more through the `harness.backends`
entry-point group (see harness.registry)."""
from __future__ import annotations

from .base import Backend, BackendUnavailable, Device, PerfCounterTimer, Timer

BUILTIN_BACKENDS: dict[str, str] = {
    "numpy": "harness.backends.numpy_backend:NumpyBackend",
    "torch": "harness.backends.torch_backend:TorchBackend",
    "opencl": "harness.backends.opencl_backend:OpenCLBackend",
    "cupy": "harness.backends.cupy_backend:CupyBackend",
}

__all__ = ["Backend", "BackendUnavailable", "Device", "Timer", "PerfCounterTimer", "BUILTIN_BACKENDS"]
