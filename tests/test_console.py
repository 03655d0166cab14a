"""Issue 16, console and set-up: progress in a pipe, a layout that fits 80 columns, failures
grouped by cause with the whole message, empty name lists refused, `--resume` with the
run's own options, CuPy's reason, warnings once, the report's baseline label, and the
README's fresh-machine commands."""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from harness.record import new_record

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
LONG = ("run: RuntimeError: the device refused the kernel because /a/rather/long/path/to/a/compiler/"
        "cache/that/is/longer/than/any/column/kernel.bin is locked by another process (pid 4242)")


def harness(*args, env=None, timeout=300):
    full = dict(os.environ, HARNESS_MACHINE_ID="console-machine", COLUMNS="80", **(env or {}))
    full["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), str(ROOT), os.environ.get("PYTHONPATH")]))
    full.pop("HARNESS_EXTRA_MODULES", None)
    if "extra" in (env or {}):
        full["HARNESS_EXTRA_MODULES"] = full.pop("extra")
    return subprocess.run([sys.executable, "-c", "from harness.cli import main; main()", *map(str, args)],
                          capture_output=True, text=True, env=full, timeout=timeout, cwd=ROOT)


def flat(text: str) -> str:
    return " ".join(text.split())


def squash(text: str) -> str:
    """Without any whitespace: a word longer than the console is folded across lines."""
    return "".join(text.split())


def rec(impl="numpy", size=10, status="ok", message="", **kw):
    base = dict(kernel="saxpy", impl=impl, backend="numpy", device="cpu", dtype="float32", size=size,
                status=status, message=message, time_median_s=1e-6 if status == "ok" else None,
                error_ratio=0.1 if status == "ok" else None, verdict="within" if status == "ok" else None,
                accuracy_ok=status == "ok", bound_kind="rigorous", flops=2 * size, bytes=12 * size,
                gflops=1.0, gbps=1.0)
    base.update(kw)
    return new_record(**base)


def render(fn, *args, width=80) -> str:
    out = io.StringIO()
    fn(Console(file=out, width=width, highlight=False), *args)
    return out.getvalue()


# --- progress in a pipe -------------------------------------------------------------------

def test_progress_lines_every_n_cases_and_every_10_s():
    from harness.cli.progress import ProgressLines

    clock = iter([0.0, 1, 2, 3, 4, 15, 16, 17, 18, 19, 20]).__next__  # the first call is the start
    lines = []
    p = ProgressLines(10, lines.append, every=4, interval_s=10, clock=clock)
    for i in range(10):
        p.advance(rec(status="error" if i in (1, 2) else "ok", size=i))
    # after case 4 (every 4th), 5 (11 s since the last line), 8 (every 4th) and 10 (the last)
    assert [ln.split("]")[0] for ln in lines] == ["[4/10", "[5/10", "[8/10", "[10/10"]
    assert lines[0] == "[4/10] 40%, 2 failed, 4 s elapsed, ETA 6 s (at saxpy)"
    assert lines[-1].startswith("[10/10] 100%, 2 failed, 20 s elapsed, ETA 0 s")


def test_run_in_a_pipe_prints_progress_lines(tmp_path):
    proc = harness("run", "--kernels", "saxpy", "--backends", "numpy", "--preset", "test", "--dtypes",
                   "float32", "--budget", "0.005", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    progress = [ln for ln in proc.stdout.splitlines() if re.match(r"\[\d+/\d+\] \d+%, \d+ failed", ln)]
    assert progress and progress[-1].startswith("[4/4] 100%, 0 failed") and "ETA" in progress[-1]


# --- 80 columns, failures grouped ---------------------------------------------------------

def test_run_output_fits_80_columns_and_shows_the_whole_cause(tmp_path):
    proc = harness("run", "--kernels", "saxpy", "--backends", "numpy", "--impls", "numpy,raises,nan",
                   "--preset", "test", "--dtypes", "float32,float64", "--budget", "0.005", "--out", tmp_path,
                   env={"extra": "faulty_impls"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(map(len, lines)) <= 80, max(lines, key=len)
    assert "…" not in proc.stdout
    text = flat(proc.stdout)
    # 8 errors, one line for their cause with the message whole (it is longer than 60 characters)
    assert text.count("RuntimeError: deliberate failure in saxpy_raises at faulty_impls.py") == 1
    assert "error 8 case(s): run: RuntimeError: deliberate failure in saxpy_raises" in text
    assert "saxpy numpy:raises f32,f64 n=1,7,1000,1025" in text
    assert "nan 8 case(s)" in text


def test_summary_at_80_columns_cuts_nothing():
    from harness.cli.summary import print_summary

    records = [rec(), rec(impl="opencl_tiled16", size=10_000_000, kernel="quadratic_fit"),
               *[rec(impl="broken", size=n, status="error", message=LONG.replace("4242", str(n)))
                 for n in (10, 100, 1000)],
               rec(size=5, verdict="unbounded", error_ratio=None, verdict_reason="relative bound 1 >= 1: an "
                   "output of zeros would pass, so no bound that can fail exists at this size")]
    out = render(print_summary, records)
    assert max(map(len, out.splitlines())) <= 80 and "…" not in out
    assert "quadratic_fit" in out and "10000000" in out and "numpy:opencl_tiled16" in out
    assert squash(f"error 3 case(s): {LONG.replace('4242', '10')}") in squash(out)  # the first one, whole
    assert "an output of zeros would pass, so no bound that can fail exists at this size" in flat(out)


def test_failures_group_by_cause_not_by_case():
    from harness.cli.summary import cause_groups

    records = [rec(status="error", message="oom: could not allocate 800 bytes", size=100),
               rec(status="error", message="oom: could not allocate 8000 bytes", size=1000),
               rec(status="error", message="a different cause", size=1000),
               rec(status="timeout", message="oom: could not allocate 8 bytes", size=1)]
    groups = cause_groups(records)
    assert [(g["what"], len(g["records"]), g["message"]) for g in groups] == [
        ("error", 2, "oom: could not allocate 800 bytes"), ("error", 1, "a different cause"),
        ("timeout", 1, "oom: could not allocate 8 bytes")]


def test_wide_console_keeps_every_column():
    from harness.cli.summary import print_summary

    out = render(print_summary, [rec()], width=180)
    assert "±IQR" in out and "throughput" in out and "rel. error" in out


def test_check_backend_prints_each_detail_whole():
    from harness.cli.check_backend_cmd import print_checks
    from harness.conformance import CheckResult

    results = [CheckResult("registration", "pass", "from builtin"),
               CheckResult("kernel sum [x] float32", "fail", LONG, 0.5),
               *[CheckResult(f"kernel {k} [x] float32", "skip", "device x unusable: " + LONG) for k in "ab"]]
    out = render(print_checks, "x", "builtin", results)
    assert "…" not in out and max(map(len, out.splitlines())) <= 80
    assert squash(f"FAIL kernel sum [x] float32 (0.50 s): {LONG}") in squash(out)
    assert squash(f"skip 2 check(s): device x unusable: {LONG}") in squash(out)  # one cause, once
    assert out.count("skip ") == 1


def test_machine_table_prints_each_error_whole():
    from harness.cli.machine_cmd import print_ceilings

    data = {"machine_id": "m", "mode": "full", "measured_at": "now",
            "ceilings": {"opencl:Intel(R) OpenCL:AMD EPYC": {"copy_gbps": 10.0, "error": LONG},
                         "numpy:cpu": {"copy_gbps": 20.0, "peak_gflops": {"float32": 50.0}}}}
    out = render(print_ceilings, data, True, "results/m/machine.json")
    assert "…" not in out and max(map(len, out.splitlines())) <= 80
    assert squash(f"error 1, opencl:Intel(R) OpenCL:AMD EPYC: {LONG}") in squash(out)


# --- option validation --------------------------------------------------------------------

@pytest.mark.parametrize("option,value", [("--kernels", ""), ("--backends", ""), ("--impls", ","),
                                          ("--kernels", " , "), ("--sizes", "")])
def test_empty_name_list_is_a_usage_error(option, value, tmp_path):
    from click.testing import CliRunner

    from harness.cli import main

    res = CliRunner().invoke(main, ["run", "--kernels", "saxpy", "--backends", "numpy", "--preset", "test",
                                    "--quiet", "--out", str(tmp_path), option, value],
                             env={"HARNESS_MACHINE_ID": "console-machine"})
    assert res.exit_code == 2, res.output
    assert f"names nothing; give at least one, e.g. {option}" in flat(res.output)
    assert not list(tmp_path.rglob("*.jsonl"))


def test_resume_accepts_the_runs_own_options_and_refuses_others(tmp_path):
    opts = ["--kernels", "saxpy", "--backends", "numpy", "--impls", "array_api", "--dtypes", "float32", "--sizes", "10,20",
            "--budget", "0.005", "--seed", "3", "--quiet", "--out", tmp_path]
    first = harness("run", *opts)
    assert first.returncode == 0, first.stderr
    (run_file,) = tmp_path.rglob("*.jsonl")
    lines = run_file.read_text().splitlines()
    last = max(i for i, ln in enumerate(lines) if '"kind":"record"' in ln)
    run_file.write_text("\n".join(lines[:last]) + "\n")  # as if killed before the last case
    again = harness("run", *opts, "--resume", run_file)  # the same command, --resume appended
    assert again.returncode == 0, again.stderr
    recorded = [json.loads(ln) for ln in run_file.read_text().splitlines()]
    assert sorted(r["size"] for r in recorded if r.get("kind") == "record") == [10, 20]
    reordered = harness("run", "--resume", run_file, "--sizes", "20,10", "--kernels", "saxpy")
    assert reordered.returncode == 0 and "nothing to resume" in reordered.stdout, reordered.stderr
    other = harness("run", "--resume", run_file, "--kernels", "sum", "--seed", "3", "--budget", "0.01")
    assert other.returncode == 2
    msg = flat(other.stderr)
    assert "--kernels sum (the run: saxpy)" in msg and "--budget 0.01 (the run: 0.005)" in msg
    assert "--seed" not in msg  # equal to the run's: not a difference
    assert run_file.read_text().count('"kind":"record"') == 2


# --- CuPy's reason ------------------------------------------------------------------------

class _CudaError(RuntimeError):
    status = 35


def test_cupy_reason_says_no_cuda_device_first(monkeypatch):
    from harness.backends import cupy_backend

    exc = _CudaError("cudaErrorInsufficientDriver: CUDA driver version is insufficient for CUDA runtime version")
    monkeypatch.setattr(cupy_backend, "nvidia_device_present", lambda: False)
    reason = cupy_backend.cuda_failure_reason(exc)
    assert reason.startswith("no CUDA device") and reason.endswith(f"_CudaError: {exc}")
    monkeypatch.setattr(cupy_backend, "nvidia_device_present", lambda: True)  # a GPU with an old driver
    assert cupy_backend.cuda_failure_reason(exc) == f"_CudaError: {exc}"


def test_cupy_probe_on_this_machine_names_the_missing_device():
    pytest.importorskip("cupy")
    from harness.backends.cupy_backend import nvidia_device_present
    from harness.registry import get_registry

    if nvidia_device_present():
        pytest.skip("an NVIDIA device is present")
    ok, reason = get_registry().backend("cupy").probe()
    assert not ok and reason.startswith("no CUDA device") and "CUDA says: " in reason


# --- load_results warns once ----------------------------------------------------------------

def test_load_results_prints_each_warning_once(tmp_path):
    from harness.store import RunWriter

    (tmp_path / "m").mkdir()
    w = RunWriter(tmp_path, {"run_id": "r", "machine_id": "m"}, path=tmp_path / "m" / "r.jsonl")
    w.write(rec())
    with open(w.path, "a") as f:
        f.write('{"kind": "record", "cut')
    (tmp_path / "m" / "junk.jsonl").write_bytes(b"\x00\x01binary")
    code = f"import harness; print(len(harness.load_results({str(tmp_path)!r})))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.stdout.strip() == "1", proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2, proc.stderr  # one line per problem: no echoed harness source line
    assert sum("r.jsonl: 1 damaged line(s)" in ln for ln in lines) == 1
    assert sum("junk.jsonl" in ln for ln in lines) == 1
    assert all("ResultsWarning" in ln for ln in lines)


# --- the report's baseline label ----------------------------------------------------------

def test_report_calls_only_numpys_own_implementation_the_baseline():
    from harness.report.index_page import kernel_list

    def ok(impl, t):
        return rec(impl=impl, size=1000, time_median_s=t, time_iqr_s=t / 10, time_samples_s=[t] * 3,
                   n_samples=3, transfer_s=0.0, rel_error=1e-8, error_bound=1e-7, machine_id="m", commit="c",
                   run_id="r", u=2**-24)

    html = kernel_list(SimpleNamespace(kernels=["saxpy"], machines=["m"]), [ok("numpy", 2e-3), ok("array_api", 1e-3)])
    fastest = html.split("fastest at the largest size", 1)[1]
    assert "<b>numpy:array_api</b> (2× NumPy)" in fastest and "the baseline" not in fastest
    html = kernel_list(SimpleNamespace(kernels=["saxpy"], machines=["m"]), [ok("numpy", 1e-3), ok("array_api", 2e-3)])
    assert "<b>numpy</b> (the baseline)" in html


# --- the README's set-up ------------------------------------------------------------------

def test_readme_fresh_machine_commands_are_complete():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    run_cmds, test_cmds = ([ln for ln in b.splitlines() if ln and not ln.startswith("#")] for b in blocks[:2])
    assert run_cmds[0].startswith("git clone ") and "&& cd kernel-harness" in run_cmds[0]
    assert run_cmds[-1].endswith("harness run --preset quick")
    assert test_cmds[-1].endswith("python -m pytest -q")
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_cmds[-1] in ci  # CI runs exactly the README's test command
    before_tests = readme[:readme.index(test_cmds[-1])]
    assert "chromium" in before_tests.lower() and "chromedriver" in before_tests
    assert re.search(r"\b2\d0 MB\b.*CuPy|CuPy.*\b2\d0 MB\b", flat(readme))
