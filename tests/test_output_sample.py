"""`output_sample`: deterministic positions shared by dtypes and backends, values that
are the output's own, JSON round trips, and old records without the field."""
import json
import math

import numpy as np
import pytest

from harness.output_sample import (SAMPLE_SIZE, output_sample, sample_arrays, sample_max_rel_diff,
                                   sample_positions, sample_seed)
from harness.record import new_record, to_json_safe


def test_positions_are_deterministic_distinct_sorted_and_bounded():
    a = sample_positions(10_000, 0, "sum", 10_000)
    assert np.array_equal(a, sample_positions(10_000, 0, "sum", 10_000))
    assert len(a) == SAMPLE_SIZE == len(set(a.tolist()))
    assert np.all(np.diff(a) > 0) and a.min() >= 0 and a.max() < 10_000
    assert not np.array_equal(a, sample_positions(10_000, 1, "sum", 10_000))  # the seed matters
    assert not np.array_equal(a, sample_positions(10_000, 0, "dot", 10_000))  # and the kernel
    assert sample_seed(0, "sum", 10) == sample_seed(0, "sum", 10) != sample_seed(0, "sum", 11)


def test_small_outputs_are_sampled_whole():
    assert sample_positions(5, 0, "sum", 5).tolist() == [0, 1, 2, 3, 4]
    assert len(sample_positions(65, 0, "saxpy", 65)) == SAMPLE_SIZE
    s = output_sample(np.float32(3.5), np.float64(3.5), 0, "sum", 100)  # a scalar output
    assert s["positions"] == [0] and s["values"] == [3.5]


def test_same_positions_for_two_dtypes_and_backends_values_match_output():
    rng = np.random.default_rng(7)
    ref = rng.standard_normal(5000)
    s32 = output_sample(ref.astype(np.float32), ref, 3, "saxpy", 5000)
    s64 = output_sample(ref.copy(), ref, 3, "saxpy", 5000)  # another dtype / backend
    assert s32["positions"] == s64["positions"] and len(s32["positions"]) <= SAMPLE_SIZE
    pos = np.asarray(s32["positions"])
    assert np.array_equal(np.asarray(s32["values"], dtype=np.float32), ref.astype(np.float32)[pos])
    assert s64["values"] == ref[pos].tolist() and np.allclose(s64["reference"], ref[pos], rtol=1e-11)
    _, vals, _ = sample_arrays(json.loads(json.dumps(s32)))
    assert np.array_equal(vals, ref.astype(np.float32)[pos].astype(np.float64))  # exact bits after JSON


def test_multi_output_samples_the_flattened_vector():
    a, b = np.arange(40.0), np.arange(100.0, 140.0)
    s = output_sample((a, b), (a, b), 0, "adam", 40)
    flat = np.concatenate([a, b])
    assert len(s["positions"]) == SAMPLE_SIZE and max(s["positions"]) < 80 and len(s["positions"]) <= 80
    assert s["values"] == flat[np.asarray(s["positions"])].tolist()


def test_nonfinite_values_round_trip_through_json():
    out = np.array([1.0, np.nan, np.inf, -np.inf])
    s = json.loads(json.dumps(to_json_safe(output_sample(out, out, 0, "k", 4)), allow_nan=False))
    _, vals, ref = sample_arrays(s)
    assert math.isnan(vals[1]) and vals[2] == math.inf and vals[3] == -math.inf
    assert sample_max_rel_diff(s, s) == 0.0  # equal non-finite entries are no difference


def test_difference_on_the_sample_can_fail():
    ref = np.linspace(1.0, 2.0, 1000)
    a = output_sample(ref, ref, 0, "vadd", 1000)
    other = ref.copy()
    other[a["positions"][3]] *= 1 + 1e-6
    b = output_sample(other, ref, 0, "vadd", 1000)
    assert sample_max_rel_diff(a, a) == 0.0
    assert sample_max_rel_diff(a, b) == pytest.approx(1e-6, rel=1e-6)
    assert math.isnan(sample_max_rel_diff(a, None))


def test_record_without_sample_still_loads(tmp_path):
    from harness.record import SCHEMA, SCHEMA_VERSION
    from harness.report.data import load

    header = {"kind": "header", "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "run_id": "r",
              "machine_id": "m", "commit": "c0ffee", "started": "2025-01-01T00:00:00+00:00", "machine": {}}
    rec = new_record(kernel="sum", impl="numpy", backend="numpy", device="cpu", dtype="float32", size=10,
                     status="ok", machine_id="m", time_median_s=1e-6)
    (tmp_path / "run.jsonl").write_text(json.dumps(header) + "\n" + json.dumps({"kind": "record", **rec}) + "\n")
    rs = load([tmp_path])
    assert len(rs.records) == 1 and "output_sample" not in rs.records[0]
    assert sample_arrays(rs.records[0].get("output_sample")) is None


def test_runner_stores_the_sample_in_ok_records():
    """Through the real data path: float32 and float64 runs of a case share positions."""
    from harness.registry import get_registry
    from harness.runner import Case, RunContext, execute_case
    from harness.timing import TimingOptions

    ctx = RunContext(get_registry(), seed=0, timing=TimingOptions(budget_s=0.002, min_samples=1, max_samples=2))
    recs = [execute_case(Case("saxpy", "array_api", "numpy", "cpu", dt, 1000), ctx) for dt in ("float32", "float64")]
    for rec in recs:
        assert rec["status"] == "ok", rec["message"]
        s = rec["output_sample"]
        assert len(s["positions"]) == len(s["values"]) == len(s["reference"]) == SAMPLE_SIZE
        assert len(json.dumps(to_json_safe(s))) < 4000
    assert recs[0]["output_sample"]["positions"] == recs[1]["output_sample"]["positions"]
    assert recs[0]["output_sample"]["dtype"] == "float32" and recs[1]["output_sample"]["dtype"] == "float64"
