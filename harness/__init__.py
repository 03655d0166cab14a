"""kernel-harness: one kernel, several backends, the same timing and accuracy checks.

Importing this package imports no backend library (torch, cupy, pyopencl); those
load when a backend is first probed or used.
"""
from __future__ import annotations

__version__ = "0.1.0"

from .columnar import load_results  # noqa: E402  (stdlib-only at import time)

__all__ = ["load_results", "__version__", "get_registry"]


def get_registry():
    from .registry import get_registry as _get

    return _get()
