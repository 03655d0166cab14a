import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

from harness import load_results
from harness.record import REQUIRED_FIELDS
from harness.store import ResultsWarning

ENV_CMD = [sys.executable, "-m", "harness.cli"]


def run_cli(*args, **kw):
    return subprocess.run([sys.executable, "-c", "from harness.cli import main; main()", *args],
                          capture_output=True, text=True, **kw)


def test_import_harness_loads_no_backend_library():
    code = ("import sys, harness; harness.load_results; "
            "print([m for m in ('torch', 'cupy', 'pyopencl', 'pandas') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    arrays = tmp_path_factory.mktemp("arrays")
    res = run_cli("run", "--kernels", "saxpy,sum", "--backends", "numpy,torch,cupy", "--dtypes", "float32",
                  "--sizes", "100,1001", "--budget", "0.01", "--out", str(out), "--save-arrays", str(arrays))
    assert res.returncode == 0, res.stderr
    return out, arrays, res


def test_run_stores_loadable_records(small_run):
    out, arrays, res = small_run
    df = load_results(out)
    for col in REQUIRED_FIELDS:
        assert col in df.columns
    ok = df[df.status == "ok"]
    assert set(ok.backend) >= {"numpy", "torch"}
    assert ok.accuracy_ok.all()
    assert (df[df.backend == "cupy"].status == "skipped").all() or "cupy" in set(ok.backend)
    assert all(len(s) == n for s, n in zip(ok.time_samples_s, ok.n_samples))
    assert (ok.machine_id == "test-machine").all()
    files = list(out.rglob("*.jsonl"))
    assert len(files) == 1 and files[0].parent.name == "test-machine"
    # round trip: the frame built from the file equals the records in it
    lines = [json.loads(l) for l in files[0].read_text().splitlines()[1:]]
    lines = [l for l in lines if l["kind"] == "record"]
    assert len(lines) == len(df)
    assert sorted(r["case_id"] for r in lines) == sorted(df.case_id)
    from harness.store import read_run

    header, _ = read_run(files[0])
    growth = {(g["kernel"], g["impl"], g["backend"]): g for g in header.get("growths", [])}
    assert growth[("sum", "array_api", "numpy")]["predicted_slope"] == 1.0
    assert growth[("sum", "array_api", "numpy")]["n_points"] == 2
    case = ok.iloc[0].case_id
    assert {p.name for p in (arrays / case).iterdir()} == {"inputs.npz", "output.npy", "reference.npy"}
    assert np.load(arrays / case / "reference.npy").dtype == np.float64


def test_truncated_file_keeps_finished_records(small_run, tmp_path):
    out, _, _ = small_run
    src = next(out.rglob("*.jsonl"))
    dst = tmp_path / "m" / "cut.jsonl"
    dst.parent.mkdir()
    record_lines = [l for l in src.read_text().splitlines() if '"kind":"record"' in l]
    text = src.read_text().splitlines()[0] + "\n" + "\n".join(record_lines) + "\n"
    dst.write_text(text[: len(text) - 40])  # cut the last record mid-line
    (tmp_path / "m" / "foreign.jsonl").write_text('{"schema": "something-else"}\n')
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        df = load_results(tmp_path)
    assert len(df) == len(text.splitlines()) - 2
    msgs = " ".join(str(x.message) for x in w if issubclass(x.category, ResultsWarning))
    assert "cut.jsonl" in msgs and "foreign.jsonl" in msgs


@pytest.mark.parametrize("args,needle", [
    (["run", "--kernels", "nope"], "valid kernels"),
    (["run", "--backends", "cuda9"], "valid backends"),
    (["run", "--dtypes", "float8"], "valid dtypes"),
    (["run", "--sizes", "0"], "positive"),
    (["run", "--sizes", "-5"], "positive"),
    (["run", "--sizes", "1.5"], "not an integer"),
    (["run", "--sizes", "abc"], "not an integer"),
])
def test_cli_usage_errors_exit_2(args, needle, tmp_path):
    res = run_cli(*args, "--out", str(tmp_path))
    assert res.returncode == 2
    assert needle in res.stderr
    assert not list(tmp_path.rglob("*.jsonl"))


def test_list_json_reports_cupy_reason():
    res = run_cli("list", "--json")
    assert res.returncode == 0, res.stderr
    inv = json.loads(res.stdout)
    names = {b["name"]: b for b in inv["backends"]}
    assert names["numpy"]["available"]
    if not names["cupy"]["available"]:
        assert names["cupy"]["reason"]
    kernels = {k["name"]: k for k in inv["kernels"]}
    assert {"saxpy", "sum", "matmul", "mandelbrot"} <= set(kernels)
    assert all(k["array_api"] for k in kernels.values() if k["name"] in ("saxpy", "sum", "matmul"))


def test_every_record_carries_its_cache_state(small_run, tmp_path):
    out, _, _ = small_run
    df = load_results(out)
    assert (df.cache_state == "warm").all()  # the default, skipped records included
    res = run_cli("run", "--kernels", "saxpy", "--backends", "numpy,cupy", "--dtypes", "float32",
                  "--sizes", "1000", "--budget", "0.01", "--cache", "cold", "--no-isolate", "--quiet",
                  "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    lines = [json.loads(line) for f in tmp_path.rglob("*.jsonl") for line in f.read_text().splitlines()]
    assert lines[0]["options"]["cache"] == "cold"
    records = [r for r in lines if r.get("kind") == "record"]
    assert records and all(r["cache_state"] == "cold" for r in records)
    assert any(r["status"] == "ok" and r["loops"] == 1 for r in records)
