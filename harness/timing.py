"""The timing protocol, identical for every backend.

1. The first call is a warm-up that absorbs compilation and lazy initialisation;
   its synchronised wall time is kept as `compile_s`.
2. Auto-ranging: calls are grouped into samples of `loops` calls, with `loops` grown
   until one sample lasts at least 1000× the timer's own overhead (the rule of
   torch.utils.benchmark's blocked_autorange), and at least `min_sample_s`.
3. Samples are taken with the device timer (events where the device has them,
   otherwise a synchronised perf_counter) until the budget is spent, with at least
   `min_samples` and at most `max_samples`. Per-call times are sample / loops.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .backends.base import Device, Timer


@dataclass
class TimingOptions:
    budget_s: float = 1.0
    min_samples: int = 5
    max_samples: int = 100
    min_sample_s: float = 1e-3
    overhead_factor: float = 1000.0


@dataclass
class Timing:
    samples_s: list[float]
    loops: int
    compile_s: float
    timer: str
    timer_overhead_s: float
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


def timer_overhead(timer: Timer, repeats: int = 7) -> float:
    """Median time of an empty start/stop pair: the floor below which samples are noise."""
    vals = []
    for _ in range(repeats):
        timer.start()
        vals.append(timer.stop())
    return float(np.median(vals))


def time_call(fn: Callable[[], Any], device: Device, opts: TimingOptions,
              after_warmup: Callable[[float], None] | None = None) -> Timing:
    """Time fn() on `device` following the protocol in the module docstring.

    `after_warmup(compile_s)` is called once the warm-up call has finished, outside
    every timed region (a worker uses it to extend a slow case's deadline)."""
    device.synchronize()
    t0 = time.perf_counter()
    first = fn()
    device.synchronize()
    compile_s = time.perf_counter() - t0
    if after_warmup is not None:
        after_warmup(compile_s)

    timer = device.timer()
    overhead = timer_overhead(timer)
    floor = max(opts.min_sample_s, opts.overhead_factor * overhead)
    # Never let auto-ranging alone eat more than a fraction of the budget.
    floor = min(floor, max(opts.budget_s / (2 * opts.min_samples), 1e-6))

    loops = 1
    spent = 0.0
    while True:
        timer.start()
        for _ in range(loops):
            fn()
        dt = timer.stop()
        spent += dt
        if dt >= floor or loops >= 1 << 30:
            break
        # Jump straight to the loop count that should reach the floor (with margin).
        loops = max(loops * 2, int(math.ceil(loops * 1.2 * floor / max(dt, 1e-9))))

    samples = [dt / loops]
    start = time.perf_counter()
    while len(samples) < opts.max_samples:
        if len(samples) >= opts.min_samples and time.perf_counter() - start + spent >= opts.budget_s:
            break
        timer.start()
        for _ in range(loops):
            fn()
        samples.append(timer.stop() / loops)
    return Timing(samples_s=samples, loops=loops, compile_s=compile_s, timer=timer.name,
                  timer_overhead_s=overhead, first_output=first)


def time_transfer(fn: Callable[[], Any], device: Device) -> tuple[Any, float]:
    """One synchronised transfer, timed with the device timer."""
    timer = device.timer()
    timer.start()
    result = fn()
    return result, timer.stop()
