"""Issue 12, item 5: accumulation dtypes are measured by a probe, never claimed."""
from __future__ import annotations

import numpy as np
import pytest

from harness.accumulation import PROBES, measure_accumulation
from harness.backends.numpy_backend import NumpyDevice
from harness.runner import Case, RunContext, execute_case
from harness.timing import TimingOptions

from conftest import backend_or_skip


def _ctx(registry):
    return RunContext(registry, timing=TimingOptions(budget_s=0.001, min_samples=1, max_samples=2,
                                                     min_sample_s=1e-5))


def test_torch_sum_float32_cpu_is_recorded_as_float(registry):
    """The finding: torch.sum float32 on CPU accumulates in float; the record said float64."""
    backend_or_skip(registry, "torch")
    rec = execute_case(Case("sum", "array_api", "torch", "cpu", "float32", 1000), _ctx(registry))
    assert rec["status"] == "ok"
    assert rec["accumulation_measured"] is True
    assert rec["accumulation_dtype"] == "float32"
    assert rec["accumulation_probe"]["ones_recovered"] < rec["accumulation_probe"]["ones"]


def test_torch_cumsum_float32_cpu_measured_double(registry):
    backend_or_skip(registry, "torch")
    rec = execute_case(Case("cumsum", "array_api", "torch", "cpu", "float32", 7), _ctx(registry))
    assert rec["accumulation_dtype"] == "float64" and rec["accumulation_measured"]


def test_unprobed_kernel_records_no_claim(registry):
    rec = execute_case(Case("vadd", "array_api", "numpy", "cpu", "float32", 7), _ctx(registry))
    assert rec["accumulation_dtype"] is None and rec["accumulation_measured"] is False


def _sequential(dtype_of):
    def fn(dev, **kw):
        """Adds left to right in the dtype of the inputs (or a wider one)."""
        x = kw["x"]
        if "y" in kw:
            x = x * kw["y"]
        acc = np.zeros((), dtype_of(x))
        for v in np.ravel(x):
            acc = acc + dtype_of(x)(v)
        return acc.astype(x.dtype)
    return fn


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("kernel", ["sum", "dot"])
def test_probe_tells_narrow_from_wide(kernel, dtype):
    dev = NumpyDevice()
    narrow = measure_accumulation(kernel, _sequential(lambda x: x.dtype.type), dev, dtype)
    assert narrow["accumulation_dtype"] == dtype and narrow["accumulation_measured"]
    wide = measure_accumulation(kernel, _sequential(lambda x: np.longdouble), dev, dtype)
    if dtype != "float64" or np.finfo(np.longdouble).nmant > 52:
        assert wide["accumulation_dtype"] != dtype


def test_probes_for_every_formerly_claimed_kernel():
    assert {"sum", "cumsum", "dot", "l2norm", "softmax"} <= set(PROBES)


def test_a_failing_probe_is_unknown_not_guessed():
    def broken(dev, x):
        raise RuntimeError("no")

    res = measure_accumulation("sum", broken, NumpyDevice(), "float32")
    assert res["accumulation_dtype"] is None and res["accumulation_measured"] is False


def test_an_order_that_adds_the_ones_first_is_still_narrow():
    """The 2^t + ones probe alone is fooled by a tree that sums the ones before meeting
    2^t (seen with OpenCL's tree reduction); the random correctly-rounded trials are not."""
    def ones_first(dev, x):
        tail = np.asarray(x[1:])
        while tail.size > 1:  # a pairwise tree in the data dtype
            if tail.size % 2:
                tail = np.concatenate([tail, np.zeros(1, tail.dtype)])
            tail = tail[0::2] + tail[1::2]
        return (tail.sum(dtype=x.dtype) + x[0]).astype(x.dtype)

    res = measure_accumulation("sum", ones_first, NumpyDevice(), "float32")
    assert res["accumulation_probe"]["ones_recovered"] == res["accumulation_probe"]["ones"]
    assert res["accumulation_dtype"] == "float32"
