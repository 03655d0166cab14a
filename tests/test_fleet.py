"""Fleet sweeps on a real Dask cluster on 127.0.0.1: `dask scheduler`, and `dask worker`
processes started with Dask's own CLI, each made a machine of its own by
HARNESS_FLEET_TEST_MACHINE. Every process runs in its own process group and is killed
with it at teardown; every wait has a deadline; results go under tmp_path only."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from harness.fleet.agent import SYNTHETIC_PREFIX, apply_test_machine  # noqa: E402
from harness.fleet.cluster import FleetError, FleetWorker, Lane, check_fleet  # noqa: E402
from harness.fleet.dispatch import Job, next_job  # noqa: E402
from harness.fleet.sweep import find_fleet_run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: 4 cases per machine, each timed for about 0.5 s: long enough to kill a worker mid-case
#: (the test polls the coordinator's log every 0.05 s).
PLAN = ["--kernels", "vadd", "--backends", "numpy", "--impls", "array_api", "--dtypes", "float64",
        "--sizes", "1000,2000,3000,4000", "--budget", "0.5"]


def _env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HARNESS_MACHINE_ID", "HARNESS_FLEET_TEST_MACHINE")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


def _start(args: list[str], log: Path, **env) -> subprocess.Popen:
    with open(log, "w") as f:
        return subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT, cwd=log.parent, env=_env(**env),
                                start_new_session=True)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(10)


def _wait_for(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


class Fleet:
    """A scheduler, and named workers that have registered when `start_worker` returns."""

    def __init__(self, folder: Path):
        from distributed import Client

        self.folder = folder
        self.procs: list[subprocess.Popen] = []
        self.workers: dict[str, subprocess.Popen] = {}
        sched_file = folder / "scheduler.json"
        self.procs.append(_start(["dask", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                  "--scheduler-file", str(sched_file)], folder / "scheduler.log"))
        self.address = _wait_for(lambda: sched_file.exists() and json.loads(sched_file.read_text() or "{}")
                                 .get("address"), 30, "the scheduler")
        self.client = Client(self.address, timeout=10)

    def n_workers(self) -> int:
        return len(self.client.scheduler_info()["workers"])

    def start_worker(self, name: str) -> None:
        before = self.n_workers()
        wdir = self.folder / f"worker-{name}-{len(self.procs)}"
        wdir.mkdir()
        proc = _start(["dask", "worker", self.address, "--nthreads", "1", "--resources", "harness=1",
                       "--no-dashboard", "--local-directory", str(wdir)], wdir / "worker.log",
                      HARNESS_FLEET_TEST_MACHINE=name)
        self.procs.append(proc)
        self.workers[name] = proc
        _wait_for(lambda: self.n_workers() > before, 60, f"worker {name} to register")

    def kill_worker(self, name: str) -> None:
        _kill(self.workers.pop(name))

    def kill_workers(self) -> None:
        for name in list(self.workers):
            self.kill_worker(name)
        _wait_for(lambda: self.n_workers() == 0, 30, "the scheduler to see its workers gone")

    def close(self) -> None:
        self.client.close()
        for proc in reversed(self.procs):
            _kill(proc)


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("fleet"))
    try:
        yield f
    finally:
        f.close()


@pytest.fixture
def fleet(scheduler):
    try:
        scheduler.start_worker("w1")
        scheduler.start_worker("w2")
        yield scheduler
    finally:
        scheduler.kill_workers()


def harness_run(*args: str, cwd: Path, log: Path) -> subprocess.Popen:
    return _start([sys.executable, "-c", "from harness.cli import main; main()", "run", *args], log)


def records(path: Path) -> list[dict]:
    return [r for r in map(json.loads, path.read_text().splitlines()) if r.get("kind") == "record"]


def _started(log: Path, machine: str) -> int:
    return sum(1 for ln in log.read_text().splitlines() if ln.startswith(f"{SYNTHETIC_PREFIX}{machine}:")
               and " started " in ln)


def test_each_kill_and_resume(fleet, tmp_path):
    """Same plan on both machines; w2 is killed mid-case: its case is `crashed`, w1 finishes,
    the run exits 1 naming the resume command; a new w2 then resumes only what it misses."""
    out, log = tmp_path / "out", tmp_path / "each.log"
    proc = harness_run("--cluster", fleet.address, "--fleet", "each", "--out", str(out), *PLAN,
                       cwd=tmp_path, log=log)
    try:
        _wait_for(lambda: _started(log, "w2") >= 2, 60, "w2's second case")
        fleet.kill_worker("w2")
        assert proc.wait(90) == 1, log.read_text()
    finally:
        _kill(proc)
    w1, w2 = (next((out / f"{SYNTHETIC_PREFIX}{m}").glob("*.jsonl")) for m in ("w1", "w2"))
    assert w1.name == w2.name  # one run id, one file per machine
    assert [r["status"] for r in records(w1)] == ["ok"] * 4
    lost = records(w2)
    assert 1 <= len(lost) < 4 and lost[-1]["status"] == "crashed", lost
    assert "left the cluster mid-case" in lost[-1]["message"]
    header = json.loads(w2.read_text().splitlines()[0])
    assert header["machine_id"] == f"{SYNTHETIC_PREFIX}w2" and "synthetic" in header["machine"]
    assert header["options"]["fleet"]["mode"] == "each"
    assert "--resume" in log.read_text()

    fleet.start_worker("w2")
    proc = harness_run("--cluster", fleet.address, "--resume", str(w2), cwd=tmp_path, log=tmp_path / "resume.log")
    try:
        assert proc.wait(90) == 0, (tmp_path / "resume.log").read_text()
    finally:
        _kill(proc)
    assert len(records(w1)) == 4  # w1 had everything: nothing re-run
    ids = [r["case_id"] for r in records(w2)]
    assert len(ids) == len(set(ids)) == 4
    assert any(json.loads(ln).get("kind") == "resume" for ln in w2.read_text().splitlines())


def test_share_rerun_elsewhere(fleet, tmp_path):
    """One plan split across the fleet; the worker running it is killed mid-case and the
    case is run again on the other, so every case is recorded exactly once and none crashed."""
    out, log = tmp_path / "out", tmp_path / "share.log"
    proc = harness_run("--cluster", fleet.address, "--fleet", "share", "--out", str(out), *PLAN,
                       cwd=tmp_path, log=log)
    try:
        victim = _wait_for(lambda: next((m for m in ("w1", "w2") if _started(log, m) >= 2), None), 60,
                           "a second shared case")
        fleet.kill_worker(victim)
        assert proc.wait(90) == 0, log.read_text()
    finally:
        _kill(proc)
    recs = [r for f in out.glob("*/*.jsonl") for r in records(f)]
    assert sorted(r["case_id"] for r in recs) == sorted({r["case_id"] for r in recs}) and len(recs) == 4
    assert {r["status"] for r in recs} == {"ok"}
    survivor = f"{SYNTHETIC_PREFIX}{'w2' if victim == 'w1' else 'w1'}"
    assert survivor in {r["machine_id"] for r in recs}
    assert "re-running" in log.read_text()
    assert all(r["fleet"]["overhead_s"] >= 0 for r in recs)


def test_unreachable_scheduler_writes_nothing(tmp_path):
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", "from harness.cli import main; main()", "run", "--cluster",
                           f"tcp://127.0.0.1:{port}", "--cluster-timeout", "1", "--out", str(out)],
                          capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "cannot reach a Dask scheduler" in proc.stderr
    assert not out.exists()


def test_fleet_usage_errors(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-c", "from harness.cli import main; main()", "run", *args],
                              capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=60)

    p = run("--fleet", "share")
    assert p.returncode == 2 and "--fleet needs --cluster" in p.stderr
    p = run("--cluster", "tcp://127.0.0.1:1", "--no-isolate")
    assert p.returncode == 2 and "for local runs" in p.stderr


def _worker(address: str, machine: str, host: str, fingerprint: str = "f1", cases=()) -> FleetWorker:
    return FleetWorker(address, {"machine_id": machine, "host": host, "fingerprint": fingerprint,
                                 "cases": list(cases)})


def test_one_case_per_host_and_machines_take_turns():
    a, b = _worker("tcp://a", "m1", "h"), _worker("tcp://b", "m2", "h")
    lane = Lane("h", [a, b])
    queues = {"m1": deque(Job({"n": i}) for i in range(3)), "m2": deque(Job({"n": i}) for i in range(3))}
    order = []
    while pick := next_job(lane, queues, "each"):
        order.append(pick[0].machine_id)
    assert order == ["m1", "m2", "m1", "m2", "m1", "m2"]
    b.alive = False
    queues = {None: deque([Job({"n": 1}), Job({"n": 2})])}
    lane.last = b
    assert next_job(lane, queues, "share")[0] is a  # a lost worker never gets a case


def test_share_refuses_two_kinds_and_each_refuses_one_id_on_two_kinds():
    mixed = [_worker("tcp://a", "m1", "h1", "f1"), _worker("tcp://b", "m2", "h2", "f2")]
    check_fleet(mixed, "each")
    with pytest.raises(FleetError, match="machines of one kind"):
        check_fleet(mixed, "share")
    with pytest.raises(FleetError, match="different hardware"):
        check_fleet([_worker("tcp://a", "m1", "h1", "f1"), _worker("tcp://b", "m1", "h2", "f2")], "each")
    case = {"kernel": "k", "impl": "i", "backend": "b", "device": "d", "dtype": "float32", "size": 1}
    with pytest.raises(FleetError, match="plan different cases"):
        check_fleet([_worker("tcp://a", "m1", "h1", cases=[case]), _worker("tcp://b", "m2", "h2")], "share")


def test_test_machine_id_is_marked_synthetic(monkeypatch):
    monkeypatch.setenv("HARNESS_FLEET_TEST_MACHINE", "w9")
    monkeypatch.setenv("HARNESS_MACHINE_ID", "test-machine")
    assert apply_test_machine() == "synthetic-test-w9" == os.environ["HARNESS_MACHINE_ID"]
    monkeypatch.setenv("HARNESS_FLEET_TEST_MACHINE", "../x")
    with pytest.raises(ValueError):
        apply_test_machine()


def test_resume_refuses_a_local_run(tmp_path):
    run = tmp_path / "m" / "r.jsonl"
    run.parent.mkdir()
    run.write_text(json.dumps({"kind": "header", "schema": "kernel-harness/results", "schema_version": 1,
                               "run_id": "r", "machine_id": "m", "options": {"kernels": []}}) + "\n")
    with pytest.raises(FleetError, match="not a fleet run"):
        find_fleet_run(str(run), tmp_path)
    with pytest.raises(FleetError, match="no fleet run"):
        find_fleet_run("latest", tmp_path)
