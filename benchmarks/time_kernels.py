"""Time per call of every kernel × implementation × dtype × size, one class per kernel."""
from __future__ import annotations

from . import _cases, _grid


class _KernelTime:
    """Time per call of one kernel, measured with the harness's protocol.

    The warm-up call and the auto-ranging happen in setup; each asv sample is one
    synchronised block of calls, reported per call (see _cases.DeviceClock).
    """

    version = _grid.GRID_VERSION
    timer = _cases.CLOCK
    number = 1  # one block of harness-ranged calls per sample
    warmup_time = 0.0  # the harness's warm-up call already ran in setup
    setup_cache = staticmethod(_cases.probe_backends)

    def setup(self, backends, kernel, implementation, dtype, size):
        self.block = _cases.prepare_timed(backends, kernel, implementation, dtype, size)

    def time_kernel(self, backends, kernel, implementation, dtype, size):
        self.block()


for _name, _value in _grid.timing_attrs().items():
    setattr(_KernelTime, _name, _value)
globals().update(_grid.make_classes(__name__, _KernelTime, "Time"))
