"""The error-growth fit recovers known slopes from synthetic records."""
import json
import math

import numpy as np
import pytest

from harness.growth import GROUP_KEYS, fit_loglog, growth_frame, growth_records, growth_rows

SIZES = [1000, 10_000, 100_000, 1_000_000]


def _rec(kernel, size, err, bound, *, impl="numpy", backend="numpy", dtype="float32", slope=1.0,
         status="ok", device="cpu"):
    return {"kernel": kernel, "impl": impl, "backend": backend, "device": device, "dtype": dtype,
            "size": size, "status": status, "rel_error": err, "error_bound": bound,
            "error_model": {"metric": "normwise", "source": "test", "growth_slope": slope}}


def _synthetic():
    u = 2.0**-24
    recs = []
    for n in SIZES:
        recs.append(_rec("sum", n, 3e-8 * n**0.5, n * u))                    # √n errors, γ_n bound
        recs.append(_rec("sum", n, 2e-9 * n, n * u, impl="opencl", backend="opencl",
                         device="opencl:x"))                                   # linear errors
        recs.append(_rec("vadd", n, 0.0, u, slope=0.0))                        # exact
        recs.append(_rec("dot", n, 1e-7 * n**0.25 if n != 10_000 else 0.0, n * u,
                         dtype="float64"))                                     # one zero among them
        recs.append(_rec("dot", n, float("nan"), n * u, status="error"))       # failures are ignored
    recs.append(_rec("mono", 1000, 1e-7, 1e-6))                                # one size only
    return recs


def _by_group(rows):
    return {tuple(r[k] for k in GROUP_KEYS): r for r in rows}


def test_recovers_known_slopes():
    rows = _by_group(growth_rows(_synthetic()))
    half = rows[("sum", "numpy", "numpy", "cpu", "float32")]
    assert half["slope"] == pytest.approx(0.5, abs=1e-9)
    assert half["predicted_slope"] == 1.0 and half["bound_slope"] == pytest.approx(1.0, abs=1e-9)
    assert half["slope_excess"] == pytest.approx(-0.5, abs=1e-9)
    assert half["n_points"] == 4 and half["n_zero"] == 0 and half["r2"] == pytest.approx(1.0)
    lin = rows[("sum", "opencl", "opencl", "opencl:x", "float32")]
    assert lin["slope"] == pytest.approx(1.0, abs=1e-9)


def test_zero_errors_are_left_out_and_counted():
    rows = _by_group(growth_rows(_synthetic()))
    dot = rows[("dot", "numpy", "numpy", "cpu", "float64")]
    assert dot["slope"] == pytest.approx(0.25, abs=1e-9)
    assert dot["n_points"] == 3 and dot["n_zero"] == 1
    exact = rows[("vadd", "numpy", "numpy", "cpu", "float32")]
    assert exact["slope"] is None and "zero" in exact["reason"]
    assert exact["bound_slope"] == pytest.approx(0.0, abs=1e-9)
    mono = rows[("mono", "numpy", "numpy", "cpu", "float32")]
    assert mono["slope"] is None and "two sizes" in mono["reason"]


def test_failed_records_are_ignored():
    rows = growth_rows(_synthetic())
    assert not any(r["kernel"] == "dot" and r["dtype"] == "float32" for r in rows)


def test_repeated_sizes_count_once_by_median():
    recs = [_rec("k", n, e * n, 1.0) for n in (10, 100, 1000) for e in (1e-8, 2e-8, 4e-8)]
    (row,) = growth_rows(recs)
    assert row["n_points"] == 3 and row["slope"] == pytest.approx(1.0, abs=1e-9)


def test_dataframe_input_and_json_output():
    pd = pytest.importorskip("pandas")
    recs = _synthetic()
    recs[0]["error_bound"] = math.inf  # stored as "inf" in JSON; NaN/inf never reach the fit
    df = pd.DataFrame(recs)
    from_df = _by_group(growth_rows(df))
    from_list = _by_group(growth_rows(recs))
    assert from_df.keys() == from_list.keys()
    for k in from_df:
        assert from_df[k]["slope"] == from_list[k]["slope"]
    stored = growth_records(df)
    text = json.dumps(stored, allow_nan=False)
    assert json.loads(text) == stored
    assert list(growth_frame(recs).columns[: len(GROUP_KEYS)]) == list(GROUP_KEYS)


def test_fit_loglog_with_noise():
    rng = np.random.default_rng(0)
    n = np.logspace(2, 7, 12)
    e = 1e-9 * n**0.5 * np.exp(rng.normal(0, 0.05, n.size))
    fit = fit_loglog(n, e)
    assert fit["slope"] == pytest.approx(0.5, abs=0.05) and fit["r2"] > 0.95


def test_real_run_records(tmp_path):
    """Records made by the runner carry what the fit needs."""
    from harness.registry import get_registry
    from harness.runner import RunContext, execute_case, plan
    from harness.timing import TimingOptions

    reg = get_registry()
    ctx = RunContext(reg, seed=0, timing=TimingOptions(budget_s=0.002, min_samples=1, max_samples=2))
    recs = [execute_case(c, ctx) for c in plan(reg, ["dot"], ["numpy"], ["float32"], [100, 1000, 10_000])]
    (row,) = [r for r in growth_rows(recs) if r["impl"] == "numpy"]
    assert row["predicted_slope"] == 1.0 and row["bound_slope"] == pytest.approx(1.0, abs=0.05)
    assert row["n_points"] + row["n_zero"] == 3
