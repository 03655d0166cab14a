"""Numerical divergence of every case from its reference, tracked across commits.

A commit that changes how a backend rounds shows as a step in these graphs. The
values are the harness's own accuracy fields (runner.execute_case), computed once
per case and commit by the first of its three tracks that runs (_cases.accuracy_case)
and read back by the other two; a case asv did not select (`asv run -b`) is never
computed. setup_cache is the one backend probe the time and memory benchmarks share.
"""
from __future__ import annotations

import math

from . import _cases, _grid

try:
    from asv_runner.benchmarks.mark import SkipNotImplemented
except ImportError:  # older asv_runner: a NaN result also reads as skipped
    SkipNotImplemented = None


class _KernelAccuracy:
    """Divergence of one kernel's output from its reference, per commit."""

    version = _grid.benchmark_version()
    timeout = 300
    setup_cache = staticmethod(_cases.probe_backends)

    def setup(self, backends, kernel, implementation, dtype, size):
        entry = _cases.accuracy_case(backends, kernel, implementation, dtype, size)
        if entry["status"] == "skipped":
            raise NotImplementedError(entry["message"])
        self.entry = entry

    def _metric(self, name):
        if self.entry["status"] != "ok":
            raise RuntimeError(f"case failed ({self.entry['status']}): {self.entry['message']}")
        value = self.entry.get(name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            if SkipNotImplemented is not None:
                raise SkipNotImplemented(f"{name} is not defined for this kernel's output")
            return math.nan
        return float(value)

    def track_rel_error(self, backends, kernel, implementation, dtype, size):
        """Normwise relative error (or mismatch rate) against the reference."""
        return self._metric("rel_error")

    track_rel_error.unit = "relative error"

    def track_error_ratio(self, backends, kernel, implementation, dtype, size):
        """rel_error / the tightest bound that can fail (the record's bound_kind says which kind:
        rigorous, first order, probabilistic or estimate); above 1 means outside the bound."""
        return self._metric("error_ratio")

    track_error_ratio.unit = "error/bound (kind: see bound_kind)"

    def track_max_ulp(self, backends, kernel, implementation, dtype, size):
        """Largest ULP distance to the reference in the output dtype: per element for maps
        (ulp_kind "elementwise"), else max|out-ref| in ulps of max|ref| ("scaled_by_max_ref")."""
        return self._metric("max_ulp")

    track_max_ulp.unit = "ulp (elementwise, or of max|ref|)"


ACCURACY_CLASSES = _grid.make_classes(__name__, _KernelAccuracy, "Accuracy")
globals().update(ACCURACY_CLASSES)
