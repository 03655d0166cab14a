"""Same inputs on two machines or two backends: speed ratio, bitwise equality, Δerror and
the sampled difference, and the per-kernel reproducibility summary."""
import hashlib
import math

import numpy as np
import pandas as pd
import pytest

from harness.output_sample import output_sample
from harness.report.machine_compare import PAIR_COLUMNS, kernel_summary, pair_cases

REF = np.linspace(1.0, 2.0, 500)


def rec(machine, backend, out, t, err, kernel="vadd", inputs="in-1", sample=True, **extra):
    r = {"kernel": kernel, "impl": backend, "backend": backend, "device": "cpu", "dtype": "float64", "size": 500,
         "status": "ok", "machine_id": machine, "inputs_sha256": inputs, "time_median_s": t, "rel_error": err,
         "output_sha256": hashlib.sha256(out.tobytes()).hexdigest()}
    if sample:
        r["output_sample"] = output_sample(out, REF, 0, kernel, 500)
    r.update(extra)
    return r


def different(kernel="vadd"):
    """REF with one sampled entry changed by a relative 1e-5 (positions depend on the kernel)."""
    out = REF.copy()
    pos = output_sample(REF, REF, 0, kernel, 500)["positions"]
    out[pos[0]] *= 1 + 1e-5
    return out


def test_identical_outputs_on_two_machines_are_bitwise_equal():
    df = pd.DataFrame([rec("m1", "numpy", REF, 1e-3, 1e-16), rec("m2", "numpy", REF.copy(), 2e-3, 1e-16)])
    p = pair_cases(df)
    assert list(p.columns) == PAIR_COLUMNS and len(p) == 1
    row = p.iloc[0]
    assert row["kind"] == "machines" and (row["machine_a"], row["machine_b"]) == ("m1", "m2")
    assert bool(row["bitwise_equal"]) is True and row["sample_max_rel_diff"] == 0.0
    assert row["time_ratio"] == pytest.approx(2.0) and row["d_rel_error"] == 0.0


def test_a_different_output_is_caught():
    df = pd.DataFrame([rec("m1", "numpy", REF, 1e-3, 1e-16), rec("m2", "numpy", different(), 1e-3, 3e-16)])
    row = pair_cases(df).iloc[0]
    assert bool(row["bitwise_equal"]) is False
    assert row["sample_max_rel_diff"] == pytest.approx(1e-5, rel=1e-6)
    assert row["d_rel_error"] == pytest.approx(2e-16)
    s = kernel_summary(pair_cases(df)).iloc[0]
    assert s["n_pairs"] == 1 and s["n_bitwise_equal"] == 0 and bool(s["bitwise_reproducible"]) is False


def test_backends_on_one_machine_pair_numpy_first_and_other_inputs_never_pair():
    df = pd.DataFrame([rec("m1", "torch", different(), 4e-3, 1e-16), rec("m1", "numpy", REF, 1e-3, 1e-16),
                       rec("m2", "numpy", REF, 1e-3, 1e-16, inputs="in-2"),  # other inputs: no pair
                       rec("m2", "torch", REF, 1e-3, 1e-16, status="error")])  # not ok: no pair
    p = pair_cases(df)
    assert len(p) == 1
    row = p.iloc[0]
    assert row["kind"] == "backends" and (row["impl_a"], row["impl_b"]) == ("numpy", "torch")
    assert row["time_ratio"] == pytest.approx(4.0) and bool(row["bitwise_equal"]) is False


def test_summary_per_kernel_reproducible_or_not():
    df = pd.DataFrame([rec("m1", "numpy", REF, 1e-3, 0.0), rec("m2", "numpy", REF, 1e-3, 0.0),
                       rec("m1", "numpy", REF, 1e-3, 0.0, kernel="sum"),
                       rec("m2", "numpy", different("sum"), 1e-3, 0.0, kernel="sum")])
    s = kernel_summary(pair_cases(df)).set_index("kernel")
    assert bool(s.loc["vadd", "bitwise_reproducible"]) is True
    assert bool(s.loc["sum", "bitwise_reproducible"]) is False and s.loc["sum", "max_sample_rel_diff"] > 0


def test_old_records_without_sample_or_hashes_give_nan_not_errors():
    old = [rec("m1", "numpy", REF, 1e-3, 0.0, sample=False), rec("m2", "numpy", REF, 1e-3, 0.0, sample=False)]
    for r in old:
        del r["output_sha256"]
    row = pair_cases(pd.DataFrame(old)).iloc[0]
    assert math.isnan(row["sample_max_rel_diff"]) and pd.isna(row["bitwise_equal"])
    s = kernel_summary(pair_cases(pd.DataFrame(old))).iloc[0]
    assert s["n_unknown"] == 1 and pd.isna(s["bitwise_reproducible"])
    no_inputs = pd.DataFrame([{k: v for k, v in r.items() if k != "inputs_sha256"} for r in old])
    assert pair_cases(no_inputs).empty and kernel_summary(pair_cases(no_inputs)).empty


def test_compare_rows_carry_bitwise_and_sampled_difference():
    """`harness compare --json` rows: the same two quantities, None where unknown."""
    from harness.report.compare import compare_pair

    a, b = rec("m1", "numpy", REF, 1e-3, 0.0), rec("m2", "numpy", different(), 1e-3, 0.0)
    row = compare_pair(a, b, 0.05).as_dict()
    assert row["bitwise_equal"] is False and row["sample_max_rel_diff"] == pytest.approx(1e-5, rel=1e-6)
    same = compare_pair(a, dict(a), 0.05).as_dict()
    assert same["bitwise_equal"] is True and same["sample_max_rel_diff"] == 0.0
    old = compare_pair({**a, "output_sample": None, "output_sha256": None}, b, 0.05).as_dict()
    assert old["bitwise_equal"] is None and old["sample_max_rel_diff"] is None
