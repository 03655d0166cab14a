"""The coordinator's view of the fleet: connect to the scheduler, find the harness's
workers, have each describe its machine and plan (on the worker), and check that the
fleet can run the mode asked for. Every problem found here is a `FleetError`: a usage
error (exit 2) raised before anything is written."""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

#: Seconds to reach the scheduler, and to wait for a first worker with the harness resource.
CONNECT_TIMEOUT_S = 10.0
WORKER_WAIT_S = 10.0
#: The resource every harness worker declares (`dask worker ... --resources harness=1`).
RESOURCE = "harness"


class FleetError(ValueError):
    """The fleet cannot run this sweep; the message says why and what to do."""


@dataclass(eq=False)
class FleetWorker:
    """One dask worker and the machine its agent described."""

    address: str
    described: dict[str, Any]
    alive: bool = True

    @property
    def machine_id(self) -> str:
        return self.described["machine_id"]

    @property
    def host(self) -> str:
        return self.described["host"]

    @property
    def hostname(self) -> str:
        return self.described.get("hostname") or self.address


@dataclass(eq=False)
class Lane:
    """The workers of one host: it runs one timed case at a time, whatever their number."""

    host: str
    workers: list[FleetWorker] = field(default_factory=list)
    busy: bool = False
    last: FleetWorker | None = None


def connect(address: str, timeout_s: float = CONNECT_TIMEOUT_S):
    """A client of the scheduler at `address`, or a FleetError saying how to start one."""
    try:
        import distributed
    except ImportError:
        raise FleetError("--cluster needs Dask distributed: pip install 'kernel-harness[fleet]'") from None
    hint = ("start one with `dask scheduler` and workers with `dask worker tcp://HOST:8786 --nthreads 1 "
            "--resources harness=1`, then give its address, e.g. --cluster tcp://HOST:8786")
    try:
        return distributed.Client(address, timeout=timeout_s)
    except (OSError, TimeoutError) as exc:
        raise FleetError(f"cannot reach a Dask scheduler at {address} within {timeout_s:g} s "
                         f"({type(exc).__name__}: {str(exc)[:200]}); {hint}") from None
    except ValueError as exc:
        raise FleetError(f"{address!r} is not a scheduler address ({exc}); {hint}") from None


def harness_workers(client, wait_s: float = WORKER_WAIT_S) -> list[str]:
    """Addresses of the workers that declare the harness resource (others are left alone)."""
    try:
        client.wait_for_workers(1, timeout=wait_s)
    except TimeoutError:
        raise FleetError(f"the scheduler {client.scheduler.address} has no workers after {wait_s:g} s; start "
                         f"them with `dask worker {client.scheduler.address} --nthreads 1 "
                         f"--resources {RESOURCE}=1`") from None
    workers = client.scheduler_info()["workers"]
    found = sorted(a for a, w in workers.items() if (w.get("resources") or {}).get(RESOURCE, 0) >= 1)
    if not found:
        raise FleetError(f"none of the {len(workers)} worker(s) of {client.scheduler.address} declares the "
                         f"{RESOURCE!r} resource; start them with --resources {RESOURCE}=1")
    return found


def submit(client, config_json: str, request: dict[str, Any], address: str):
    """The fleet task for `request` on exactly the worker at `address`."""
    from .task import fleet_task

    return client.submit(fleet_task, config_json, json.dumps(request), workers=[address],
                         allow_other_workers=False, resources={RESOURCE: 1}, pure=False)


def describe_workers(client, addresses: list[str], config_json: str, warn) -> list[FleetWorker]:
    """Every worker's machine and plan, taken on the worker. A worker whose agent cannot
    start is left out with a warning; a run its harness refuses is a FleetError."""
    import distributed

    from .task import AGENT_START_S

    futures = {a: submit(client, config_json, {"kind": "describe"}, a) for a in addresses}
    try:
        distributed.wait(list(futures.values()), timeout=AGENT_START_S + 60)
    except TimeoutError:
        pass
    workers, refused = [], []
    for address, fut in futures.items():
        if fut.status != "finished":
            why = f"{type(fut.exception()).__name__}: {fut.exception()}" if fut.status == "error" else "no answer"
            fut.cancel()
            warn(f"worker {address} left out: {why}"[:600])
            continue
        answer = json.loads(fut.result())
        if answer.get("kind") == "described":
            workers.append(FleetWorker(address, answer))
        elif answer.get("kind") == "error":
            refused.append(f"{address}: {answer.get('message')}")
        else:
            warn(f"worker {address} left out: {answer.get('message')}")
    if refused:
        raise FleetError("the run was refused by " + "; ".join(refused))
    if not workers:
        raise FleetError("no worker could describe its machine (see the warnings above)")
    return workers


def check_fleet(workers: list[FleetWorker], mode: str) -> None:
    """A machine id names one kind of hardware; `share` needs one kind and one plan."""
    by_id: dict[str, set[str]] = defaultdict(set)
    for w in workers:
        by_id[w.machine_id].add(w.described["fingerprint"])
    if mixed := [m for m, prints in by_id.items() if len(prints) > 1]:
        raise FleetError(f"machine id(s) {', '.join(mixed)} are reported by workers on different hardware; "
                         f"give each machine its own HARNESS_MACHINE_ID (or unset it)")
    if mode != "share":
        return
    kinds: dict[str, list[str]] = defaultdict(list)
    for w in workers:
        kinds[w.described["fingerprint"]].append(f"{w.machine_id} ({w.address})")
    if len(kinds) > 1:
        listed = "; ".join(f"fingerprint {k}: {', '.join(v)}" for k, v in kinds.items())
        raise FleetError(f"--fleet share splits one plan across machines of one kind, but the workers are of "
                         f"{len(kinds)} kinds ({listed}); use --fleet each, or share within one kind")
    plans = {tuple(sorted(c_id(c) for c in w.described["cases"])) for w in workers}
    if len(plans) > 1:
        raise FleetError("--fleet share: the workers plan different cases (their harness, plugins or devices "
                         "differ); install the same harness on each, or use --fleet each")


def c_id(case: dict[str, Any]) -> str:
    from ..record import case_id

    return case_id(case["kernel"], case["impl"], case["backend"], case["device"], case["dtype"], case["size"])


def lanes_by_host(workers: list[FleetWorker]) -> list[Lane]:
    lanes: dict[str, Lane] = {}
    for w in workers:
        lanes.setdefault(w.host, Lane(w.host)).workers.append(w)
    return list(lanes.values())


def stop_agents(client) -> None:
    """Stop the run's agents on every worker (their case workers hold memory and imports)."""
    from .task import stop_agents as stop

    try:
        client.run(stop, on_error="ignore")
    except Exception:  # noqa: BLE001 - the run is over; a worker gone already has no agent
        pass
