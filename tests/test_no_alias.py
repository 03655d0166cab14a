"""Issue 12, item 7: device arrays never share memory with the host inputs."""
from __future__ import annotations

import numpy as np

from harness.backends.numpy_backend import NumpyDevice
from harness.conformance import check_no_alias

from conftest import backend_or_skip


class AliasingDevice(NumpyDevice):
    """A broken backend: hands the host array itself to the kernel, writable."""

    def to_device(self, host, dtype):
        return host


def test_torch_cpu_to_device_copies(registry):
    dev = next(d for d in backend_or_skip(registry, "torch").devices() if d.name == "cpu")
    for dtype in ("float64", "float32"):
        host = np.ones(5, dtype=dtype)
        dev.to_device(host, dtype).fill_(7)
        assert np.all(host == 1), f"{dtype}: torch to_device aliases the host array"
        status, detail = check_no_alias(dev, dtype)
        assert status == "pass", detail


def test_aliasing_backend_fails_check():
    status, detail = check_no_alias(AliasingDevice(), "float64")
    assert status == "fail" and "must copy" in detail


def test_numpy_read_only_views_pass():
    status, detail = check_no_alias(NumpyDevice(), "float32")
    assert status == "pass" and "read-only" in detail


def test_check_backend_runs_the_alias_check(registry):
    from harness.conformance import check_backend

    results = check_backend(registry, "numpy", kernels=["vadd"], dtypes=["float32"])
    names = {r.check: r.status for r in results}
    assert names.get("no aliasing float32") == "pass"
