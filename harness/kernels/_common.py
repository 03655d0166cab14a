"""Shared helpers for kernel specs: precision of references, and launch geometry."""
from __future__ import annotations

import numpy as np

#: Extended precision for float64 references: 64-bit significand on x86 (80-bit
#: x87 format), 113-bit on aarch64 Linux. Where longdouble is plain double (macOS
#: arm64, Windows) float64 references are only as good as the data, which the
#: harness records as `reference_precision`.
LONGDOUBLE_BITS = int(np.finfo(np.longdouble).nmant) + 1


def ref_dtype(dtype: str):
    """The dtype a reference is computed in: float64 for narrower formats, wider for float64."""
    return np.longdouble if dtype == "float64" else np.float64


def wg_size(device, preferred: int = 256) -> int:
    """Work-group size from the device's limit, never hard-coded beyond a preference."""
    return max(1, min(preferred, device.max_work_group_size))


def n_groups(n: int, local: int, cap: int = 1024) -> int:
    return max(1, min(cap, -(-n // local)))
