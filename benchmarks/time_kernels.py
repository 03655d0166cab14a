"""Time per call of every kernel × implementation × dtype × size, one class per kernel."""
from __future__ import annotations

from . import _cases, _grid


class _KernelTime:
    """Time per call of one kernel, measured with the harness's protocol.

    setup runs the harness's steady-state warm-up and calibration in every benchmark
    process (`_cases.prepare_timed`) and sets `number`, asv's calls per sample, to the
    `loops` the harness calibrated: asv's metadata is the real call count, and its
    samples are total time / number, per call. The body is one kernel call; its output
    is handed to the device at the next clock reading (_cases.DeviceClock).
    """

    version = _grid.GRID_VERSION
    timer = _cases.CLOCK
    number = 1  # replaced per case in setup by the harness's calibrated loops
    warmup_time = 0.0  # the harness's steady-state warm-up already ran in setup
    setup_cache = staticmethod(_cases.probe_backends)

    def setup(self, backends, kernel, implementation, dtype, size):
        self.call, self.number = _cases.prepare_timed(backends, kernel, implementation, dtype, size)

    def time_kernel(self, backends, kernel, implementation, dtype, size):
        _cases.CLOCK.last = self.call()


for _name, _value in _grid.timing_attrs().items():
    setattr(_KernelTime, _name, _value)
globals().update(_grid.make_classes(__name__, _KernelTime, "Time"))
