import math

import numpy as np
import pytest

from harness.accuracy import BoundContext, ErrorModel, gamma, measure, normwise_relative, output_sha256
from harness.dtypes import round_bfloat16, round_to, ulp_distance, unit_roundoff


@pytest.mark.parametrize("dtype,np_t", [("float16", np.float16), ("float32", np.float32), ("float64", np.float64)])
def test_ulp_distance_counts_representable_steps(dtype, np_t):
    a = np.array([1.0, -1.0, 0.0, 1000.0], dtype=np_t)
    b = a.copy()
    for _ in range(3):
        b = np.nextafter(b, np_t(np.inf))
    assert list(ulp_distance(a.astype(np.float64), b.astype(np.float64), dtype)) == [3, 3, 3, 3]


def test_ulp_across_zero_and_nan():
    tiny = np.nextafter(np.float32(0), np.float32(1))
    d = ulp_distance(np.array([-float(tiny), np.nan]), np.array([float(tiny), 1.0]), "float32")
    assert d[0] == 2 and math.isinf(d[1])


def test_bfloat16_rounding_and_ulp():
    assert round_bfloat16(np.array([1 + 2**-9]))[0] == 1.0  # tie rounds to even
    assert round_bfloat16(np.array([1 + 3 * 2**-9]))[0] == 1 + 2**-7
    assert ulp_distance(np.array([1.0]), np.array([1 + 2 * 2**-7]), "bfloat16")[0] == 2


def test_unit_roundoff_values():
    assert unit_roundoff("float32") == 2.0**-24
    assert unit_roundoff("float64") == np.finfo(np.float64).eps / 2
    assert unit_roundoff("bfloat16") == 2.0**-8


def test_gamma():
    assert gamma(10, 2**-24) == pytest.approx(10 * 2**-24, rel=1e-6)
    assert math.isinf(gamma(2**24, 2**-24))


def test_measure_known_errors():
    ref = np.array([1.0, 2.0, 2.0])  # norm 3
    out = np.array([1.0, 2.0, 2.0 + 3e-6], dtype=np.float64)
    model = ErrorModel(metric="normwise", bound=lambda c: 2e-6, source="test")
    ctx = BoundContext(3, "float64", 2**-53, {}, ref)
    m = measure(out, ref, "float64", "float64", model, ctx)
    assert m["rel_error"] == pytest.approx(1e-6)
    assert m["max_rel_error"] == pytest.approx(1.5e-6)
    assert m["error_ratio"] == pytest.approx(0.5)
    assert m["accuracy_ok"] is True
    out[0] = np.nan
    m = measure(out, ref, "float64", "float64", model, ctx)
    assert m["nonfinite"] == 1 and not m["accuracy_ok"]


def test_mismatch_metric_for_integers():
    ref = np.arange(10, dtype=np.int32)
    out = ref.copy()
    out[3] += 1
    model = ErrorModel(metric="mismatch", bound=lambda c: 0.05, source="test")
    m = measure(out, ref, "float32", "int32", model, BoundContext(10, "float32", 2**-24, {}, ref))
    assert m["rel_error"] == pytest.approx(0.1) and m["max_ulp"] is None and not m["accuracy_ok"]


def test_metric_is_a_typed_switch_and_its_prose_a_field_of_its_own():
    """The metric is one of METRICS (code switches on it); a sentence is refused there and
    belongs in metric_description, which every built-in kernel's record carries."""
    from harness.accuracy import METRICS
    from harness.registry import get_registry

    with pytest.raises(ValueError, match="metric_description"):
        ErrorModel(metric="normwise relative error of the weights", bound=lambda c: 0.0, source="test")
    model = ErrorModel(metric="max_relative", bound=lambda c: 0.0, source="test", metric_description="in words")
    assert model.describe()["metric"] == "max_relative" and model.describe()["metric_description"] == "in words"
    assert ErrorModel(metric="normwise", bound=lambda c: 0.0, source="t").describe()["metric_description"] \
        == METRICS["normwise"]
    for name, spec in get_registry().kernels.items():
        assert spec.error_model.metric in METRICS, name
        assert spec.error_model.describe()["metric_description"], name


def test_hash_depends_on_bytes_dtype_and_shape():
    a = np.arange(4, dtype=np.float32)
    assert output_sha256(a) == output_sha256(a.copy())
    assert output_sha256(a) != output_sha256(a.astype(np.float64))
    assert output_sha256(a) != output_sha256(a.reshape(2, 2))


def test_normwise_relative_zero_reference():
    assert normwise_relative(np.zeros(3), np.zeros(3)) == 0.0


def test_round_to_float32_is_exact_cast():
    x = np.array([0.1, 1 / 3])
    assert np.array_equal(round_to(x, "float32"), x.astype(np.float32))
