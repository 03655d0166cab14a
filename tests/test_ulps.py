"""Issue 12, item 6: bf16/fp16 rounded from the float64 bits, and ULPs only where they mean something."""
import numpy as np
import pytest

from harness.accuracy import BoundContext, measure
from harness.dtypes import round_to, ulp_distance
from harness.registry import get_registry


def test_bfloat16_rounds_from_float64_bits_not_through_float32():
    x = 1 + 2**-8 + 2**-30  # float32 rounds it to the tie 1 + 2^-8, which then goes to 1.0
    assert float(round_to(np.array([x]), "bfloat16")[0]) == 1 + 2**-7
    assert float(round_to(x, "bfloat16")) == 1 + 2**-7
    assert ulp_distance(np.array([1 + 2**-7]), np.array([x]), "bfloat16")[0] == 0


@pytest.mark.parametrize("x,want", [(1 + 2**-8, 1.0), (1 + 3 * 2**-8, 1 + 2**-6), (3.5e38, np.inf),
                                    (-(1 + 2**-8 + 2**-40), -(1 + 2**-7)), (2.0**-130 + 2.0**-134, 2.0**-130),
                                    (3 * 2.0**-134, 2.0**-132)])
def test_bfloat16_ties_to_even_overflow_and_subnormals(x, want):
    assert float(round_to(np.array([x]), "bfloat16")[0]) == want


def test_float16_rounds_from_float64_bits():
    x = 1 + 2**-11 + 2**-40  # through float32 this stays above the tie anyway; check directly
    assert float(round_to(np.array([x]), "float16")[0]) == 1 + 2**-10
    assert float(round_to(np.array([1 + 2**-11]), "float16")[0]) == 1.0


def test_max_ulp_is_scaled_for_reductions_and_elementwise_for_maps():
    """A sign flip of a near-zero matmul entry read ~10^9 ULP; scaled by max|ref| it reads what it is."""
    reg = get_registry()
    spec = reg.kernels["matmul"]
    inp = spec.make_inputs(33, "float32", 1)
    ref = spec.reference_for(inp)
    out = np.asarray(round_to(ref, "float32"), np.float64)
    i = np.unravel_index(np.argmin(np.abs(ref)), ref.shape)
    out[i] = -out[i]
    ctx = BoundContext(size=33, dtype="float32", u=2.0**-24, inputs=inp.exact, reference=ref)
    res = measure(out, ref, "float32", "float32", spec.error_model, ctx)
    per_element = float(np.max(ulp_distance(out, ref, "float32")))
    assert per_element > 1e8  # the old headline: every float32 value between -x and x
    assert res["ulp_kind"] == "scaled_by_max_ref" and res["max_ulp"] < 1e4
    vadd = reg.kernels["vadd"]
    vin = vadd.make_inputs(100, "float32", 1)
    vref = vadd.reference_for(vin)
    vctx = BoundContext(size=100, dtype="float32", u=2.0**-24, inputs=vin.exact, reference=vref)
    vres = measure(vref, vref, "float32", "float32", vadd.error_model, vctx)
    assert vres["ulp_kind"] == "elementwise" and vres["max_ulp"] == 0
