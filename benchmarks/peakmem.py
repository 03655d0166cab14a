"""Peak resident memory of host-memory implementations at the largest size of the preset.

Only backends whose arrays live in host memory are measured (_grid.PEAKMEM_BACKENDS):
the peak RSS of a process says nothing about device memory, and a GPU library's own
footprint would hide the kernel's. The value is the process's peak (imports, inputs
and one call), so read it across commits: a step means an implementation's footprint
changed.
"""
from __future__ import annotations

from . import _cases, _grid


class _KernelPeakMemory:
    """Peak resident memory of a process running one kernel once on host arrays."""

    version = _grid.benchmark_version()
    timeout = 300
    setup_cache = staticmethod(_cases.probe_backends)

    def setup(self, backends, kernel, implementation, dtype, size):
        self.call = _cases.failing("peakmem", _cases.prepare_call, backends, kernel, implementation, dtype,
                                   size)[1]

    def peakmem_kernel(self, backends, kernel, implementation, dtype, size):
        self.call()


globals().update(_grid.make_classes(__name__, _KernelPeakMemory, "PeakMemory", select=_grid.host_memory_only))
