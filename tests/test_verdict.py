"""Issue 12, items 1-3: a check must be able to fail. Each wrong output below passed
before (γ_n infinite or a relative bound >= 1, the last cumsum element only, the last
checkpoint only, non-finite values by count) and is now rejected."""
import math

import numpy as np
import pytest

from harness.accuracy import BoundContext, ErrorModel, gamma_tilde, measure, tilde_confidence
from harness.registry import get_registry

REG = get_registry()


def judge(kernel, size, dtype, wrong, seed=1):
    """measure() of wrong(inputs, reference) against the kernel's real spec and bound."""
    spec = REG.kernels[kernel]
    inp = spec.make_inputs(size, dtype, seed)
    ref = spec.reference_for(inp)
    ctx = BoundContext(size=size, dtype=dtype, u=REG.kernels[kernel] and _u(dtype), inputs=inp.exact, reference=ref)
    return measure(wrong(inp, ref), ref, dtype, spec.output_dtype(dtype), spec.error_model, ctx)


def _u(dtype):
    from harness.dtypes import unit_roundoff

    return unit_roundoff(dtype)


def zeros(inp, ref):
    return np.zeros_like(np.asarray(ref))


def drop(fraction):
    def wrong(inp, ref):
        x = inp.exact["x"]
        return np.float64(math.fsum(x[: int(round(len(x) * (1 - fraction)))]))
    return wrong


def drop_last_sum(inp, ref):
    return np.float64(math.fsum(inp.exact["x"][:-1]))


def drop_last_dot(inp, ref):
    x, y = inp.exact["x"], inp.exact["y"]
    return np.float64(math.fsum(x[:-1] * y[:-1]))


def uniform(inp, ref):
    return np.full_like(ref, 1.0 / ref.shape[1])


WRONG = [
    ("sum", 4097, "float16", zeros),
    ("sum", 300, "bfloat16", zeros),
    ("dot", 4097, "float16", zeros),
    ("l2norm", 4097, "float16", zeros),
    ("matmul", 512, "float16", zeros),
    ("softmax", 1024, "float16", uniform),
    ("sum", 1_000_000, "float32", drop(0.05)),
    ("sum", 10_000_000, "float32", drop(0.40)),
    ("sum", 4097, "float32", drop_last_sum),
    ("dot", 4097, "float32", drop_last_dot),
]


@pytest.mark.parametrize("kernel,size,dtype,wrong", WRONG, ids=lambda v: getattr(v, "__name__", str(v)))
def test_the_issue_table_of_wrong_outputs_is_rejected(kernel, size, dtype, wrong):
    res = judge(kernel, size, dtype, wrong)
    assert res["accuracy_ok"] is False
    assert res["verdict"] == "out_of_bound", res["verdict_reason"]


@pytest.mark.parametrize("kernel,size,dtype", [("sum", 4097, "float16"), ("sum", 1_000_000, "float32"),
                                               ("dot", 4097, "float16"), ("l2norm", 4097, "float16"),
                                               ("matmul", 512, "float16"), ("softmax", 1024, "float16")])
def test_a_correct_output_stays_within(kernel, size, dtype):
    """0 false alarms: the fp64 reference rounded to the dtype passes the probabilistic bound."""
    from harness.dtypes import round_to

    res = judge(kernel, size, dtype, lambda inp, ref: np.asarray(round_to(np.asarray(ref, np.float64), dtype)))
    assert res["verdict"] == "within", res["verdict_reason"]


def test_probabilistic_bound_is_recorded_beside_the_worst_case():
    res = judge("sum", 1_000_000, "float32", drop(0.0))
    assert res["verdict_bound"] == "probabilistic" and res["bound_kind"] == "probabilistic"
    assert res["worst_case_bound"] > res["error_bound"] == res["probabilistic_bound"]
    assert res["worst_case_kind"] == "rigorous" and res["probabilistic_confidence"] > 1 - 1e-6
    assert gamma_tilde(1e6, 2**-24) == pytest.approx(8 * 1000 * 2**-24, rel=1e-3)
    assert tilde_confidence(1e7, 2**-24) > 1 - 1e-6


def test_small_n_decided_by_the_worst_case_bound():
    res = judge("sum", 7, "float32", drop(0.0))
    assert res["verdict_bound"] == "worst_case" and res["bound_kind"] == "rigorous"


def _model(bound, **kw):
    return ErrorModel(metric="normwise", bound=bound, source="test", **kw)


def _ctx(ref):
    return BoundContext(size=ref.size, dtype="float32", u=2.0**-24, inputs={}, reference=ref)


def test_vacuous_bounds_are_unbounded_never_a_pass():
    ref = np.ones(4)
    for b in (math.inf, 1.0, 4.8):
        res = measure(np.zeros(4), ref, "float32", "float32", _model(lambda c, b=b: b), _ctx(ref))
        assert res["verdict"] == "unbounded" and res["accuracy_ok"] is False
        assert res["error_ratio"] is None and "zeros" in res["verdict_reason"] or "infinite" in res["verdict_reason"]


def test_nan_or_raising_bound_is_a_spec_error():
    ref = np.ones(4)

    def boom(c):
        raise ZeroDivisionError("oops")

    for b in (lambda c: math.nan, boom):
        res = measure(ref.copy(), ref, "float32", "float32", _model(b), _ctx(ref))
        assert res["verdict"] == "spec_error" and res["accuracy_ok"] is False and res["verdict_reason"]


def test_nonfinite_values_are_compared_by_position():
    """An output NaN where the reference is finite plus an output finite where the
    reference is inf used to pass: same count."""
    ref = np.array([1.0, np.inf, 2.0, 3.0])
    out = np.array([np.nan, 5.0, 2.0, 3.0])
    res = measure(out, ref, "float32", "float32", _model(lambda c: 1e-6), _ctx(ref))
    assert res["nonfinite_mismatch"] == 2 and res["verdict"] == "out_of_bound"
    same = measure(ref.copy(), ref, "float32", "float32", _model(lambda c: 1e-6), _ctx(ref))
    assert same["verdict"] == "within"


def test_matmul_judged_componentwise_too():
    """One entry wrong by far more than its own bound, hidden in the Frobenius norm."""
    def one_entry(inp, ref):
        out = ref.copy()
        i = np.unravel_index(np.argmin(np.abs(ref)), ref.shape)
        out[i] += 1e-4 * np.max(np.abs(ref))
        return out

    res = judge("matmul", 100, "float32", one_entry)
    assert res["error_ratio"] <= 1.0 and res["verdict"] == "out_of_bound"
    assert "componentwise" in res["verdict_reason"]


@pytest.mark.parametrize("wrong", ["total_everywhere", "exclusive_scan"])
def test_cumsum_is_judged_at_every_position(wrong):
    def make(inp, ref):
        if wrong == "total_everywhere":
            return np.full_like(ref, ref[-1])
        out = np.concatenate([[0.0], ref[:-1]])
        out[-1] = ref[-1]  # an exclusive-scan bug whose last element happens to be right
        return out

    res = judge("cumsum", 100_000, "float32", make)
    assert res["rel_error"] == 0.0 and res["verdict"] == "out_of_bound"
    assert res["position_ratio"] > 1


@pytest.mark.parametrize("kernel", ["jacobi2d", "quadratic_fit", "adam"])
def test_iterative_kernels_count_every_checkpoint(kernel):
    """A stale checkpoint in the middle, with a correct last one."""
    def stale(inp, ref):
        out = np.array(ref, copy=True)
        out[4] = out[0]
        return out

    res = judge(kernel, 33, "float32", stale)
    assert res["verdict"] == "out_of_bound" and "checkpoints" in res["verdict_reason"]


NOT_RIGOROUS = {"adam": "first_order", "black_scholes": "first_order", "jacobi2d": "first_order",
                "mlp_xor": "first_order", "nbody": "first_order", "quadratic_fit": "first_order",
                "mandelbrot": "estimate"}
PROBABILISTIC = {"sum", "dot", "l2norm", "matmul", "conv2d", "softmax", "cumsum"}


def test_every_kernel_labels_its_bound_kind_and_list_shows_it():
    from harness.cli.list_cmd import inventory

    assert len(REG.kernels) == 19
    for name, spec in REG.kernels.items():
        assert spec.error_model.kind == NOT_RIGOROUS.get(name, "rigorous"), name
        assert (spec.error_model.probabilistic is not None) == (name in PROBABILISTIC), name
    kinds = {k["name"]: k["bound_kind"] for k in inventory()["kernels"]}
    assert kinds["sum"] == "rigorous + probabilistic" and kinds["nbody"] == "first order"
    with pytest.raises(ValueError):
        ErrorModel(metric="normwise", bound=lambda c: 0.0, source="x", kind="theoretical")


def test_every_record_stores_its_bound_kind():
    from harness.runner import Case, RunContext, execute_case
    from harness.timing import TimingOptions

    ctx = RunContext(REG, seed=1, timing=TimingOptions(budget_s=0.002, min_samples=2, max_samples=2))
    rec = execute_case(Case("nbody", "numpy", "numpy", "cpu", "float32", 7), ctx)
    assert rec["bound_kind"] == "first_order" and rec["error_model"]["kind"] == "first_order"
    assert rec["verdict"] == "within" and rec["verdict_bound"] == "worst_case"


def test_reason_says_whether_the_worst_case_bound_still_holds():
    res = judge("sum", 1_000_000, "float32", drop(0.05))
    assert "worst-case bound holds" in res["verdict_reason"]  # 5% < γ_n = 6%: only the probabilistic one sees it
