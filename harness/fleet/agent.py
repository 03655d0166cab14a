"""The harness's agent on a fleet worker: `python -m harness.fleet.agent`.

Started by harness.fleet.task inside a dask worker, one per dask worker and run. It is
an ordinary process (Dask's workers are daemon processes, which may not start the
harness's isolated case process), and it is where the fleet's facts about a machine are
taken: machine_info(), its devices, its cached ceilings, its commit and its plan, all on
the worker itself. Cases run in harness.worker.CaseSupervisor, exactly as in a local
`harness run`, with the same per-case timeout.

Protocol: one JSON object per line. The first line on stdin is the run's config; the
agent answers {"kind": "ready"} or {"kind": "error"}. Then requests:
{"kind": "describe"} -> the machine, its resolved options, its planned cases and the
records of the cases it skips; {"kind": "case", "case": {...}} -> {"kind": "record"};
{"kind": "stop"} or end of input -> exit. Answers go to the agent's original stdout;
its fd 1 is pointed at stderr first, so nothing a kernel or driver prints can land in
the protocol.

HARNESS_FLEET_TEST_MACHINE=NAME (tests only) gives this worker the machine id
"synthetic-test-NAME", marked synthetic in the header, so that two workers on one box
stand for two machines; a real machine id never starts with that prefix unless someone
sets HARNESS_MACHINE_ID to it by hand.
"""
from __future__ import annotations

import json
import os
import re
import socket
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

TEST_MACHINE_VAR = "HARNESS_FLEET_TEST_MACHINE"
SYNTHETIC_PREFIX = "synthetic-test-"


def apply_test_machine() -> str | None:
    """Turn HARNESS_FLEET_TEST_MACHINE into this process's (synthetic) machine id."""
    name = os.environ.get(TEST_MACHINE_VAR)
    if not name:
        return None
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", name):
        raise ValueError(f"{TEST_MACHINE_VAR}={name!r}: letters, digits, '_' and '-' only")
    os.environ["HARNESS_MACHINE_ID"] = SYNTHETIC_PREFIX + name
    return SYNTHETIC_PREFIX + name


def host_key() -> str:
    """What identifies the cores a worker's timings share: the running kernel's boot id
    (one for every process and container on one booted host; another VM has its own),
    else the hostname."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    return f"boot:{boot}" if boot else f"host:{socket.gethostname()}"


def unknown_names(kind: str, given: list[str], valid: list[str], option: str) -> str | None:
    """The usage message for names this worker's harness does not know, else None."""
    bad = [g for g in given if g not in valid]
    if not bad:
        return None
    return f"{option}: unknown {kind} {', '.join(map(repr, bad))} on this worker; valid: {', '.join(valid)}"


def resolve_selection(reg: Any, sel: dict[str, Any]) -> dict[str, Any] | str:
    """The run's names checked against this worker's registry (plugins may differ between
    machines), with defaults filled in as a local run fills them; or a usage message."""
    from ..dtypes import DTYPES

    impl_names = sorted({i.name for i in reg.impls.values()})
    for kind, key, valid, option in (("kernel", "kernels", list(reg.kernels), "--kernels"),
                                     ("backend", "backends", reg.backend_names, "--backends"),
                                     ("dtype", "dtypes", list(DTYPES), "--dtypes"),
                                     ("implementation", "impls", impl_names, "--impls")):
        if problem := unknown_names(kind, list(sel.get(key) or []), valid, option):
            return problem
    if not sel.get("dtypes"):
        return "--dtypes: give at least one dtype"
    return {**sel, "kernels": list(dict.fromkeys(sel.get("kernels") or reg.kernels)),
            "backends": list(dict.fromkeys(sel.get("backends") or reg.backend_names)),
            "dtypes": list(dict.fromkeys(sel["dtypes"])), "impls": sel.get("impls") or None,
            "sizes": sel.get("sizes") or None}


class Agent:
    """The state of one run on one worker: registry, run context and case supervisor."""

    def __init__(self, config: dict[str, Any]):
        from ..machine import git_commit
        from ..registry import get_registry

        self.config = config
        self.synthetic = apply_test_machine()
        self.registry = get_registry()
        # The commit of the harness doing the measuring: its own checkout, else the cwd's.
        self.commit = git_commit(cwd=str(Path(__file__).resolve().parents[1])) or git_commit()
        self.ctx = None
        self.supervisor = None
        self.options: dict[str, Any] | None = None

    def describe(self) -> dict[str, Any]:
        """This machine, its options and its plan; starts the case worker meanwhile."""
        from ..ceilings import header_fields
        from ..machine import machine_info
        from ..runner import RunContext, Skip, device_inventory, plan, skipped_record
        from ..timing import TimingOptions
        from ..worker import CaseSupervisor

        sel = resolve_selection(self.registry, self.config["selection"])
        if isinstance(sel, str):
            return {"kind": "error", "message": sel}
        machine = machine_info()
        timing = TimingOptions(budget_s=sel["budget_s"], cache=sel["cache"])
        self.ctx = RunContext(self.registry, seed=sel["seed"], timing=timing, machine_id=machine["machine_id"],
                              commit=self.commit, run_id=self.config["run_id"])
        if self.supervisor is None:
            self.supervisor = CaseSupervisor(self.ctx, timeout_s=self.config.get("timeout_s"),
                                             backends=sel["backends"])
            self.supervisor.start()
        planned = plan(self.registry, sel["kernels"], sel["backends"], sel["dtypes"], sel["sizes"],
                       sel["preset"], impls=sel["impls"], max_memory=sel.get("max_memory_bytes"))
        devices, unusable = device_inventory(self.registry, sel["backends"])
        self.options = {**sel, "isolate": True, "timeout_s": self.supervisor.timeout_s}
        info = {**machine, "devices": devices, "unusable_devices": unusable, **header_fields()}
        if self.synthetic:
            info["synthetic"] = f"test fleet worker ({TEST_MACHINE_VAR}); not a real machine"
        return {"kind": "described", "machine_id": machine["machine_id"], "fingerprint": machine["fingerprint"],
                "host": host_key(), "hostname": socket.gethostname(), "commit": self.commit,
                "synthetic": bool(self.synthetic), "machine": info, "options": self.options,
                "cases": [asdict(p) for p in planned if not isinstance(p, Skip)],
                "skipped": [skipped_record(p, self.ctx) for p in planned if isinstance(p, Skip)]}

    def run_case(self, case: dict[str, Any]) -> dict[str, Any]:
        from ..runner import Case

        if self.supervisor is None:  # a new agent after one died: describe (and so start) first
            described = self.describe()
            if described["kind"] == "error":
                return described
        t0 = time.perf_counter()
        rec = self.supervisor.run(Case(**case))
        return {"kind": "record", "record": rec, "agent_s": time.perf_counter() - t0}

    def close(self) -> None:
        if self.supervisor is not None:
            self.supervisor.close()


def answer(out: IO[str], msg: dict[str, Any]) -> None:
    from ..record import to_json_safe

    out.write(json.dumps(to_json_safe(msg), allow_nan=False, default=str) + "\n")
    out.flush()


def serve(inp: IO[str], out: IO[str]) -> None:
    """Build the agent from the first line, then answer requests until told to stop."""
    try:
        agent = Agent(json.loads(inp.readline()))
    except Exception as exc:  # noqa: BLE001 - reported to the worker, which reports it on
        answer(out, {"kind": "error", "message": f"agent could not start: {type(exc).__name__}: {exc}"})
        return
    answer(out, {"kind": "ready"})
    try:
        for line in inp:
            msg = json.loads(line)
            if msg.get("kind") == "describe":
                answer(out, agent.describe())
            elif msg.get("kind") == "case":
                answer(out, agent.run_case(msg["case"]))
            else:
                return
    finally:
        agent.close()


def main() -> None:
    from ..worker import _die_with_parent

    _die_with_parent(int(os.environ.get("HARNESS_FLEET_PARENT_PID") or os.getppid()))
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # prints of kernels, drivers and spawned case workers go to stderr
    sys.stdout = sys.stderr
    serve(sys.stdin, out)


if __name__ == "__main__":
    main()
