import time

import numpy as np

from harness.backends.numpy_backend import NumpyDevice
from harness.timing import TimingOptions, time_call


def test_timer_measures_known_duration():
    dev = NumpyDevice()

    def sleepy():
        time.sleep(0.004)
        return 1

    t = time_call(sleepy, dev, TimingOptions(budget_s=0.1, min_samples=5))
    assert t.loops == 1 and len(t.samples_s) >= 5
    # sleep never returns early; allow generous slack for a loaded machine
    assert 0.004 <= t.median_s < 0.02
    assert t.compile_s >= 0.004


def test_autorange_groups_fast_calls():
    dev = NumpyDevice()
    x = np.ones(10)
    t = time_call(lambda: x + 1, dev, TimingOptions(budget_s=0.05, min_sample_s=1e-3))
    assert t.loops > 1
    assert all(s * t.loops >= 0.5e-3 for s in t.samples_s[:1])
    assert 5 <= len(t.samples_s) <= 100


def test_opencl_event_timer_agrees_with_wall_clock(registry):
    from conftest import backend_or_skip

    dev = backend_or_skip(registry, "opencl").devices()[0]
    import pyopencl.array as cla

    x = cla.to_device(dev.queue, np.ones(2_000_000, np.float32))
    timer = dev.timer()
    timer.start()
    for _ in range(3):
        y = x * 2
    device_s = timer.stop()
    t0 = time.perf_counter()
    for _ in range(3):
        y = x * 2
    dev.synchronize()
    wall = time.perf_counter() - t0
    assert device_s > 0
    assert 0.2 < device_s / wall < 5, (device_s, wall)
    del y


class SlowStart:
    """A callable whose first calls in a process are slow, like torch's: auto-ranging on
    them picks far too few loops and the samples include the slow calls."""

    def __init__(self, slow_calls: int = 10, slow_s: float = 2e-3, fast_s: float = 2e-5):
        self.n, self.slow_calls, self.slow_s, self.fast_s = 0, slow_calls, slow_s, fast_s

    def __call__(self):
        self.n += 1
        end = time.perf_counter() + (self.slow_s if self.n <= self.slow_calls else self.fast_s)
        while time.perf_counter() < end:
            pass
        return self.n


def test_warmup_reaches_steady_state_before_calibration():
    fn = SlowStart()
    t = time_call(fn, NumpyDevice(), TimingOptions(budget_s=0.05, min_samples=5, warmup_min_s=0.04))
    # every slow call was absorbed by the warm-up, none by calibration or samples
    assert t.warmup_calls >= fn.slow_calls - 1 and t.warmup_steady
    assert t.warmup_s >= 0.04
    assert max(t.samples_s) < fn.slow_s / 4, t.samples_s
    assert t.loops > 10  # calibrated on fast calls, not on the slow first ones


def test_calibration_block_is_not_a_sample():
    calls = []
    fn = lambda: calls.append(1)  # noqa: E731
    t = time_call(fn, NumpyDevice(), TimingOptions(budget_s=0.01, min_samples=3, max_samples=3,
                                                   warmup_min_s=0.001))
    assert len(t.samples_s) == 3
    # first call + warm-up + at least one calibration block + exactly 3 sample blocks
    assert len(calls) >= 1 + t.warmup_calls + t.loops + 3 * t.loops


def test_warmup_hard_cap_for_slow_cases():
    def slow():
        time.sleep(0.03)

    t = time_call(slow, NumpyDevice(), TimingOptions(budget_s=0.01, min_samples=2, max_samples=2,
                                                     warmup_min_s=0.01, warmup_max_s=0.02))
    assert t.warmup_calls == 0 and not t.warmup_steady and t.loops == 1


def test_noisy_case_stops_at_the_cap():
    import itertools

    durations = itertools.cycle([1e-3, 3e-3])  # never two blocks within 10%

    def noisy():
        time.sleep(next(durations))

    t = time_call(noisy, NumpyDevice(), TimingOptions(budget_s=0.01, min_samples=2, max_samples=2,
                                                      min_sample_s=1e-4, warmup_min_s=0.01,
                                                      warmup_max_s=0.05))
    assert not t.warmup_steady and 0.05 <= t.warmup_s < 0.2


def test_cold_cache_flushes_before_every_sample_outside_the_timer():
    from harness.backends.base import PerfCounterTimer

    events = []

    class Dev(NumpyDevice):
        def flush_cache(self):
            events.append("flush")

        def timer(self):
            dev = self

            class T(PerfCounterTimer):
                def start(self):
                    events.append("start")
                    super().start()

                def stop(self, last_output=None):
                    events.append("stop")
                    return super().stop(last_output)
            return T(dev.synchronize)

    opts = TimingOptions(budget_s=0.01, min_samples=4, max_samples=4, warmup_min_s=0.001, cache="cold")
    t = time_call(lambda: np.ones(10).sum(), Dev(), opts)
    assert t.cache_state == "cold" and t.loops == 1 and len(t.samples_s) == 4
    tail = events[-12:]  # the four samples
    assert tail == ["flush", "start", "stop"] * 4, tail
    assert "flush" not in events[:-12]  # warm-up is not flushed
    warm = time_call(lambda: 1, Dev(), TimingOptions(budget_s=0.01, warmup_min_s=0.001))
    assert warm.cache_state == "warm"


def test_host_flush_buffer_is_larger_than_the_llc():
    from harness import cache

    assert cache.flush_bytes() >= 2 * cache.llc_bytes() > 0
    before = cache._host_buffer()[:4].copy()
    cache.flush_host_cache()
    assert (cache._host_buffer()[:4] == before + 1).all()  # it really touched the buffer


def test_minor_faults_per_call_count_fresh_pages():
    """A call that writes its output into a fresh anonymous mapping faults once per page;
    one that writes into the same buffer every time does not: the record tells them apart."""
    import mmap
    import sys

    if sys.platform == "win32":
        return  # no getrusage: the field is None there, checked by the record schema
    dev, pages, page = NumpyDevice(), 512, mmap.PAGESIZE
    reused = np.zeros(pages * page // 8)

    def fresh_pages():
        m = mmap.mmap(-1, pages * page)
        for off in range(0, pages * page, page):
            m[off] = 1
        return m

    def same_buffer():
        reused[:: page // 8] += 1.0
        return reused

    opts = TimingOptions(budget_s=0.05, min_samples=3)
    fresh = time_call(fresh_pages, dev, opts).minor_faults_per_call
    same = time_call(same_buffer, dev, opts).minor_faults_per_call
    assert fresh >= 0.9 * pages, fresh
    assert same < 0.05 * pages, same
    assert time_call(same_buffer, dev, opts).record_fields()["minor_faults_per_call"] < 0.05 * pages
