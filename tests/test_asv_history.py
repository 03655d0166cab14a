"""Issue 15 without running asv: commits in git order, steps flagged by the stated tests,
"newest" meaning the newest commit, failure reasons from the benchmark processes, the
import never writing into another machine's folder, and asv's machine named by the
harness id."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.record import new_record
from harness.report import history
from harness.report.data import latest
from harness.report.kernel_page import KernelPage
from harness.report.style import Style

REPO = Path(__file__).resolve().parents[1]
U32 = 2.0 ** -24


def rec(commit, date, measured, err=1e-8, t=1e-5, status="ok", message="", machine="m", samples=None):
    return new_record(kernel="sum", impl="numpy", backend="numpy", device="default", dtype="float32", size=1000,
                      status=status, message=message, machine_id=machine, commit=commit, run_id=f"r{commit}",
                      commit_date=date, timestamp=measured, time_median_s=t if status == "ok" else None,
                      time_samples_s=samples or ([t * (1 + 0.01 * i) for i in range(8)] if status == "ok" else None),
                      rel_error=err if status == "ok" else None, error_ratio=err / 1e-4 if status == "ok" else None,
                      accuracy_ok=True if status == "ok" else None, u=U32)


#: asv measures a range newest commit first: c3 (newest) was measured first
HISTORY = [rec("c3", "2026-01-03T00:00:00+00:00", "2026-02-01T00:00:01+00:00", err=1e-6),
           rec("c2", "2026-01-02T00:00:00+00:00", "2026-02-01T00:00:02+00:00", err=1e-8, t=3e-5),
           rec("c1", "2026-01-01T00:00:00+00:00", "2026-02-01T00:00:03+00:00", err=1e-8)]


def test_commits_in_commit_order_not_measurement_order():
    assert history.commit_order(HISTORY) == ["c1", "c2", "c3"]
    (newest,) = latest(HISTORY)
    assert newest["commit"] == "c3"  # the newest commit, not the baseline asv measured last


def test_git_order_wins_over_dates(tmp_path):
    def git(*a):
        return subprocess.run(["git", *a], cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()

    git("init", "-q")
    hashes = []
    for i in range(2):
        (tmp_path / "f").write_text(str(i))
        git("add", "f")
        git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", str(i))
        hashes.append(git("rev-parse", "HEAD"))
    # dates that claim the child is older: git's parent order decides
    recs = [rec(hashes[1], "2020-01-01T00:00:00+00:00", "x"), rec(hashes[0], "2021-01-01T00:00:00+00:00", "y")]
    assert history.commit_order(recs, cwd=str(tmp_path)) == hashes
    assert history.commit_order(recs, cwd=str(tmp_path / "nowhere")) == hashes[::-1]  # no git: dates


def test_steps_flag_accuracy_and_time_by_their_tests():
    by_commit = history.newest_per_commit(HISTORY)
    flagged = {c: flags for c, _, flags in history.steps(by_commit, ["c1", "c2", "c3"])}
    assert any(f.startswith("slower ×3") for f in flagged["c2"])  # 3× slower, MWU p < 0.01
    assert any(f.startswith("faster") for f in flagged["c3"])
    assert any(f.startswith("less accurate: rel_error 1e-08 → 1e-06") for f in flagged["c3"])


def test_small_changes_are_not_steps():
    """The tests can fail both ways: a 2× rel_error change below 10× is only 'rounding
    changed', the same samples are no time step, and equal errors are nothing."""
    a = rec("a", "2026-01-01", "t", err=1e-8)
    b = rec("b", "2026-01-02", "t", err=2e-8)
    c = rec("c", "2026-01-03", "t", err=2e-8)
    assert history.step(a, b) == ["rounding changed: rel_error 1e-08 → 2e-08"]
    assert history.step(b, c) == []


def test_failure_reason_in_steps_and_page():
    recs = HISTORY[1:] + [rec("c3", "2026-01-03T00:00:00+00:00", "t", status="error",
                              message="asv benchmark(s) failed: rel_error: error: RuntimeError: clBuildProgram")]
    flagged = history.steps(history.newest_per_commit(recs), ["c1", "c2", "c3"])
    assert flagged[-1][2][0].startswith("broke: asv benchmark(s) failed: rel_error: error: RuntimeError")
    page = KernelPage("sum", recs, recs, Style(["numpy"], ["m"]))
    html = page.history()
    assert "History across commits" in html and "clBuildProgram" in html and "Failures (1)" in html
    figs = [json.loads(b.split(">", 1)[1].rsplit("<", 1)[0]) for b in page.figs.blocks]
    titles = " ".join(f["layout"]["title"]["text"] for f in figs)
    assert "rel_error across commits" in titles and "median time" in titles
    (err_fig,) = [f for f in figs if f["layout"]["title"]["text"].startswith("rel_error")]
    assert err_fig["layout"]["xaxis"]["categoryarray"] == ["c1", "c2", "c3"]  # commit order, not measurement
    assert err_fig["data"][0]["x"] == ["c1", "c2"]  # c3 failed: no point, a row in Failures


def test_failure_reasons_recorded_and_imported(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    from benchmarks import _cases
    from harness.asv_bridge import failure_message, load_failures

    monkeypatch.setenv("ASV_CONF_DIR", str(tmp_path))
    monkeypatch.setenv("ASV_COMMIT", "abc123")
    monkeypatch.setenv("ASV_ENV_NAME", "env1")

    def broken(*case):
        raise RuntimeError("clBuildProgram failed: CL_BUILD_PROGRAM_FAILURE")

    with pytest.raises(RuntimeError):
        _cases.failing("time", broken, {}, "sum", "opencl", "float32", 1000)
    with pytest.raises(NotImplementedError):  # a skip is not a failure: nothing recorded
        _cases.failing("time", lambda *a: (_ for _ in ()).throw(NotImplementedError("no")), {}, "sum", "cupy",
                       "float32", 1000)
    reasons = load_failures(tmp_path / _cases.FAILURES_FILE, "abc123", "env1")
    assert list(reasons) == [("time", ("sum", "opencl", "float32", "1000"))]
    msg = failure_message(("sum", "opencl", "float32", 1000), ["time"], reasons, "abc123")
    assert "clBuildProgram failed" in msg
    assert load_failures(tmp_path / _cases.FAILURES_FILE, "other", "env1") == {}  # another commit's
    bare = failure_message(("sum", "opencl", "float32", 1000), ["time"], {}, "abc123")
    assert "no reason recorded" in bare and "--show-stderr" in bare


def _asv_results(root: Path, machine: str) -> None:
    """A minimal asv results folder of one machine: machine.json and one results file."""
    from asv import util

    d = root / machine
    d.mkdir(parents=True)
    util.write_json(str(d / "machine.json"), {"machine": machine, "cpu": "x"}, api_version=1)
    util.write_json(str(d / "abcdef12-env.json"), {
        "commit_hash": "abcdef1234", "env_name": "env", "date": 1.7e12, "params": {"machine": machine},
        "python": "3.11", "requirements": {}, "env_vars": {},
        "result_columns": ["result", "params", "version", "started_at", "duration"],
        "results": {"accuracy.SumAccuracy.track_rel_error": [[1e-8], [["'sum'"], ["'numpy'"], ["'float32'"], ["1000"]],
                                                            "v", 1.7e12, 1.0]},
        "durations": {}}, api_version=2)


def test_import_only_this_machine_and_never_into_anothers_folder(tmp_path, monkeypatch):
    pytest.importorskip("asv")
    from harness.cli import main

    monkeypatch.setenv("HARNESS_MACHINE_ID", "this-box")
    asv_dir, out = tmp_path / "asv", tmp_path / "results"
    _asv_results(asv_dir, "vm")
    runner = CliRunner()
    res = runner.invoke(main, ["import-asv", "--asv-results", str(asv_dir), "--out", str(out)])
    assert res.exit_code == 2 and "asv machines there: vm" in res.output and not out.exists()
    (out / "vm").mkdir(parents=True)
    (out / "vm" / "machine.json").write_text("{}")  # another box's harness folder
    res = runner.invoke(main, ["import-asv", "--asv-results", str(asv_dir), "--out", str(out), "--machine", "vm"])
    assert res.exit_code == 2 and "holds results of machine 'vm'" in res.output and "--out" in res.output
    assert sorted(p.name for p in (out / "vm").iterdir()) == ["machine.json"]  # nothing written
    _asv_results(asv_dir, "this-box")
    res = runner.invoke(main, ["import-asv", "--asv-results", str(asv_dir), "--out", str(out)])
    assert res.exit_code == 0, res.output
    (written,) = (out / "this-box").glob("asv-*.jsonl")
    header, record = (json.loads(line) for line in written.read_text().splitlines())
    assert header["machine_id"] == record["machine_id"] == "this-box"
    assert record["commit_date"] and record["rel_error"] == 1e-8


def test_asv_machine_is_the_harness_id(tmp_path, monkeypatch):
    pytest.importorskip("asv")
    from harness.cli import main

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("HARNESS_MACHINE_ID", "box-1")
    runner = CliRunner()
    assert runner.invoke(main, ["asv-machine", "--id"]).output.strip() == "box-1"
    res = runner.invoke(main, ["asv-machine"])
    assert res.exit_code == 0, res.output
    stored = json.loads((tmp_path / ".asv-machine.json").read_text())
    assert set(stored) == {"box-1", "version"}  # no hostname entry beside it
    assert all(stored["box-1"].get(k) for k in ("os", "arch", "cpu", "num_cpu", "ram"))
    monkeypatch.setenv("HARNESS_MACHINE_ID", "../bad")
    assert runner.invoke(main, ["asv-machine"]).exit_code == 2


def test_compare_resolves_git_names(tmp_path, monkeypatch):
    from harness.cli.compare_cmd import git_commit_of

    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    monkeypatch.chdir(REPO)
    assert git_commit_of("HEAD") == head
    assert git_commit_of("asv-00000000-deadbeef") == "asv-00000000-deadbeef"  # a run id stays itself
    assert git_commit_of(str(tmp_path)) == str(tmp_path)  # a folder stays itself
