"""Test-only backends whose calls run on a thread pool and return futures.

They model runtimes with no device-wide barrier (JAX, MLX, lazy tensors): the only way
to wait for work is to wait on its output. `futures_wait` does that in
`synchronize(outputs)`; `futures_nowait` never waits, which is the bug the timing
loop and `harness check-backend` must not let through. Registered by the tests through
`registry()` only (their declarations are collected in their own scope, so importing
this module adds nothing to the harness's registry); never installed.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from harness.dtypes import storage_dtype
from harness.plugin_api import Backend, Device, implementation, register_backend
from harness.declarations import collecting
from harness.registry import build_registry

#: host seconds each queued call takes on the pool, besides its arithmetic
WORK_S = 2e-3
#: queued calls before submit() blocks, as a real launch queue does: it keeps a timing
#: loop that never waits from queueing seconds of work, and is deeper than the
#: conformance workload (25 calls), so a non-waiting synchronize is still caught.
QUEUE_DEPTH = 64


class FuturesDevice(Device):
    """One worker thread, so queued calls finish in order: waiting on the last output
    of a block waits for the whole block."""

    name = "pool"
    waits = True

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.slots = threading.BoundedSemaphore(QUEUE_DEPTH)

    def submit(self, fn) -> Future:
        def work():
            try:
                time.sleep(WORK_S)
                return fn()
            finally:
                self.slots.release()
        self.slots.acquire()
        return self.pool.submit(work)

    def to_device(self, host: np.ndarray, dtype: str):
        return np.array(host, dtype=storage_dtype(dtype) if host.dtype.kind == "f" else host.dtype)

    def to_host(self, arr) -> np.ndarray:
        return np.asarray(arr.result() if isinstance(arr, Future) else arr)

    def dtype_unsupported(self, dtype: str):
        return None if dtype in ("float32", "float64") else "test backend: float32 and float64 only"

    def synchronize(self, outputs=None) -> None:
        """Waits on the outputs given, and on nothing else: there is no barrier."""
        if not self.waits:
            return
        for out in outputs if isinstance(outputs, (tuple, list)) else (outputs,):
            if isinstance(out, Future):
                out.result()


class NoWaitDevice(FuturesDevice):
    backend = "futures_nowait"
    waits = False


class WaitDevice(FuturesDevice):
    backend = "futures_wait"


with collecting("test:futures_backend") as DECLARATIONS:
    @register_backend
    class FuturesWaitBackend(Backend):
        name = "futures_wait"
        description = "test: thread-pool futures, synchronize(outputs) waits on them"

        def _load(self):
            return [WaitDevice()]


    @register_backend
    class FuturesNoWaitBackend(Backend):
        name = "futures_nowait"
        description = "test: thread-pool futures, synchronize never waits"

        def _load(self):
            return [NoWaitDevice()]


    @implementation("saxpy", "futures_wait")
    @implementation("saxpy", "futures_nowait")
    def saxpy(dev, a, x, y):
        return dev.submit(lambda: a * x + y)


def registry():
    """The built-in registry plus these two backends, for one test."""
    reg = build_registry(plugins=False)
    reg.add_declarations(DECLARATIONS, origin="test:futures_backend")
    return reg
