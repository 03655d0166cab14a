"""Issue 12, item 8: gates. `run --strict` exits 1 on a failed or out-of-bound case;
`compare --fail-on-regression` fails on accuracy regressions too."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from harness.cli.run_cmd import gate_failures
from harness.record import SCHEMA, SCHEMA_VERSION, new_record

TESTS = Path(__file__).resolve().parent


def harness(*args, extra_modules=None):
    env = dict(os.environ, HARNESS_MACHINE_ID="gate-machine")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    env.pop("HARNESS_EXTRA_MODULES", None)
    if extra_modules:
        env["HARNESS_EXTRA_MODULES"] = extra_modules
    return subprocess.run([sys.executable, "-c", "from harness.cli import main; main()", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300)


def test_run_strict_exits_1_on_an_out_of_bound_case(tmp_path):
    common = ("run", "--kernels", "saxpy", "--backends", "numpy", "--dtypes", "float32", "--sizes", "100",
              "--budget", "0.005", "--quiet", "--out", tmp_path)
    bad = harness(*common, "--impls", "last_wrong", "--strict", extra_modules="faulty_impls")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "out of bound" in bad.stderr
    lax = harness(*common, "--impls", "last_wrong", extra_modules="faulty_impls")
    assert lax.returncode == 0, lax.stderr  # without --strict the run still succeeds
    good = harness(*common, "--impls", "array_api", "--strict")
    assert good.returncode == 0, good.stdout + good.stderr


def test_gate_failures_counts_failures_and_out_of_bound_not_unbounded():
    recs = [{"status": "ok", "verdict": "within"}, {"status": "ok", "verdict": "unbounded"},
            {"status": "skipped"}, {"status": "ok", "verdict": "out_of_bound"}, {"status": "timeout"},
            {"status": "ok", "verdict": "spec_error"}, {"status": "ok", "accuracy_ok": False}]
    assert [r.get("verdict") or r["status"] for r in gate_failures(recs)] == [
        "out_of_bound", "timeout", "spec_error", "ok"]


def write_run(path, commit, cases):
    """cases: {(kernel, size): (rel_error, verdict)}, same timings on both sides."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"kind": "header", "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "run_id": path.stem,
              "machine_id": "m", "commit": commit, "started": "2025-01-01T00:00:00+00:00", "machine": {}}
    lines = [json.dumps(header)]
    samples = list(1e-3 * (1 + 0.01 * np.random.default_rng(1).standard_normal(30)))
    for (kernel, size), (err, verdict) in cases.items():
        rec = new_record(kernel=kernel, impl="numpy", backend="numpy", device="cpu", dtype="float32", size=size,
                         status="ok", machine_id="m", commit=commit, run_id=path.stem, time_samples_s=samples,
                         time_median_s=float(np.median(samples)), rel_error=err, n_samples=30, u=2.0**-24,
                         verdict=verdict, accuracy_ok=verdict == "within")
        lines.append(json.dumps({"kind": "record", **rec}))
    path.write_text("\n".join(lines) + "\n")
    return path


def compare(a, b, *extra):
    from click.testing import CliRunner

    from harness.cli import main

    return CliRunner().invoke(main, ["compare", str(a), str(b), "--fail-on-regression", "1.5", *extra],
                              catch_exceptions=False)


def test_compare_fails_when_a_case_leaves_its_bound(tmp_path):
    a = write_run(tmp_path / "a.jsonl", "c1c1c1c1", {("sum", 10): (1e-7, "within")})
    b = write_run(tmp_path / "b.jsonl", "c2c2c2c2", {("sum", 10): (2e-7, "out_of_bound")})
    res = compare(a, b)
    assert res.exit_code == 1 and "within bound → out_of_bound" in res.stdout


def test_compare_fails_when_rel_error_grows_beyond_the_factor(tmp_path):
    a = write_run(tmp_path / "a.jsonl", "c1c1c1c1", {("sum", 10): (1e-7, "within"), ("dot", 10): (1e-9, "within")})
    b = write_run(tmp_path / "b.jsonl", "c2c2c2c2", {("sum", 10): (5e-6, "within"), ("dot", 10): (5e-8, "within")})
    res = compare(a, b)
    assert res.exit_code == 1 and "rel_error 1e-07 → 5e-06" in res.stdout
    assert "dot" not in res.stdout.split("accuracy regression", 1)[1]  # 1e-9 → 5e-8 stays below 10u
    assert compare(a, b, "--error-factor", "100").exit_code == 0
    assert compare(b, a).exit_code == 0  # improvements never fail
