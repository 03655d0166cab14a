"""Time per call of every kernel × implementation × dtype × size, one class per kernel."""
from __future__ import annotations

from . import _cases, _grid


class _KernelTime:
    """Time per call of one kernel, measured with the harness's protocol.

    setup runs the harness's steady-state warm-up and calibration in every benchmark
    process (`_cases.prepare_timed`); the body is one block of the calibrated `loops`
    calls, timed by the device's own Timer (as `harness run` times it) and divided by
    `loops` (_cases.DeviceClock). So asv's `number`
    is truthfully 1 (one body, one block, per sample) and each sample is a per-call
    time, the harness's: `loops` is what it averages over, as in `harness run`.
    """

    version = _grid.benchmark_version("time")
    timer = _cases.CLOCK
    number = 1  # one body execution (one calibrated block) per sample
    warmup_time = 0.0  # the harness's steady-state warm-up already ran in setup
    setup_cache = staticmethod(_cases.probe_backends)

    def setup(self, backends, kernel, implementation, dtype, size):
        self.block, self.loops = _cases.failing("time", _cases.prepare_timed, backends, kernel, implementation,
                                                 dtype, size)

    def time_kernel(self, backends, kernel, implementation, dtype, size):
        self.block()


for _name, _value in _grid.timing_attrs().items():
    setattr(_KernelTime, _name, _value)
globals().update(_grid.make_classes(__name__, _KernelTime, "Time"))
