"""`harness run --cluster`: the stage that runs one sweep on a fleet (see harness/fleet).

Order matters for "nothing is lost, nothing is written by mistake": a run to resume is
read, the scheduler reached, every worker describes itself and the fleet is checked,
all before the first byte is written. Then each record is written and fsync'ed by this
process, the only writer, as it arrives, into results/<machine id>/<run id>.jsonl of the
machine that ran it. `--resume` reads every file of the run (one per machine), so each
machine runs only what it is missing (`each`) and the fleet only what no machine has
recorded (`share`).
"""
from __future__ import annotations

import json
import os
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..record import from_json_value, now_iso
from ..runner import Case, RunContext, failure_record
from ..store import ResultsFileError, RunWriter, read_header, read_run
from ..timing import TimingOptions
from .cluster import (CONNECT_TIMEOUT_S, FleetError, FleetWorker, c_id, check_fleet, connect, describe_workers,
                      harness_workers, lanes_by_host, stop_agents, submit)
from .dispatch import MAX_LOSSES, Dispatch, Job
from .progress import FleetView

MODES = ("each", "share")
#: Seconds the scheduler may fail to list its workers before the coordinator counts them lost.
SCHEDULER_LOST_S = 60.0


@dataclass
class PriorRun:
    """A fleet run being resumed: its files (one per machine) and what each recorded."""

    run_id: str
    out_dir: Path
    mode: str
    options: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)
    done: dict[str, set[str]] = field(default_factory=dict)

    def done_anywhere(self) -> set[str]:
        return set().union(*self.done.values()) if self.done else set()


@dataclass
class FleetOutcome:
    run_id: str
    writers: dict[str, RunWriter]
    records: list[dict[str, Any]]
    not_run: dict[str, int]
    interrupted: bool = False


def _fleet_header(path: Path) -> dict[str, Any] | None:
    try:
        h = read_header(path)
    except (ResultsFileError, OSError):
        return None
    opts = h.get("options")
    return h if isinstance(opts, dict) and isinstance(opts.get("fleet"), dict) else None


def find_fleet_run(value: str, out_dir: Path) -> PriorRun:
    """The run to resume: the fleet run of a results file, or the newest one under out_dir."""
    if value == "latest":
        found = [(str(h.get("started") or ""), f.stat().st_mtime, f) for f in sorted(out_dir.glob("*/*.jsonl"))
                 if (h := _fleet_header(f)) is not None]
        if not found:
            raise FleetError(f"no fleet run under {out_dir} to resume; start one with `harness run --cluster`, "
                             f"or name one of its files: --resume PATH")
        path = max(found)[2]
    else:
        path = Path(value)
        if not path.is_file():
            raise FleetError(f"--resume: {path} is not a file; give a results file of the fleet run or 'latest'")
    header = _fleet_header(path)
    if header is None:
        raise FleetError(f"--resume: {path} is not a fleet run (no options.fleet in its header); resume it "
                         f"without --cluster, on its machine")
    prior = PriorRun(str(header.get("run_id") or path.stem), path.parent.parent, header["options"]["fleet"]["mode"],
                     header["options"])
    for f in sorted(prior.out_dir.glob(f"*/{prior.run_id}.jsonl")):
        try:
            h, records = read_run(f)
        except (ResultsFileError, OSError) as exc:
            raise FleetError(f"--resume: cannot read {f}: {exc}") from None
        prior.files[h["machine_id"]] = f
        prior.done[h["machine_id"]] = {r["case_id"] for r in records}
    return prior


def check_out_dir(out_dir: Path, workers: list[FleetWorker]) -> None:
    """--out must be a writable folder, and no machine's folder may hold another machine's
    ceilings: records would be judged against the wrong hardware."""
    from ..ceilings import CACHE_NAME, read_machine_file

    if out_dir.exists() and not out_dir.is_dir():
        raise FleetError(f"--out: {out_dir} is a file; give a folder (it is created if missing)")
    for w in workers:
        data = read_machine_file(out_dir / w.machine_id / CACHE_NAME)
        theirs = ((data or {}).get("machine") or {}).get("fingerprint")
        if data is not None and theirs != w.described["fingerprint"]:
            raise FleetError(f"{out_dir / w.machine_id} belongs to other hardware (fingerprint {theirs}, worker "
                             f"{w.address} is {w.described['fingerprint']}); give that worker its own "
                             f"HARNESS_MACHINE_ID")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FleetError(f"--out: cannot create {out_dir} ({exc.strerror or exc})") from None
    if not os.access(out_dir, os.W_OK):
        raise FleetError(f"--out: cannot write to {out_dir}; give a writable folder")


class Recorder:
    """One RunWriter per machine id, made when the machine's first record arrives (a
    resumed machine appends to its file); every record is fsync'ed before the next."""

    def __init__(self, out_dir: Path, headers: dict[str, dict[str, Any]], prior: PriorRun | None, argv: list[str]):
        self.out_dir, self.headers, self.prior, self.argv = out_dir, headers, prior, argv
        self.writers: dict[str, RunWriter] = {}
        self.records: list[dict[str, Any]] = []

    def store(self, machine_id: str, rec: dict[str, Any]) -> None:
        writer = self.writers.get(machine_id)
        if writer is None:
            path = self.prior.files.get(machine_id) if self.prior else None
            header = read_header(path) if path is not None else self.headers[machine_id]
            writer = self.writers[machine_id] = RunWriter(self.out_dir, header, path=path)
            if path is not None:
                writer.note("resume", started=now_iso(), argv=self.argv, commit=self.headers[machine_id]["commit"],
                            recorded=len(self.prior.done.get(machine_id, ())))
        writer.write(rec)
        self.records.append(rec)


def run_header(worker: FleetWorker, run_id: str, mode: str, address: str, argv: list[str]) -> dict[str, Any]:
    """The header of a machine's run file, from what its worker described: the same
    fields as a local run's, with options["fleet"] saying how it was run."""
    d = worker.described
    options = {**d["options"], "fleet": {"mode": mode, "scheduler": address, "coordinator": socket.gethostname()}}
    return {"run_id": run_id, "machine_id": d["machine_id"], "commit": d["commit"], "started": now_iso(),
            "argv": argv, "preset": options["preset"], "seed": options["seed"], "budget_s": options["budget_s"],
            "options": options, "machine": d["machine"]}


def first_per_machine(workers: list[FleetWorker]) -> dict[str, FleetWorker]:
    out: dict[str, FleetWorker] = {}
    for w in workers:
        out.setdefault(w.machine_id, w)
    return out


def plan_queues(workers: list[FleetWorker], mode: str, prior: PriorRun | None,
                recorder: Recorder) -> dict[str | None, deque]:
    """The jobs still to run, and the skipped cases recorded at once (skips take no time)."""
    machines = first_per_machine(workers)
    if mode == "share":
        done = prior.done_anywhere() if prior else set()
        first = next(iter(machines.values()))
        for rec in first.described["skipped"]:
            if rec["case_id"] not in done:
                recorder.store(first.machine_id, rec)
        return {None: deque(Job(c) for c in first.described["cases"] if c_id(c) not in done)}
    queues: dict[str | None, deque] = {}
    for mid, w in machines.items():
        done = prior.done.get(mid, set()) if prior else set()
        for rec in w.described["skipped"]:
            if rec["case_id"] not in done:
                recorder.store(mid, rec)
        queues[mid] = deque(Job(c) for c in w.described["cases"] if c_id(c) not in done)
    return queues


def run_fleet(address: str, mode: str | None, selection: dict[str, Any], timeout_s: float | None, out_dir: Path,
              resume: str | None, run_id: str, registry: Any, console: Any, quiet: bool = False,
              argv: list[str] | None = None, connect_s: float = CONNECT_TIMEOUT_S) -> FleetOutcome:
    """Run one sweep on the fleet behind the scheduler at `address`; see the module docstring.
    Raises FleetError (a usage error) before anything is written."""
    prior = find_fleet_run(resume, out_dir) if resume is not None else None
    if prior is not None:
        if mode is not None and mode != prior.mode:
            raise FleetError(f"--fleet {mode}: the run being resumed was --fleet {prior.mode}; drop --fleet")
        mode, run_id, out_dir = prior.mode, prior.run_id, prior.out_dir
        keys = ("kernels", "backends", "impls", "dtypes", "sizes", "preset", "seed", "budget_s", "cache",
                "max_memory_bytes")
        selection, timeout_s = {k: prior.options.get(k) for k in keys}, prior.options.get("timeout_s")
    mode = mode or "each"
    config_json = json.dumps({"run_id": run_id, "selection": selection, "timeout_s": timeout_s}, sort_keys=True)
    client = connect(address, connect_s)
    try:
        workers = describe_workers(client, harness_workers(client, connect_s), config_json,
                                   warn=lambda text: console.print(f"[yellow]note[/]: {text}"))
        check_fleet(workers, mode)
        check_out_dir(out_dir, workers)
        argv = list(argv or [])
        headers = {m: run_header(w, run_id, mode, address, argv) for m, w in first_per_machine(workers).items()}
        recorder = Recorder(out_dir, headers, prior, argv)
        queues = plan_queues(workers, mode, prior, recorder)
        planned = {m: (len(queues.get(m, ())) if mode == "each" else None) for m in first_per_machine(workers)}
        view = FleetView(console, planned, quiet)
        return FleetSweep(client, workers, queues, mode, recorder, config_json, registry, run_id, view).run()
    finally:
        stop_agents(client)
        client.close()


class FleetSweep:
    """Dispatches the queues and stores each answer as it arrives (see harness/fleet/dispatch.py)."""

    def __init__(self, client, workers: list[FleetWorker], queues: dict[str | None, deque], mode: str,
                 recorder: Recorder, config_json: str, registry: Any, run_id: str, view: FleetView):
        self.client, self.workers, self.queues, self.mode = client, workers, queues, mode
        self.recorder, self.config_json, self.registry, self.run_id, self.view = (recorder, config_json, registry,
                                                                                 run_id, view)
        self.case_timeout = float(workers[0].described["options"].get("timeout_s") or 0)
        self.silent_since: float | None = None

    def store(self, worker: FleetWorker, rec: dict[str, Any], fleet: dict[str, Any]) -> None:
        rec["fleet"] = {"mode": self.mode, "worker": worker.address, "host": worker.hostname, **fleet}
        self.recorder.store(worker.machine_id, rec)
        self.view.finished(worker.machine_id, worker.hostname, rec)

    def crashed(self, worker: FleetWorker, job: Job, message: str) -> dict[str, Any]:
        """The record the coordinator makes for a case whose answer never came."""
        o = worker.described["options"]
        ctx = RunContext(self.registry, seed=o["seed"], timing=TimingOptions(budget_s=o["budget_s"], cache=o["cache"]),
                         machine_id=worker.machine_id, commit=worker.described["commit"], run_id=self.run_id)
        return failure_record(Case(**job.case), ctx, "crashed", message)

    def on_answer(self, worker: FleetWorker, job: Job, answer_json: str, roundtrip_s: float) -> None:
        answer = json.loads(answer_json)
        if answer.get("kind") == "record":
            rec = {k: from_json_value(v) for k, v in answer["record"].items()}
            agent_s = float(answer["agent_s"])
            self.store(worker, rec, {"roundtrip_s": roundtrip_s, "agent_s": agent_s,
                                     "overhead_s": roundtrip_s - agent_s})
        else:
            self.store(worker, self.crashed(worker, job, f"fleet agent on {worker.hostname}: {answer.get('message')}"),
                       {"roundtrip_s": roundtrip_s})

    def on_lost(self, worker: FleetWorker, job: Job | None, why: str) -> None:
        """each: the case is recorded crashed; share: it goes back for another host."""
        self.view.lost(worker.machine_id, worker.hostname, why)
        if job is None:
            return
        if self.mode == "share" and job.losses + 1 < MAX_LOSSES:
            job.losses += 1
            self.queues[None].appendleft(job)
            self.view.note(f"re-running {c_id(job.case)} on another worker ({why})")
            return
        lost = f" (lost {job.losses + 1} times)" if self.mode == "share" else ""
        self.store(worker, self.crashed(worker, job, f"{why}; the case did not finish{lost}"),
                   {"lost": True, "losses": job.losses + 1})

    def submit(self, worker: FleetWorker, job: Job):
        return submit(self.client, self.config_json, {"kind": "case", "case": job.case,
                                                      "timeout_s": self.case_timeout}, worker.address)

    def alive(self) -> set[str] | None:
        """The workers in the cluster now. A scheduler slow to answer (a loaded host) is not
        a lost fleet: None ("unknown") until it has not answered for SCHEDULER_LOST_S."""
        try:
            workers = set(self.client.scheduler_info()["workers"])
        except Exception as exc:  # noqa: BLE001 - a timeout, or the scheduler is gone
            now = time.monotonic()
            self.silent_since = self.silent_since or now
            if now - self.silent_since < SCHEDULER_LOST_S:
                return None
            self.view.note(f"the scheduler has not answered for {SCHEDULER_LOST_S:.0f} s "
                           f"({type(exc).__name__}: {exc}); every worker counts as lost")
            return set()
        self.silent_since = None
        return workers

    def run(self) -> FleetOutcome:
        dispatch = Dispatch(lanes_by_host(self.workers), self.queues, self.mode, self.submit, self.on_answer,
                            self.on_lost, lambda w, job: self.view.started(w.machine_id, w.hostname, c_id(job.case)),
                            self.alive)
        interrupted = False
        with self.view:
            try:
                dispatch.run()
            except KeyboardInterrupt:
                dispatch.cancel()
                interrupted = True
        not_run = {("shared plan" if k is None else k): len(q) for k, q in self.queues.items() if q}
        return FleetOutcome(self.run_id, self.recorder.writers, self.recorder.records, not_run, interrupted)
