"""The public plugin API: everything a backend or kernel plugin needs, in one import.

    from harness.plugin_api import Backend, Device, implementation, register_backend

Names here are stable: they keep their meaning and signature within a major
version of kernel-harness (`API_VERSION` changes when they don't). Anything not
exported here is internal. The guide is docs/plugins.md; the backend contract is in
the docstring of harness.backends.base, and `harness check-backend NAME` verifies it.

Importing this module imports only NumPy (no backend library).
"""
from __future__ import annotations

from .accuracy import BoundContext, ErrorModel, gamma
from .backends.base import Backend, BackendUnavailable, Device, PerfCounterTimer, Timer, import_or_unavailable
from .dtypes import DTYPES, itemsize, round_to, storage_dtype, unit_roundoff
from .declarations import (Implementation, array_api_implementation, implementation, register_backend,
                           register_kernel)
from .spec import KernelSpec

#: Bumped when a name below changes incompatibly.
API_VERSION = 1

__all__ = [
    "API_VERSION",
    # backends
    "Backend", "BackendUnavailable", "Device", "Timer", "PerfCounterTimer", "import_or_unavailable",
    "register_backend",
    # kernels and implementations
    "KernelSpec", "ErrorModel", "BoundContext", "gamma", "register_kernel", "implementation",
    "array_api_implementation", "Implementation",
    # dtypes
    "DTYPES", "storage_dtype", "round_to", "unit_roundoff", "itemsize",
]
