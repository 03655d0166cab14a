"""`harness compare`: significance, regressions and usage errors, on hand-written results."""
import json
import numpy as np
import pytest

from harness.record import SCHEMA, SCHEMA_VERSION, new_record


class _Result:
    def __init__(self, r):
        self.returncode, self.stdout, self.stderr = r.exit_code, r.stdout, r.stderr


def run_cli(*args):
    """In-process (fast); exit codes are those the shell would see."""
    from click.testing import CliRunner

    from harness.cli import main

    return _Result(CliRunner().invoke(main, list(args), catch_exceptions=False))


def write_run(path, machine, commit, cases):
    """cases: {(kernel, backend, size): (samples, rel_error, status)}"""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"kind": "header", "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "run_id": path.stem,
              "machine_id": machine, "commit": commit, "started": "2025-01-01T00:00:00+00:00", "machine": {}}
    lines = [json.dumps(header)]
    for (kernel, backend, size), (samples, err, status) in cases.items():
        ok = status == "ok"
        rec = new_record(kernel=kernel, impl=backend, backend=backend, device="cpu", dtype="float32", size=size,
                         status=status, message="" if ok else "boom", machine_id=machine, commit=commit,
                         run_id=path.stem, time_samples_s=list(samples) if ok else None,
                         time_median_s=float(np.median(samples)) if ok else None, rel_error=err if ok else None,
                         n_samples=len(samples) if ok else 0)
        lines.append(json.dumps({"kind": "record", **rec}))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def two_runs(tmp_path):
    rng = np.random.default_rng(1)
    base = 1e-3 * (1 + 0.01 * rng.standard_normal(30))
    noise = 1e-3 * (1 + 0.01 * rng.standard_normal(30))
    a = write_run(tmp_path / "results" / "m1" / "a.jsonl", "m1", "aaaa1111", {
        ("sum", "numpy", 1000): (base, 1e-8, "ok"),
        ("sum", "torch", 1000): (base, 1e-8, "ok"),
        ("saxpy", "numpy", 1000): (base, 2e-8, "ok"),
    })
    b = write_run(tmp_path / "results" / "m1" / "b.jsonl", "m1", "bbbb2222", {
        ("sum", "numpy", 1000): (noise, 1e-8, "ok"),          # same distribution
        ("sum", "torch", 1000): (base * 2.0, 3e-8, "ok"),     # 2x slower, error up
        ("saxpy", "numpy", 1000): (base * 0.5, 2e-8, "ok"),   # 2x faster
    })
    return tmp_path, a, b


def rows_by_case(out):
    data = json.loads(out)
    return {(r["kernel"], r["backend"]): r for r in data["rows"]}, data


def test_significance_and_error_change(two_runs):
    tmp, a, b = two_runs
    res = run_cli("compare", str(a), str(b), "--json")
    assert res.returncode == 0, res.stderr
    rows, data = rows_by_case(res.stdout)
    assert rows[("sum", "torch")]["verdict"] == "slower"
    assert rows[("sum", "torch")]["p_value"] < 1e-6
    assert rows[("sum", "torch")]["ratio"] == pytest.approx(2.0, rel=1e-6)
    assert rows[("sum", "torch")]["d_rel_error"] == pytest.approx(2e-8)
    assert rows[("saxpy", "numpy")]["verdict"] == "faster"
    assert rows[("sum", "numpy")]["verdict"] == "same"
    assert rows[("sum", "numpy")]["p_value"] > 0.05
    assert data["regressions"] == 0


def test_fail_on_regression_exit_code(two_runs):
    tmp, a, b = two_runs
    res = run_cli("compare", str(a), str(b), "--fail-on-regression", "1.5")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "regression" in res.stdout
    # a 2x slowdown does not exceed a factor of 3
    res = run_cli("compare", str(a), str(b), "--fail-on-regression", "3")
    assert res.returncode == 0, res.stdout + res.stderr
    # the speedup direction never fails
    res = run_cli("compare", str(b), str(a), "--fail-on-regression", "1.5")
    rows, _ = rows_by_case(run_cli("compare", str(b), str(a), "--json").stdout)
    assert rows[("saxpy", "numpy")]["verdict"] == "slower" and res.returncode == 1


def test_insignificant_large_ratio_is_not_a_regression(tmp_path):
    # Two samples each: too few for the test to call anything significant at alpha 0.05.
    a = write_run(tmp_path / "a.jsonl", "m", "c1c1c1c1", {("sum", "numpy", 10): ([1.0, 1.1], 0.0, "ok")})
    b = write_run(tmp_path / "b.jsonl", "m", "c2c2c2c2", {("sum", "numpy", 10): ([5.0, 5.5], 0.0, "ok")})
    res = run_cli("compare", str(a), str(b), "--fail-on-regression", "1.1", "--json")
    assert res.returncode == 0, res.stdout
    rows, _ = rows_by_case(res.stdout)
    assert rows[("sum", "numpy")]["verdict"] == "same"


def test_newly_failing_case_counts_as_regression(tmp_path):
    s = list(np.linspace(1.0, 1.1, 10))
    a = write_run(tmp_path / "a.jsonl", "m", "c1c1c1c1", {("sum", "numpy", 10): (s, 0.0, "ok")})
    b = write_run(tmp_path / "b.jsonl", "m", "c2c2c2c2", {("sum", "numpy", 10): (s, 0.0, "nan")})
    res = run_cli("compare", str(a), str(b), "--fail-on-regression", "2")
    assert res.returncode == 1
    assert "broke" in res.stdout


def test_commits_and_machines_as_selectors(two_runs):
    tmp, a, b = two_runs
    results = tmp / "results"
    res = run_cli("compare", "aaaa", "bbbb", "--results", str(results), "--json")
    assert res.returncode == 0, res.stderr
    rows, data = rows_by_case(res.stdout)
    assert data["a"]["kind"] == "commit" and len(rows) == 3
    # machines: another machine folder holding the same cases
    write_run(results / "m2" / "c.jsonl", "m2", "aaaa1111", {("sum", "numpy", 1000): (np.full(5, 1e-3), 1e-8, "ok")})
    res = run_cli("compare", str(results / "m1"), str(results / "m2"), "--json")
    assert res.returncode == 0, res.stderr
    rows, data = rows_by_case(res.stdout)
    assert list(rows) == [("sum", "numpy")]


@pytest.mark.parametrize("args, needle", [
    (["nonexistent_run.jsonl", "abcd"], "not a results file"),
    (["zzzz", "abcd"], "not a results file"),
    (["abcd", "aaaa"], "no results for commit"),
])
def test_usage_errors_exit_2(two_runs, args, needle):
    tmp, a, b = two_runs
    res = run_cli("compare", *args, "--results", str(tmp / "results"))
    assert res.returncode == 2
    assert needle in res.stderr


def test_ambiguous_commit_and_bad_factor(two_runs):
    tmp, a, b = two_runs
    write_run(tmp / "results" / "m1" / "c.jsonl", "m1", "aaaa9999", {("sum", "numpy", 1000): ([1.0, 1.0], 0, "ok")})
    res = run_cli("compare", "aaaa", "bbbb", "--results", str(tmp / "results"))
    assert res.returncode == 2 and "ambiguous" in res.stderr
    res = run_cli("compare", str(a), str(b), "--fail-on-regression", "0.5")
    assert res.returncode == 2
    # nothing in common is a usage error too
    c = write_run(tmp / "other.jsonl", "m1", "cccc", {("matmul", "numpy", 8): ([1.0, 1.0], 0, "ok")})
    res = run_cli("compare", str(a), str(c))
    assert res.returncode == 2 and "no case in common" in res.stderr
