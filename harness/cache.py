"""Cache state between samples: `harness run --cache warm|cold`.

warm (default): back-to-back blocks of calls, inputs resident in cache as far as they
fit; what a kernel called in a loop sees.
cold: before every sample, the last-level cache is flushed by reading and writing a
buffer larger than it (as triton's do_bench does), outside the timed region, and each
sample is a single call (a block of calls would warm the cache again after its first
call). What a kernel called once on data last touched long ago sees.

The host flush evicts the CPU's caches. A GPU backend flushes its own L2 through
`Device.flush_cache()` (torch and CuPy on CUDA zero a buffer on the device).
"""
from __future__ import annotations

import functools
import glob
import os
from typing import Any, Callable

import numpy as np

CACHE_STATES = ("warm", "cold")
#: assumed last-level cache when the OS does not say
DEFAULT_LLC_BYTES = 32 << 20
#: the flush buffer is this many times the last-level cache, and at least MIN_FLUSH_BYTES
FLUSH_FACTOR = 2
MIN_FLUSH_BYTES = 16 << 20


def _parse_size(text: str) -> int:
    text = text.strip().upper()
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    return int(text.rstrip("KMG")) * mult


def llc_bytes() -> int:
    """Size of the largest cache the OS reports (per cache, not summed over sockets)."""
    sizes = []
    for path in glob.glob("/sys/devices/system/cpu/cpu0/cache/index*/size"):
        try:
            with open(path) as fh:
                sizes.append(_parse_size(fh.read()))
        except (OSError, ValueError):
            continue
    try:
        sizes.append(int(os.sysconf("SC_LEVEL3_CACHE_SIZE") or 0))
    except (ValueError, OSError, AttributeError):
        pass
    best = max(sizes, default=0)
    return best if best > 0 else DEFAULT_LLC_BYTES


@functools.lru_cache(maxsize=1)
def _host_buffer() -> np.ndarray:
    return np.zeros(max(FLUSH_FACTOR * llc_bytes(), MIN_FLUSH_BYTES) // 8, dtype=np.int64)


def flush_bytes() -> int:
    return int(_host_buffer().nbytes)


def flush_host_cache() -> None:
    """Read and write every line of a buffer larger than the LLC: ordinary loads and
    stores (not memset, whose non-temporal stores would bypass the cache)."""
    buf = _host_buffer()
    np.add(buf, 1, out=buf)


def cache_flusher(device: Any) -> Callable[[], None]:
    """The device's own flush where it has one, else the host flush."""
    own = getattr(device, "flush_cache", None)
    return own if callable(own) else flush_host_cache
