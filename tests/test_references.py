"""Issue 12, item 4: independent references, with their method and precision recorded."""
from __future__ import annotations

import numpy as np
import pytest

import harness.references as references
from harness.runner import Case, RunContext, execute_case
from harness.timing import TimingOptions

SHARED_BEFORE = {"mandelbrot": "escape_counts", "nbody": "leapfrog", "mlp_xor": "train"}


def _ctx(registry):
    return RunContext(registry, timing=TimingOptions(budget_s=0.001, min_samples=1, max_samples=2,
                                                     min_sample_s=1e-5))


def test_every_kernel_declares_method_and_precision(registry):
    for name, spec in registry.kernels.items():
        for dtype in spec.dtypes:
            info = spec.reference_info(dtype)
            assert info.method and isinstance(info.precision, int), name
            assert info.precision > references.FORMAT_BITS[dtype] or not info.independent, (name, dtype)


@pytest.mark.skipif(not references.longdouble_is_wide(), reason="long double is double here")
def test_float64_references_have_more_than_53_bits(registry):
    low = [n for n, s in registry.kernels.items() if "float64" in s.dtypes
           and s.reference_info("float64").precision <= 53]
    assert not low


def test_records_carry_reference_fields(registry):
    rec = execute_case(Case("sum", "array_api", "numpy", "cpu", "float64", 1000), _ctx(registry))
    assert rec["reference_method"].startswith("math.fsum")
    assert rec["reference_precision"] > 53 and rec["reference_independent"] is True


@pytest.mark.parametrize("kernel", sorted(SHARED_BEFORE))
def test_reference_shares_no_code_with_the_numpy_implementation(registry, kernel, monkeypatch):
    """The NumPy implementation's code path is broken; the reference must not notice."""
    import importlib

    mod = importlib.import_module(f"harness.kernels.{kernel}")

    def broken(*a, **k):
        raise AssertionError("the reference ran the NumPy implementation's code")

    monkeypatch.setattr(mod, SHARED_BEFORE[kernel], broken)
    if kernel == "mlp_xor":
        monkeypatch.setattr(mod, "forward_backward", broken)
    if kernel == "nbody":
        monkeypatch.setattr(mod, "accel", broken)
    spec = registry.kernels[kernel]
    for dtype in ("float32", "float64"):
        ref = spec.reference_for(spec.make_inputs(spec.preset_sizes("test")[1], dtype, 0))
        assert all(np.all(np.isfinite(np.asarray(r, dtype=np.float64))) for r in
                   (ref if isinstance(ref, tuple) else (ref,)))


def test_no_independent_reference_never_reads_zero(registry, monkeypatch):
    """Where long double is double, a float64 colorblind reference is the output's own arithmetic."""
    monkeypatch.setattr(references, "LONGDOUBLE_BITS", 53)
    rec = execute_case(Case("relu", "numpy", "numpy", "cpu", "float64", 7), _ctx(registry))
    assert rec["reference_independent"] is True  # exact select: independent anywhere
    rec = execute_case(Case("colorblind", "array_api", "numpy", "cpu", "float64", 1), _ctx(registry))
    assert rec["reference_independent"] is False and rec["reference_precision"] == 53
    assert rec["rel_error"] != 0.0
    assert "no independent reference" in rec["message"]


@pytest.mark.parametrize("kernel,size", [("saxpy", 1000), ("matmul", 33)])
def test_error_free_fallback_without_long_double(registry, monkeypatch, kernel, size):
    """saxpy and matmul keep a ~106-bit float64 reference where long double is double."""
    spec = registry.kernels[kernel]
    inputs = spec.make_inputs(size, "float64", 0)
    wide = spec.reference_for(inputs)
    monkeypatch.setattr(references, "LONGDOUBLE_BITS", 53)
    info = spec.reference_info("float64")
    assert info.independent and info.precision > 53 and "Two" in info.method
    fallback = spec.reference_for(inputs)
    scale = np.abs(inputs.exact[list(inputs.exact)[-1]]).max()
    assert np.max(np.abs(fallback - wide)) <= 4 * 2.0**-53 * max(float(np.max(np.abs(wide))), scale)
