"""The reliability holes found by the attack trial of issue 16, one test (or more) per row
F1-F15: each fails on the harness before the fix.

Attacking implementations live in tests/attack_impls.py and run only in subprocesses,
picked with --impls. Every subprocess gets its own TMPDIR (worker logs) and --out.
"""
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness import load_results
from harness.cli import main as cli_main
from harness.record import SCHEMA, SCHEMA_VERSION, new_record
from harness.store import ResultsWarning, RunWriter, read_run

TESTS = Path(__file__).resolve().parent
MACHINE = "test-machine"
SAXPY = ("run", "--kernels", "saxpy", "--backends", "numpy", "--dtypes", "float32", "--budget", "0.005",
         "--seed", "1")


def attack_env(tmp_path: Path, **extra: str) -> dict:
    env = dict(os.environ, HARNESS_MACHINE_ID=MACHINE, HARNESS_EXTRA_MODULES="attack_impls",
               TMPDIR=str(tmp_path), ATTACK_PID_FILE=str(tmp_path / "child.pid"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    env.pop("HARNESS_COMMIT", None)
    env.update(extra)
    return env


def harness_cmd(*args) -> list[str]:
    return [sys.executable, "-c", "from harness.cli import main; main()", *map(str, args)]


def run_attack(tmp_path, *args, timeout=60, **env):
    return subprocess.run(harness_cmd(*args), capture_output=True, text=True, timeout=timeout,
                          env=attack_env(tmp_path, **env))


def run_file(out: Path) -> Path:
    files = list(out.rglob("*.jsonl"))
    assert len(files) == 1, files
    return files[0]


def caught_warnings(fn, *args):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = fn(*args)
    return value, [str(w.message) for w in caught if issubclass(w.category, ResultsWarning)]


def write_run(path: Path, lines: list, header_extra: dict | None = None, raw_lines: list[str] = ()) -> Path:
    """A results file: a good header, records made by new_record (dicts, updated by the
    given overrides), then raw text lines as an attacker would write them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"kind": "header", "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "run_id": path.stem,
              "machine_id": MACHINE, "commit": "abc", "started": "2024-01-01T00:00:00+00:00",
              **(header_extra or {})}
    out = [json.dumps(header)]
    for i, overrides in enumerate(lines):
        fields = dict(kernel="sum", impl="numpy", backend="numpy", device="cpu", dtype="float32",
                      size=10 + i, status="ok", rel_error=1e-7, time_median_s=1e-6, time_samples_s=[1e-6])
        rec = new_record(**{**fields, **overrides})
        out.append(json.dumps({"kind": "record", **rec}))
    out += list(raw_lines)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def _dead(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return any(line.startswith("State:") and "Z" in line for line in f)  # a zombie is dead
    except FileNotFoundError:
        return True


# ------------------------------------------------------------------------------------------
# F1: one writer per run file; duplicates dropped on load

def test_f1_resume_of_a_run_still_going_is_refused(tmp_path):
    out = tmp_path / "out"
    first = subprocess.Popen(harness_cmd(*SAXPY, "--impls", "sleepy", "--sizes", "100", "--timeout", "30",
                                         "--out", out, "--quiet"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=attack_env(tmp_path))
    try:
        deadline = time.monotonic() + 30
        while not list(out.rglob("*.jsonl")) and time.monotonic() < deadline:
            time.sleep(0.1)
        path = run_file(out)
        assert first.poll() is None, "the first run ended before the test could resume it"
        second = run_attack(tmp_path, "run", "--resume", path, "--quiet")
        assert second.returncode == 2, second.stderr
        assert "being written by another" in second.stderr and str(path.name) in second.stderr
    finally:
        first.wait(60)
    assert first.returncode == 0, first.stderr
    _, records = read_run(path)
    assert [r["impl"] for r in records] == ["sleepy"]


def test_f1_duplicate_case_records_are_dropped_with_a_warning(tmp_path):
    path = write_run(tmp_path / "r" / "dup.jsonl", [{}, {"size": 11}, {"size": 10, "rel_error": 5e-7}])
    df, msgs = caught_warnings(load_results, tmp_path / "r")
    assert len(df) == 2 and sorted(df["size"]) == [10, 11]
    assert df.loc[df["size"] == 10, "rel_error"].item() == 1e-7  # the first record is kept
    assert any("dup.jsonl" in m and "1 duplicate" in m and "sum.numpy.numpy.cpu.float32.10" in m for m in msgs), msgs


# ------------------------------------------------------------------------------------------
# F2-F4, F12: bad lines skipped with a warning naming file and line; BOM accepted

def test_f2_deeply_nested_line_is_skipped_not_fatal(tmp_path):
    deep = '{"kind":"record","x":' + "[" * 100_000 + "]" * 100_000 + "}"
    write_run(tmp_path / "r" / "deep.jsonl", [{}, {"size": 11}], raw_lines=[deep])
    write_run(tmp_path / "r" / "deephead.jsonl", [])
    (tmp_path / "r" / "deephead.jsonl").write_text("[" * 100_000 + "]" * 100_000 + "\n")
    df, msgs = caught_warnings(load_results, tmp_path / "r")
    assert len(df) == 2
    assert any("deep.jsonl" in m and "line 4" in m for m in msgs), msgs
    assert any("deephead.jsonl" in m and "skipping" in m for m in msgs), msgs


BAD_RECORDS = {  # F3 and F4: valid JSON of the wrong type or range
    "rel_error": 10 ** 400, "size": True, "time_median_s": -1, "case_id": "", "n_samples": 2.5,
    "accuracy_ok": "yes", "time_samples_s": [1e-6, -3], "kernel": "s\u202eum",
}


def test_f3_f4_wrongly_typed_records_are_skipped_naming_line_and_field(tmp_path):
    lines = [{}] + [{k: v, "size": 20 + i} if k != "size" else {k: v} for i, (k, v) in enumerate(BAD_RECORDS.items())]
    lines.append({"size": "1000"})
    path = write_run(tmp_path / "r" / "typed.jsonl", lines)
    (_, records), msgs = caught_warnings(read_run, path)
    assert [r["size"] for r in records] == [10]
    text = "\n".join(msgs)
    assert f"{len(BAD_RECORDS) + 1} damaged line(s)" in text and "typed.jsonl" in text
    for field, line in (("rel_error", 3), ("size", 4), ("time_median_s", 5), ("case_id", 6)):
        assert f"{line} ({field} " in text, (field, text)


def test_f3_header_of_the_wrong_type_skips_the_file(tmp_path):
    write_run(tmp_path / "r" / "good.jsonl", [{}])
    write_run(tmp_path / "r" / "notadict.jsonl", [{"size": 99}], header_extra={"machine": "notadict"})
    df, msgs = caught_warnings(load_results, tmp_path / "r")
    assert list(df["size"]) == [10]
    assert any("notadict.jsonl" in m and "'machine'" in m for m in msgs), msgs


def test_f3_report_and_compare_survive_bad_values(tmp_path):
    """F3 (report no longer crashes) and F5 (compare shows the same warnings)."""
    a = write_run(tmp_path / "a" / MACHINE / "a.jsonl", [{}, {"size": 11}], raw_lines=[
        json.dumps({"kind": "record", **new_record(kernel="sum", impl="numpy", backend="numpy", device="cpu",
                                                   dtype="float32", size=12, status="ok", rel_error=10 ** 400)})])
    b = write_run(tmp_path / "b" / MACHINE / "b.jsonl", [{}, {"size": 11}], header_extra={})
    (tmp_path / "b" / MACHINE / "bad.jsonl").write_text(json.dumps({"kind": "header", "schema": SCHEMA,
                                                                    "schema_version": 1, "machine": "x"}) + "\n")
    runner = CliRunner()
    res = runner.invoke(cli_main, ["compare", str(a), str(tmp_path / "b" / MACHINE)])
    assert res.exit_code == 0, res.output + res.stderr
    assert "a.jsonl" in res.stderr and "line 4" in res.stderr, res.stderr
    assert "bad.jsonl" in res.stderr and "'machine'" in res.stderr, res.stderr
    res = runner.invoke(cli_main, ["report", "--results", str(tmp_path / "a"), "--out", str(tmp_path / "site")])
    assert res.exit_code == 0, res.output + res.stderr + repr(res.exception)
    assert b.exists()


def test_f12_bom_is_accepted_and_symlink_loops_are_warned(tmp_path):
    folder = tmp_path / "r"
    path = write_run(folder / "bom.jsonl", [{}, {"size": 11}])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    (folder / "loop.jsonl").symlink_to(folder / "loop.jsonl")
    (folder / "dangling.jsonl").symlink_to(folder / "nowhere.jsonl")
    df, msgs = caught_warnings(load_results, folder)
    assert len(df) == 2, msgs
    assert any("loop.jsonl" in m and "symbolic link" in m for m in msgs), msgs
    assert any("dangling.jsonl" in m for m in msgs), msgs


# ------------------------------------------------------------------------------------------
# F6: a full disk

ENOSPC_AFTER = """
import errno, os, sys
calls = [0]
real = os.fsync
def fsync(fd):
    calls[0] += 1
    if calls[0] >= {n}:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return real(fd)
os.fsync = fsync
from harness.cli import main
sys.argv[0] = "harness"
main()
"""


def _run_disk_full(tmp_path, n, out):
    """A run whose n-th fsync fails with ENOSPC (1: the header, 3: the first record after
    the header and its folder)."""
    return subprocess.run([sys.executable, "-c", ENOSPC_AFTER.format(n=n), *SAXPY, "--impls", "array_api",
                           "--sizes", "100,1001", "--no-isolate", "--out", str(out), "--quiet"],
                          capture_output=True, text=True, timeout=60, env=attack_env(tmp_path))


def test_f6_disk_full_mid_run_keeps_records_and_says_how_to_resume(tmp_path):
    out = tmp_path / "out"
    res = _run_disk_full(tmp_path, 4, out)
    assert res.returncode == 2, res.stderr
    path = run_file(out)
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert str(path) in res.stderr and "No space left" in res.stderr and f"--resume {path}" in res.stderr
    (_, records), msgs = caught_warnings(read_run, path)
    assert len(records) == 1 and not msgs  # the record before is intact, no cut line left
    done = run_attack(tmp_path, "run", "--resume", path, "--no-isolate", "--quiet")
    assert done.returncode == 0, done.stderr
    assert sorted(r["size"] for r in read_run(path)[1]) == [100, 1001]


def test_f6_disk_full_before_the_header_leaves_no_file(tmp_path):
    out = tmp_path / "out"
    res = _run_disk_full(tmp_path, 1, out)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and "No space left" in res.stderr and "nothing was recorded" in res.stderr
    assert not list(out.rglob("*.jsonl"))


# ------------------------------------------------------------------------------------------
# F7: SIGTERM; F11: worker logs

def _worker_logs(folder: Path) -> list[Path]:
    return sorted(folder.glob("harness-worker-*.log"))


def test_f7_sigterm_stops_like_ctrl_c(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(harness_cmd(*SAXPY, "--impls", "array_api,sleepy", "--sizes", "100", "--timeout", "30",
                                        "--out", out, "--quiet"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=attack_env(tmp_path))
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:  # wait for the first record: the second case (sleepy) runs now
        files = list(out.rglob("*.jsonl"))
        if files and len(files[0].read_text().splitlines()) >= 2:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 143, (proc.returncode, stderr)
    path = run_file(out)
    stdout = stdout.replace("\n", " ")  # the console wraps long lines
    kept = read_run(path)[1]
    assert [r["impl"] for r in kept] == ["array_api"]
    assert f"terminated: {len(kept)} records kept" in stdout and f"--resume {path}" in stdout, stdout
    assert not _worker_logs(tmp_path)


def test_f11_logs_of_killed_runs_are_cleaned_on_the_next_start(tmp_path, monkeypatch):
    import tempfile

    from harness.registry import get_registry
    from harness.runner import RunContext
    from harness.worker import CaseSupervisor

    dead_pid = subprocess.Popen(["true"])  # a pid that no longer runs
    dead_pid.wait()
    stale = tmp_path / f"harness-worker-{dead_pid.pid}-abc.log"
    old = tmp_path / "harness-worker-k3j4_x.log"  # older harness: no pid in the name
    live = tmp_path / f"harness-worker-{os.getpid()}-live.log"
    for p in (stale, old, live):
        p.write_text("Fatal Python error\n")
    os.utime(old, (time.time() - 3 * 86400,) * 2)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    sup = CaseSupervisor(RunContext(get_registry(), machine_id=MACHINE), timeout_s=30)
    sup.start()
    try:
        assert not stale.exists() and not old.exists() and live.exists()
        assert len(_worker_logs(tmp_path)) == 2  # the live one, and this worker's
    finally:
        sup.close(kill=True)
    assert _worker_logs(tmp_path) == [live]


# ------------------------------------------------------------------------------------------
# F8: forks; F9, F14: memory

def test_f8_a_forked_child_dies_with_the_run(tmp_path):
    out = tmp_path / "out"
    t0 = time.monotonic()
    res = run_attack(tmp_path, *SAXPY, "--impls", "forks_child", "--sizes", "100,1001", "--timeout", "20",
                     "--out", out, "--quiet", timeout=25)  # capture_output waits for stdout to close
    assert res.returncode == 0, res.stderr
    assert time.monotonic() - t0 < 20
    records = read_run(run_file(out))[1]
    assert [r["status"] for r in records] == ["ok", "ok"]
    # killed right after the case that left it running, so the next case is timed alone
    assert [r.get("stray_processes_killed") for r in records] == [1, None]
    assert _dead(int((tmp_path / "child.pid").read_text()))


def test_f8_exit_without_result_is_crashed_at_once(tmp_path):
    out = tmp_path / "out"
    res = run_attack(tmp_path, *SAXPY, "--impls", "fork_exit", "--sizes", "100", "--timeout", "20",
                     "--out", out, "--quiet", timeout=40)
    assert res.returncode == 0, res.stderr
    [rec] = read_run(run_file(out))[1]
    assert rec["status"] == "crashed" and "exit code 0" in rec["message"], rec["message"]
    assert rec["case_wall_s"] < 10
    assert _dead(int((tmp_path / "child.pid").read_text()))


def test_f9_runaway_allocation_is_oom_with_the_limit(tmp_path):
    out = tmp_path / "out"
    res = run_attack(tmp_path, *SAXPY, "--impls", "runaway,array_api", "--sizes", "100", "--timeout", "30",
                     "--out", out, "--quiet", HARNESS_WORKER_MEMORY="256M")
    assert res.returncode == 0, res.stderr
    recs = {r["impl"]: r for r in read_run(run_file(out))[1]}
    assert recs["runaway"]["status"] == "oom", recs["runaway"]["message"]
    assert "worker memory limit" in recs["runaway"]["message"] and "MiB" in recs["runaway"]["message"]
    assert recs["array_api"]["status"] == "ok"  # the next worker, under the same limit, is healthy


def test_f9_sigkill_while_holding_memory_is_likely_oom(tmp_path):
    out = tmp_path / "out"
    res = run_attack(tmp_path, *SAXPY, "--impls", "killed_fat", "--sizes", "100", "--timeout", "30",
                     "--out", out, "--quiet", HARNESS_WORKER_MEMORY="320M")
    assert res.returncode == 0, res.stderr
    [rec] = read_run(run_file(out))[1]
    assert rec["status"] == "oom" and "likely out of memory" in rec["message"], rec["message"]
    assert "SIGKILL" in rec["message"] and "MiB resident" in rec["message"]


def test_f14_allocation_failures_of_every_library_are_oom():
    from harness.runner import failure_status

    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError) as real:  # torch on the CPU: not a MemoryError
        torch.empty(1 << 50, dtype=torch.float32)
    assert failure_status(real.value) == "oom"
    try:
        try:
            raise MemoryError("in softmax")
        except MemoryError as exc:
            raise RuntimeError("kernel failed") from exc
    except RuntimeError as wrapped:
        assert failure_status(wrapped) == "oom"
    assert failure_status(RuntimeError("wrong shape")) == "error"


# ------------------------------------------------------------------------------------------
# F10, F13, F15

def test_f10_bad_harness_commit_is_a_usage_error(tmp_path):
    res = run_attack(tmp_path, *SAXPY, "--impls", "array_api", "--sizes", "100", "--out", tmp_path / "out",
                     "--no-isolate", "--quiet", HARNESS_COMMIT="ab/cd")
    assert res.returncode == 2, res.stderr
    assert "HARNESS_COMMIT='ab/cd' is not a commit" in res.stderr and "Traceback" not in res.stderr
    assert not list((tmp_path / "out").rglob("*.jsonl"))


def test_f13_bidi_names_are_refused_at_registration():
    from harness.registry import Implementation, Registry, get_registry

    reg = Registry()
    reg.add_kernel(get_registry().kernels["saxpy"])
    with pytest.raises(ValueError, match="U\\+202E"):
        reg.add_implementation(Implementation("saxpy", "numpy", "num\u202eypy", lambda dev, **kw: None, None))
    with pytest.raises(ValueError, match="U\\+200B"):
        reg.add_backend("nu\u200bmpy", lambda: None)
    assert list(reg.impls) == [] and list(reg.backend_factories) == []


def test_f15_closed_stdout_is_a_quiet_exit_with_records_intact(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(harness_cmd(*SAXPY, "--impls", "array_api", "--sizes", "100,1001", "--no-isolate",
                                        "--out", out),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=attack_env(tmp_path))
    proc.stdout.close()  # like `| head -c 0`: the reader is gone before the first line
    stderr = proc.stderr.read()
    proc.wait(60)
    assert proc.returncode == 128 + signal.SIGPIPE, (proc.returncode, stderr)
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) <= 1, stderr
    (_, records), msgs = caught_warnings(read_run, run_file(out))
    assert not msgs
    if records != []:
        assert sorted(r["size"] for r in records) == [100, 1001]
    else:
        assert "--resume" in stderr
