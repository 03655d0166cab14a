"""Output-aware synchronisation: the timing loop hands each block's last output to the
device, so runtimes that can only wait on arrays are timed correctly."""
import numpy as np
import pytest

import futures_backend as fb
from harness.backends.base import PerfCounterTimer, Timer, stop_timer, synchronize_device
from harness.timing import TimingOptions, run_block, time_call

FAST = TimingOptions(budget_s=0.02, min_samples=3, max_samples=5, warmup_min_s=0.005, warmup_max_s=0.05)


def test_output_only_device_is_timed_with_its_work():
    dev = fb.WaitDevice()
    x = np.ones(1000)
    t = time_call(lambda: dev.submit(lambda: x + 1), dev, FAST)
    # each call sleeps WORK_S on the pool; without the last output the timer would read ~µs
    assert t.median_s >= 0.9 * fb.WORK_S, t.samples_s


def test_block_hands_its_last_output_to_the_timer():
    seen = []

    class Recording(Timer):
        name = "rec"

        def start(self):
            pass

        def stop(self, last_output=None):
            seen.append(last_output)
            return 1.0

    outputs = iter(range(10))
    run_block(lambda: next(outputs), 4, Recording())
    assert seen == [3]


def test_plugins_with_old_signatures_keep_working():
    calls = []

    class OldDevice:
        def synchronize(self):
            calls.append("sync")

    class OldTimer(Timer):
        name = "old"

        def start(self):
            pass

        def stop(self):
            calls.append("stop")
            return 0.5

    synchronize_device(OldDevice(), outputs=[1])
    assert stop_timer(OldTimer(), "out") == 0.5
    got = []
    PerfCounterTimer(lambda outputs=None: got.append(outputs)).stop("last")
    assert calls == ["sync", "stop"] and got == ["last"]


def test_array_api_path_passes_its_output_to_synchronize():
    from harness.backends.numpy_backend import NumpyDevice
    from harness.declarations import array_api_implementation, collecting

    class Recording(NumpyDevice):
        seen: list = []

        def synchronize(self, outputs=None):
            self.seen.append(outputs)

    with collecting("test:array_api") as sc:
        @array_api_implementation("saxpy", ["numpy"])
        def saxpy(xp, a, x, y):
            return a * x + y
    impl = sc.impls[0]
    dev = Recording()
    x = np.ones(8)
    time_call(lambda: impl.fn(dev, a=2.0, x=x, y=x), dev, FAST)
    arrays = [o for o in dev.seen if isinstance(o, np.ndarray)]
    assert arrays and np.array_equal(arrays[-1], 3 * x)


def _check(name):
    from harness.conformance import check_backend

    results = check_backend(fb.registry(), name, kernels=["saxpy"], dtypes=["float32"])
    return {r.check: r for r in results}


def test_check_backend_fails_a_synchronize_that_does_not_wait():
    res = _check("futures_nowait")
    assert res["synchronize"].status == "fail", res["synchronize"]
    assert res["timer on device work"].status == "fail", res["timer on device work"]
    # the kernels themselves are right: only the waiting is wrong
    assert res["kernel saxpy [futures_nowait] float32"].status == "pass"


def test_check_backend_passes_a_device_that_waits_on_outputs():
    res = _check("futures_wait")
    failed = {k: r.detail for k, r in res.items() if r.status == "fail"}
    assert not failed


def test_timer_check_reads_the_wall_clock_after_synchronising():
    """A timer that does not wait, on a device whose synchronize does: the wall clock
    must include the work, or the ratio looks perfect."""
    from harness.backends.base import Timer
    from harness.conformance import Workload, check_timer_workload

    class LazyTimer(Timer):
        name = "lazy"

        def start(self):
            import time
            self.t0 = time.perf_counter()

        def stop(self, last_output=None):
            import time
            return time.perf_counter() - self.t0

    dev = fb.WaitDevice()
    dev.timer = LazyTimer
    x = np.ones(100)
    status, detail = check_timer_workload(dev, Workload("pool", lambda: dev.submit(lambda: x + 1), 20))
    assert status == "fail", detail
