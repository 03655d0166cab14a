"""Reliability: a sweep survives crashing, hanging and wrong kernels, a killed run keeps
every finished case and resumes, damaged results files are skipped with a warning, and
bad input is a usage error (exit 2) that says what to do.

Faulty implementations live in tests/faulty_impls.py and are loaded only in
subprocesses (HARNESS_EXTRA_MODULES), never into this process's registry.
"""
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import click
import pytest
from click.testing import CliRunner

from harness import load_results
from harness.cli import main as cli_main
from harness.cli.run_cmd import parse_memory
from harness.inputs import memory_estimate
from harness.record import SCHEMA, SCHEMA_VERSION, new_record
from harness.registry import get_registry
from harness.runner import Case, RunContext, Skip, execute_case, plan
from harness.store import ResultsWarning, RunWriter, SchemaVersionError, read_run
from harness.timing import TimingOptions

TESTS = Path(__file__).resolve().parent
MACHINE = "test-machine"


def harness_env(extra_modules: str | None = None) -> dict:
    env = dict(os.environ, HARNESS_MACHINE_ID=MACHINE)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    if extra_modules:
        env["HARNESS_EXTRA_MODULES"] = extra_modules
    else:
        env.pop("HARNESS_EXTRA_MODULES", None)
    return env


def harness_cmd(*args) -> list[str]:
    return [sys.executable, "-c", "from harness.cli import main; main()", *map(str, args)]


def run_harness(*args, extra_modules=None, timeout=120):
    return subprocess.run(harness_cmd(*args), capture_output=True, text=True, env=harness_env(extra_modules),
                          timeout=timeout)


def only_run(folder: Path) -> Path:
    files = list(folder.rglob("*.jsonl"))
    assert len(files) == 1, files
    return files[0]


# ------------------------------------------------------------------------------------------
# isolation

FAULTY_EXPECTED = {
    "array_api": "ok",
    "segfault": "crashed", "abort": "crashed", "hang": "timeout",
    "raises": "error", "exits": "error", "oom": "oom",
    "nan": "nan", "wrong_shape": "invalid", "wrong_dtype": "invalid", "slow": "ok", "last_wrong": "ok",
}


@pytest.fixture(scope="module")
def faulty_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("faulty")
    res = run_harness("run", "--kernels", "saxpy", "--backends", "numpy", "--dtypes", "float32",
                      "--sizes", "100,1001", "--budget", "0.005", "--timeout", "2", "--seed", "4",
                      "--out", out, "--quiet", extra_modules="faulty_impls")
    assert res.returncode == 0, res.stderr
    header, records = read_run(only_run(out))
    return header, records


def test_faulty_sweep_records_every_failure_and_goes_on(faulty_sweep):
    _, records = faulty_sweep
    got = {(r["impl"], r["size"]): r for r in records}
    assert len(got) == len(records) == 2 * len(FAULTY_EXPECTED)
    for (impl, size), r in got.items():
        assert r["status"] == FAULTY_EXPECTED[impl], (impl, size, r["status"], r["message"])
        if r["status"] != "ok":
            assert r["message"]
    assert "SIGSEGV" in got["segfault", 100]["message"]
    assert "saxpy_segfault" in got["segfault", 100]["message"]  # where it crashed
    assert "SIGABRT" in got["abort", 100]["message"]
    assert "saxpy_hang" in got["hang", 100]["message"] and "--timeout" in got["hang", 100]["message"]
    assert "deliberate failure" in got["raises", 100]["message"]
    assert "wrong shape" in got["wrong_shape", 100]["message"]
    assert "wrong dtype" in got["wrong_dtype", 100]["message"]
    # slower than --timeout 2 in total, yet not cut short: each call returns in time
    assert got["slow", 100]["case_wall_s"] > 2 and got["slow", 100]["accuracy_ok"]


def test_healthy_cases_after_crashes_are_intact(faulty_sweep):
    """The healthy cases of the second size run after four crashes and a timeout; their
    outputs must be the very bits an in-process run produces."""
    _, records = faulty_sweep
    healthy = [r for r in records if r["impl"] in ("numpy", "array_api", "slow")]
    assert all(r["status"] == "ok" and r["accuracy_ok"] and r["time_median_s"] > 0 for r in healthy)
    reg = get_registry()
    ctx = RunContext(reg, seed=4, timing=TimingOptions(budget_s=0.005, min_samples=2, max_samples=3))
    for r in healthy:
        if r["impl"] == "slow":
            continue  # not in this process's registry
        again = execute_case(Case("saxpy", r["impl"], "numpy", "cpu", "float32", r["size"]), ctx)
        assert again["output_sha256"] == r["output_sha256"]
        assert again["inputs_sha256"] == r["inputs_sha256"]
        assert again["rel_error"] == pytest.approx(r["rel_error"], rel=0, abs=0)


def test_worker_is_reused_while_healthy(faulty_sweep):
    _, records = faulty_sweep
    by_key = {(r["impl"], r["size"]): r for r in records}
    # consecutive healthy cases share one worker; a crash or timeout starts a new one
    assert by_key["slow", 100]["worker_pid"] == by_key["last_wrong", 100]["worker_pid"]
    assert by_key["nan", 100]["worker_pid"] == by_key["wrong_shape", 100]["worker_pid"]
    assert by_key["array_api", 100]["worker_pid"] != os.getpid()
    assert all(r.get("isolation") == "worker" for r in records if r["worker_pid"] is not None)
    pids = {r["worker_pid"] for r in records if r["worker_pid"] is not None}
    assert len(pids) < len(records) / 2


# ------------------------------------------------------------------------------------------
# durability: kill and resume

KILL_ARGS = ["--kernels", "saxpy,sum", "--backends", "numpy", "--dtypes", "float32,float64",
             "--sizes", "100,200,300,400,500,600", "--budget", "0.02", "--quiet"]


def _case_ids(records):
    return [r["case_id"] for r in records]


def test_sigkill_keeps_finished_cases_and_resume_completes(tmp_path):
    import psutil

    killed_dir, full_dir = tmp_path / "killed", tmp_path / "full"
    proc = subprocess.Popen(harness_cmd("run", *KILL_ARGS, "--out", killed_dir), env=harness_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    n_lines = 0
    run_file = None
    while time.monotonic() < deadline and proc.poll() is None:
        files = list(killed_dir.rglob("*.jsonl"))
        if files:
            run_file = files[0]
            n_lines = run_file.read_bytes().count(b"\n")
            if n_lines >= 6:  # header + at least 5 records on disk
                break
        time.sleep(0.02)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read()}"
    workers = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    proc.stderr.close()
    # the worker must not outlive its parent
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"orphaned workers: {alive}"

    # every finished case is loadable
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResultsWarning)
        header, kept = read_run(run_file)
    assert len(kept) >= 5
    assert all(r["status"] == "ok" for r in kept)
    assert len(load_results(killed_dir)) == len(kept)
    # simulate a kill in the middle of writing a line
    with open(run_file, "ab") as f:
        f.write(b'{"kind":"record","case_id":"sum.num')

    res = run_harness("run", "--resume", run_file, "--out", killed_dir)
    assert res.returncode == 0, res.stderr
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResultsWarning)
        header2, resumed = read_run(run_file)
    assert any("damaged" in str(w.message) for w in caught)
    assert header2["run_id"] == header["run_id"]
    assert {r["run_id"] for r in resumed} == {header["run_id"]}
    assert len(header2.get("resumes", [])) == 1
    assert _case_ids(resumed)[: len(kept)] == _case_ids(kept)  # appended, nothing rewritten

    full = run_harness("run", *KILL_ARGS, "--out", full_dir)
    assert full.returncode == 0, full.stderr
    _, uninterrupted = read_run(only_run(full_dir))
    ids = _case_ids(resumed)
    assert len(ids) == len(set(ids)), "a case was run twice"
    assert sorted(ids) == sorted(_case_ids(uninterrupted))
    assert len(list(killed_dir.rglob("*.jsonl"))) == 1

    # nothing left: a second resume (of the latest run) changes nothing
    again = run_harness("run", "--resume", "--out", killed_dir)
    assert again.returncode == 0, again.stderr
    assert "nothing to resume" in again.stdout
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResultsWarning)
        assert len(read_run(run_file)[1]) == len(resumed)


# ------------------------------------------------------------------------------------------
# loading damaged files


def _good_run(path: Path, run_id: str, n: int = 3) -> None:
    header = {"run_id": run_id, "machine_id": MACHINE, "commit": None, "started": "2024-01-01T00:00:00+00:00"}
    w = RunWriter(path.parent, header, path=path)
    for i in range(n):
        w.write(new_record(kernel="sum", impl="numpy", backend="numpy", device="cpu", dtype="float32",
                           size=10 + i, status="ok", message="", rel_error=1e-7))


@pytest.fixture
def damaged_folder(tmp_path):
    d = tmp_path / "results" / MACHINE
    d.mkdir(parents=True)
    _good_run(d / "good.jsonl", "good")
    (d / "garbage.jsonl").write_bytes(os.urandom(4096))
    (d / "empty.jsonl").write_bytes(b"")
    (d / "foreign.jsonl").write_text('{"schema": "asv/benchmarks", "version": 2}\n{"a": 1}\n')
    (d / "list.jsonl").write_text('[1, 2, 3]\n')
    (d / "noline.jsonl").write_bytes(b"x" * (1 << 20) + b"y")
    head = {"kind": "header", "schema": SCHEMA, "run_id": "x", "machine_id": MACHINE}
    (d / "newer.jsonl").write_text(json.dumps({**head, "schema_version": SCHEMA_VERSION + 1}) + "\n")
    (d / "older.jsonl").write_text(json.dumps({**head, "schema_version": 0}) + "\n")
    (d / "strversion.jsonl").write_text(json.dumps({**head, "schema_version": "1"}) + "\n")
    # a good run whose end was lost: cut mid-line, then NUL filler as after a power loss
    _good_run(d / "cut.jsonl", "cut", n=4)
    text = (d / "cut.jsonl").read_bytes()
    (d / "cut.jsonl").write_bytes(text[:-30] + b"\x00" * 64)
    # a run with a record line that is JSON but not a record
    _good_run(d / "badrecord.jsonl", "badrecord", n=2)
    with open(d / "badrecord.jsonl", "a") as f:
        f.write('{"kind":"record","status":"ok"}\n{"kind":"record","case_id":"a","status":"exploded"}\n"str"\n')
    return tmp_path / "results"


def test_damaged_files_are_skipped_with_a_warning_naming_them(damaged_folder):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = load_results(damaged_folder)
    msgs = [str(w.message) for w in caught if issubclass(w.category, ResultsWarning)]
    text = "\n".join(msgs)
    for name in ("garbage", "empty", "foreign", "list", "noline", "newer", "older", "strversion"):
        assert any(f"{name}.jsonl" in m and "skipping" in m for m in msgs), (name, text)
    assert any("cut.jsonl" in m and "damaged" in m for m in msgs)
    assert any("badrecord.jsonl" in m and "3 damaged" in m for m in msgs)
    newer = next(m for m in msgs if "newer.jsonl" in m)
    assert "newer kernel-harness" in newer and "upgrade" in newer
    older = next(m for m in msgs if "older.jsonl" in m)
    assert "older" in older and "re-run" in older
    # the good records all load: 3 (good) + 3 (cut: the 4th was cut) + 2 (badrecord)
    assert sorted(df.run_id.value_counts().items()) == [("badrecord", 2), ("cut", 3), ("good", 3)]


def test_read_run_refuses_newer_schema(damaged_folder):
    with pytest.raises(SchemaVersionError, match="upgrade kernel-harness"):
        read_run(damaged_folder / MACHINE / "newer.jsonl")


def test_report_skips_damaged_files(damaged_folder, tmp_path):
    if "report" not in cli_main.commands:
        pytest.skip("no `harness report` command in this tree")
    res = run_harness("report", "--results", damaged_folder, "--out", tmp_path / "site", timeout=180)
    assert res.returncode == 0, res.stderr
    assert "garbage.jsonl" in res.stderr + res.stdout and "newer.jsonl" in res.stderr + res.stdout


def test_results_are_never_unpickled(tmp_path):
    """--save-arrays writes plain arrays that load with allow_pickle=False; results are JSON."""
    from harness.runner import save_case_arrays

    spec = get_registry().kernels["saxpy"]
    inputs = spec.make_inputs(10, "float32", 0)
    save_case_arrays(tmp_path / "c", inputs, np.zeros(10, np.float32), spec.reference_for(inputs))
    with np.load(tmp_path / "c" / "inputs.npz", allow_pickle=False) as z:
        assert z["x"].tobytes() == inputs.values["x"].tobytes()
    assert np.load(tmp_path / "c" / "reference.npy", allow_pickle=False).dtype == np.float64


# ------------------------------------------------------------------------------------------
# memory


def test_parse_memory():
    assert parse_memory("2G") == 2 << 30
    assert parse_memory("512M") == 512 << 20
    assert parse_memory("512MiB") == 512 << 20
    assert parse_memory("1.5g") == 3 << 29
    assert parse_memory("100k") == 102400
    assert parse_memory("4096") == 4096
    assert parse_memory(None) is None
    for bad in ("12iB", "2X", "G", "-1G", "", "0"):  # one parser refuses them everywhere
        with pytest.raises(click.BadParameter):
            parse_memory(bad)
    from harness.units import format_bytes, parse_bytes

    with pytest.raises(ValueError, match="not a size"):
        parse_bytes("12iB")  # HARNESS_WORKER_MEMORY reads sizes with the same parser
    assert parse_bytes("4096B") == 4096 and format_bytes(3 << 29) == "1.5 GiB"


def test_max_memory_skips_before_allocating():
    reg = get_registry()
    spec = reg.kernels["saxpy"]
    budget = memory_estimate(spec, 1000, "float64") + 1
    items = plan(reg, ["saxpy"], ["numpy"], ["float64"], [1000, 10**9], max_memory=budget)
    big = [i for i in items if isinstance(i, Skip) and i.case.size == 10**9]
    small = [i for i in items if not isinstance(i, Skip)]
    assert big and all("--max-memory" in s.reason for s in big)
    assert small and all(c.size == 1000 for c in small)


def test_peak_memory_is_per_case():
    """A big case followed by a small one in the same process: the small one must not
    inherit the big one's peak (ru_maxrss would)."""
    reg = get_registry()
    ctx = RunContext(reg, seed=0, timing=TimingOptions(budget_s=0.005, min_samples=2, max_samples=3))
    n = 2_000_000
    big = execute_case(Case("saxpy", "array_api", "numpy", "cpu", "float64", n), ctx)
    small = execute_case(Case("saxpy", "array_api", "numpy", "cpu", "float64", 100), ctx)
    assert big["status"] == small["status"] == "ok"
    moved = reg.kernels["saxpy"].bytes_moved(n, 8)  # inputs + output in float64
    assert big["peak_rss_delta_bytes"] >= 0.5 * moved
    assert big["peak_rss_delta_bytes"] <= 3 * big["mem_estimate_bytes"]
    assert small["peak_rss_delta_bytes"] < 0.25 * moved
    assert small["peak_rss_bytes"] >= small["rss_before_bytes"]
    if sys.platform.startswith("linux"):
        assert big["peak_rss_method"] in ("vmhwm", "sampled")


def test_max_memory_cli_and_memory_fields(tmp_path):
    res = CliRunner().invoke(cli_main, ["run", "--kernels", "saxpy", "--backends", "numpy", "--impls", "array_api",
                                        "--dtypes", "float32", "--sizes", "100,100000", "--budget", "0.005",
                                        "--no-isolate", "--max-memory", "64K", "--quiet", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    _, recs = read_run(only_run(tmp_path))
    by_size = {r["size"]: r for r in recs}
    assert by_size[100000]["status"] == "skipped" and "--max-memory 64 KiB" in by_size[100000]["message"]
    assert by_size[100000]["mem_estimate_bytes"] > 64 * 1024
    assert by_size[100]["status"] == "ok" and by_size[100]["peak_rss_bytes"] > 0


# ------------------------------------------------------------------------------------------
# bad input


@pytest.fixture
def a_file(tmp_path):
    f = tmp_path / "plain.txt"
    f.write_text("not a folder")
    return f


@pytest.mark.parametrize("args,needle", [
    (["--out", "{file}"], "is a file; give a folder"),
    (["--out", "{file}/sub"], "give a writable folder"),
    (["--save-arrays", "{file}"], "is a file; give a folder"),
    (["--max-memory", "lots"], "e.g. --max-memory 512M"),
    (["--max-memory", "0"], "more than 0"),
    (["--max-memory", "-1G"], "is not a size"),
    (["--timeout", "0"], "positive number of seconds"),
    (["--timeout", "soon"], "positive number of seconds"),
    (["--timeout", "-3"], "positive number of seconds"),
    (["--seed", "-1"], "seeds are integers >= 0"),
    (["--seed", "x"], "is not a valid integer"),
    (["--resume", "{tmp}/missing.jsonl"], "give a results file"),
    (["--resume", "{file}"], "not a kernel-harness results file"),
    (["--resume", "{newer}"], "newer kernel-harness"),
    (["--resume"], "to resume; start one"),
    (["--resume", "{other}"], "resume it on that machine"),
])
def test_run_usage_errors_exit_2(args, needle, tmp_path, a_file):
    out = tmp_path / "out"
    (tmp_path / "r").mkdir()
    newer = tmp_path / "r" / "newer.jsonl"
    newer.write_text(json.dumps({"kind": "header", "schema": SCHEMA, "schema_version": SCHEMA_VERSION + 1}) + "\n")
    good = tmp_path / "r" / "good.jsonl"
    _good_run(good, "good")
    other = tmp_path / "r" / "other.jsonl"
    RunWriter(tmp_path, {"run_id": "o", "machine_id": "another-machine", "options": {}}, path=other)
    args = [a.format(file=a_file, tmp=tmp_path, newer=newer, good=good, other=other) for a in args]
    if "--out" not in args:
        args += ["--out", str(out)]
    res = CliRunner().invoke(cli_main, ["run", "--kernels", "saxpy", "--backends", "numpy", "--sizes", "10",
                                        "--quiet", *args] if "--resume" not in args else ["run", *args])
    assert res.exit_code == 2, res.output
    assert needle in " ".join(res.output.split()), res.output
    assert not list(out.rglob("*.jsonl")) if out.exists() else True
    assert a_file.read_text() == "not a folder"


# ------------------------------------------------------------------------------------------
# seeds


@pytest.mark.opencl
def test_same_seed_same_input_bits_in_every_backend_and_run(tmp_path):
    """Two runs (isolated workers, and in-process), every available backend: the inputs of a
    (kernel, size, dtype) hash the same, the saved arrays are the same bytes, and a device
    receives exactly those bits."""
    reg = get_registry()
    backends = [b for b in ("numpy", "torch", "opencl") if reg.backend(b).available]
    common = ["run", "--kernels", "saxpy,sum", "--backends", ",".join(backends), "--dtypes", "float32,float16",
              "--sizes", "100,1001", "--budget", "0.005", "--seed", "11", "--quiet"]
    a = run_harness(*common, "--out", tmp_path / "a", "--save-arrays", tmp_path / "arr")
    assert a.returncode == 0, a.stderr
    b = CliRunner().invoke(cli_main, [*common, "--no-isolate", "--out", str(tmp_path / "b")])
    assert b.exit_code == 0, b.output
    c = CliRunner().invoke(cli_main, [*common[:-3], "--seed", "12", "--quiet", "--no-isolate",
                                      "--impls", "array_api", "--out", str(tmp_path / "c")])
    assert c.exit_code == 0, c.output

    digests: dict[tuple, set] = {}
    for folder in ("a", "b"):
        for r in read_run(only_run(tmp_path / folder))[1]:
            if r["status"] != "skipped":
                digests.setdefault((r["kernel"], r["size"], r["dtype"]), set()).add((r["backend"], r["inputs_sha256"]))
    assert digests
    for key, seen in digests.items():
        assert len({d for _, d in seen}) == 1, (key, seen)
        assert {b for b, _ in seen} >= {"numpy"}
    other = {(r["kernel"], r["size"], r["dtype"]): r["inputs_sha256"]
             for r in read_run(only_run(tmp_path / "c"))[1] if r["status"] == "ok"}
    assert all(other[k] != next(iter(v))[1] for k, v in digests.items() if k in other)

    # saved inputs: bit-identical files' arrays across backends
    saved: dict[tuple, bytes] = {}
    for case_dir in (tmp_path / "arr").iterdir():
        kernel, impl, backend, dev, dtype, size = case_dir.name.split(".")
        with np.load(case_dir / "inputs.npz", allow_pickle=False) as z:
            blob = b"".join(k.encode() + z[k].tobytes() for k in sorted(z.files))
        first = saved.setdefault((kernel, dtype, size), blob)
        assert blob == first, case_dir.name

    # what reaches each device is exactly those bits
    spec = reg.kernels["saxpy"]
    for dtype in ("float32", "float16"):
        host = spec.make_inputs(1001, dtype, 11).values["x"]
        for name in backends:
            for dev in reg.backend(name).devices():
                if dev.dtype_unsupported(dtype):
                    continue
                back = np.asarray(dev.to_host(dev.to_device(host, dtype)))
                assert back.dtype == host.dtype and back.tobytes() == host.tobytes(), (name, dtype)
