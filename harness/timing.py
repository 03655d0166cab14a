"""The timing protocol, identical for every backend.

1. The first call absorbs compilation and lazy initialisation; its synchronised wall
   time is kept as `compile_s`.
2. Steady-state warm-up: blocks of calls run for at least `warmup_min_s` (or
   `warmup_fraction` of the budget, whichever is larger) and until two consecutive
   blocks agree within `warmup_tolerance` per call. Runtimes whose first calls in a
   process are slow (torch, allocator pools, JITs that specialise late) would otherwise
   be auto-ranged on unrepresentative calls. A hard cap (`warmup_max_s`, default the
   larger of 3x the minimum and half the budget) bounds it for slow or noisy cases;
   a case whose first call already exceeds the cap gets no further warm-up.
   `warmup_s`, `warmup_calls` and `warmup_steady` are recorded.
3. Calibration: `loops` is chosen from the steady per-call time so that one block lasts
   at least 1000x the timer's own overhead (torch.utils.benchmark's blocked_autorange
   rule) and at least `min_sample_s`; a calibration block checks it. Calibration blocks
   are never samples.
4. With `cache="cold"` (harness/cache.py) the last-level cache is flushed before
   every sample, outside the timed region, and every sample is one call.
5. Samples are taken with the device timer (events where the device has them,
   otherwise a synchronised perf_counter) until the budget is spent, with at least
   `min_samples` and at most `max_samples`. Per-call times are sample / loops.
   The host process's minor page faults over the samples are counted per call
   (`minor_faults_per_call`): a call that writes its output into freshly mapped pages
   pays a fault per 4 KiB page, and whether the allocator hands back the pages of the
   previous output or new ones can change a case's time severalfold (a 32 MB JAX output
   read 4 ms or 12 ms per call, at about 0 or 6000 faults per call), so a bimodal case
   shows why in its record.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .backends.base import Device, Timer, stop_timer, synchronize_device
from .cache import CACHE_STATES, cache_flusher


@dataclass
class TimingOptions:
    budget_s: float = 1.0
    min_samples: int = 5
    max_samples: int = 100
    min_sample_s: float = 1e-3
    overhead_factor: float = 1000.0
    #: steady-state warm-up (module docstring, step 2)
    warmup_min_s: float = 0.05
    warmup_fraction: float = 0.1
    warmup_tolerance: float = 0.1
    warmup_max_s: float | None = None
    #: "warm" or "cold" (harness/cache.py)
    cache: str = "warm"

    def warmup_bounds(self) -> tuple[float, float]:
        """(minimum, hard cap) of the warm-up in seconds."""
        lo = max(self.warmup_min_s, self.warmup_fraction * self.budget_s)
        cap = self.warmup_max_s if self.warmup_max_s is not None else max(3 * lo, 0.5 * self.budget_s)
        return min(lo, cap), cap


@dataclass
class Timing:
    samples_s: list[float]
    loops: int
    compile_s: float
    timer: str
    timer_overhead_s: float
    warmup_s: float = 0.0
    warmup_calls: int = 0
    warmup_steady: bool = False
    cache_state: str = "warm"
    minor_faults_per_call: float | None = None
    first_output: Any = field(repr=False, default=None)

    @property
    def median_s(self) -> float:
        return float(np.median(self.samples_s))

    @property
    def iqr_s(self) -> float:
        q1, q3 = np.percentile(self.samples_s, [25, 75])
        return float(q3 - q1)

    @property
    def min_s(self) -> float:
        return float(np.min(self.samples_s))

    def record_fields(self) -> dict[str, Any]:
        """The record's timing fields (harness/record.py), in the record's order."""
        return dict(time_median_s=self.median_s, time_iqr_s=self.iqr_s, time_min_s=self.min_s,
                    time_samples_s=self.samples_s, n_samples=len(self.samples_s), loops=self.loops,
                    compile_s=self.compile_s, warmup_s=self.warmup_s, warmup_calls=self.warmup_calls,
                    warmup_steady=self.warmup_steady, timer=self.timer, timer_overhead_s=self.timer_overhead_s,
                    minor_faults_per_call=self.minor_faults_per_call)


def minor_faults() -> int | None:
    """Minor page faults of this process so far (all its threads), or None where the
    platform has no getrusage (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def timer_overhead(timer: Timer, repeats: int = 7) -> float:
    """Median time of an empty start/stop pair: the floor below which samples are noise."""
    vals = []
    for _ in range(repeats):
        timer.start()
        vals.append(stop_timer(timer))
    return float(np.median(vals))


@dataclass
class Warmup:
    seconds: float
    calls: int
    steady: bool
    per_call_s: float
    loops: int


def call_block(fn: Callable[[], Any], loops: int) -> Any:
    """`loops` calls, each output dropped when the next replaces it; returns the last."""
    last = None
    for _ in range(loops):
        last = fn()
    return last


def run_block(fn: Callable[[], Any], loops: int, timer: Timer) -> float:
    """One timed block of `loops` calls: the shape of every measurement here.

    Each output is dropped when the next call replaces it, as in real use; the last
    one is handed to the timer, so that a runtime which can only wait on arrays (JAX's
    block_until_ready) waits for the block's work before the clock is read."""
    timer.start()
    last = call_block(fn, loops)
    dt = stop_timer(timer, last)
    del last
    return dt


def _loops_for(floor: float, per_call_s: float) -> int:
    """Calls per block so that a block lasts `floor` seconds, with a 20% margin."""
    return int(min(1 << 30, max(1, math.ceil(1.2 * floor / max(per_call_s, 1e-9)))))


def warm_up(fn: Callable[[], Any], timer: Timer, floor: float, opts: TimingOptions,
            first_s: float) -> Warmup:
    """Run blocks until the per-call time is steady (two consecutive blocks within the
    tolerance) and the minimum warm-up time has passed, or until the hard cap."""
    lo, cap = opts.warmup_bounds()
    if first_s >= cap:  # slow case: the first call was all the warm-up we can afford
        return Warmup(0.0, 0, False, first_s, 1)
    t0 = time.perf_counter()
    loops, calls, prev, steady = 1, 0, None, False
    while True:
        dt = run_block(fn, loops, timer)
        calls += loops
        per = dt / loops
        elapsed = time.perf_counter() - t0
        comparable = dt >= 0.5 * floor  # shorter blocks are too noisy to compare
        if comparable and prev is not None and abs(per - prev) <= opts.warmup_tolerance * min(per, prev):
            if elapsed >= lo:
                steady = True
                break
        prev = per if comparable else None
        if elapsed >= cap:
            break
        loops = _loops_for(floor, per)
    return Warmup(time.perf_counter() - t0, calls, steady, per, loops)


def calibrate(fn: Callable[[], Any], timer: Timer, floor: float, per_call_s: float) -> tuple[int, float]:
    """(loops, seconds spent): blocks that reach the floor, checked by running them.
    Never samples: the caller discards every block timed here."""
    loops, spent = _loops_for(floor, per_call_s), 0.0
    if per_call_s >= floor:  # one measured call already fills a block
        return 1, 0.0
    for _ in range(8):
        dt = run_block(fn, loops, timer)
        spent += dt
        if dt >= floor or loops >= 1 << 30:
            break
        loops = max(loops * 2, _loops_for(floor, dt / loops))
    return loops, spent


def sample(fn: Callable[[], Any], timer: Timer, loops: int, opts: TimingOptions, spent: float,
           flush: Callable[[], None] | None = None) -> list[float]:
    """Per-call samples until the budget (less `spent` on calibration) is used;
    `flush` runs before each sample, outside its timed region (cold cache)."""
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < opts.max_samples:
        if len(samples) >= opts.min_samples and time.perf_counter() - start + spent >= opts.budget_s:
            break
        if flush is not None:
            flush()
        samples.append(run_block(fn, loops, timer) / loops)
    return samples


def time_call(fn: Callable[[], Any], device: Device, opts: TimingOptions,
              after_warmup: Callable[[float], None] | None = None) -> Timing:
    """Time fn() on `device` following the protocol in the module docstring.

    `after_warmup(compile_s)` is called once the first call has finished, outside
    every timed region (a worker uses it to extend a slow case's deadline)."""
    synchronize_device(device)
    t0 = time.perf_counter()
    first = fn()
    synchronize_device(device, first)
    compile_s = time.perf_counter() - t0
    if after_warmup is not None:
        after_warmup(compile_s)

    timer = device.timer()
    overhead = timer_overhead(timer)
    floor = max(opts.min_sample_s, opts.overhead_factor * overhead)
    # Never let auto-ranging alone eat more than a fraction of the budget.
    floor = min(floor, max(opts.budget_s / (2 * opts.min_samples), 1e-6))

    warm = warm_up(fn, timer, floor, opts, compile_s)
    if opts.cache == "cold":  # one call per sample: a second call would find the cache warm
        loops, spent, flush = 1, 0.0, cache_flusher(device)
    elif opts.cache == "warm":
        (loops, spent), flush = calibrate(fn, timer, floor, warm.per_call_s), None
    else:
        raise ValueError(f"cache must be one of {CACHE_STATES}, not {opts.cache!r}")
    faults_before = minor_faults()
    samples = sample(fn, timer, loops, opts, spent, flush)
    faults = None if faults_before is None else (minor_faults() - faults_before) / (len(samples) * loops)
    return Timing(samples_s=samples, loops=loops, compile_s=compile_s, timer=timer.name,
                  timer_overhead_s=overhead, warmup_s=warm.seconds, warmup_calls=warm.calls,
                  warmup_steady=warm.steady, cache_state=opts.cache, minor_faults_per_call=faults,
                  first_output=first)


def time_transfer(fn: Callable[[], Any], device: Device) -> tuple[Any, float]:
    """One synchronised transfer, timed with the device timer."""
    timer = device.timer()
    timer.start()
    result = fn()
    return result, stop_timer(timer, result)
