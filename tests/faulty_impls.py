"""Deliberately faulty implementations of saxpy on numpy, for the reliability tests.

Loaded only through HARNESS_EXTRA_MODULES=faulty_impls (with tests/ on PYTHONPATH), in
subprocesses: never import this module into the test process's registry, or every
other sweep would run them too.
"""
from __future__ import annotations

import ctypes
import os

import numpy as np

from harness.declarations import implementation



@implementation("saxpy", "numpy", "segfault")
def saxpy_segfault(dev, a, x, y):
    ctypes.string_at(0)  # reads address 0: SIGSEGV
    return a * x + y


@implementation("saxpy", "numpy", "abort")
def saxpy_abort(dev, a, x, y):
    ctypes.CDLL(None).abort()  # the C library's abort(): SIGABRT
    return a * x + y


@implementation("saxpy", "numpy", "hang")
def saxpy_hang(dev, a, x, y):
    while True:
        pass


@implementation("saxpy", "numpy", "raises")
def saxpy_raises(dev, a, x, y):
    raise RuntimeError("deliberate failure in saxpy_raises")


@implementation("saxpy", "numpy", "oom")
def saxpy_oom(dev, a, x, y):
    raise MemoryError("deliberate MemoryError in saxpy_oom")


@implementation("saxpy", "numpy", "exits")
def saxpy_exits(dev, a, x, y):
    raise SystemExit(3)


@implementation("saxpy", "numpy", "nan")
def saxpy_nan(dev, a, x, y):
    out = a * x + y
    out[::2] = np.nan
    return out


@implementation("saxpy", "numpy", "wrong_shape")
def saxpy_wrong_shape(dev, a, x, y):
    return (a * x + y)[:-1]


@implementation("saxpy", "numpy", "wrong_dtype")
def saxpy_wrong_dtype(dev, a, x, y):
    return (a * x + y).astype(np.float16)


@implementation("saxpy", "numpy", "slow")
def saxpy_slow(dev, a, x, y):
    """Healthy but slow: the whole case takes longer than the tests' --timeout 2, and must
    still finish, because the deadline grows once the first call has been timed."""
    import time

    time.sleep(0.4)
    return a * x + y


@implementation("saxpy", "numpy", "last_wrong")
def saxpy_last_wrong(dev, a, x, y):
    """Runs fine but drops a*x in the last element: status ok, out of bound (issue 12 gates)."""
    out = a * x + y
    out[-1] = y[-1]
    return out
