"""Handing the cases to the fleet: one case in flight per host, answers handed on as they
arrive, and workers that leave the cluster noticed.

Queues hold `Job`s: in `each` mode one queue per machine id (every machine runs the
whole plan), in `share` mode one queue (key None) that every host draws from. A lane
(the workers of one host) takes its next job only when its last one is answered, so two
timed cases never overlap on a host even with several dask workers there.

A worker that leaves the cluster mid-case (killed, its host down) is noticed by polling
the scheduler's worker list; its pinned task would otherwise wait for it forever. Its
job goes to `on_lost`: `each` records it `crashed`; `share` puts it back at the front of
the queue for another host, up to `MAX_LOSSES` times.
"""
from __future__ import annotations

import time
from collections import deque
from concurrent.futures import CancelledError
from dataclasses import dataclass
from typing import Any, Callable

from .cluster import FleetWorker, Lane

#: A shared case whose worker is lost this many times is recorded `crashed`, not re-run.
MAX_LOSSES = 2


@dataclass(eq=False)
class Job:
    case: dict[str, Any]
    losses: int = 0


def next_job(lane: Lane, queues: dict[str | None, deque], mode: str) -> tuple[FleetWorker, Job] | None:
    """The (worker, job) this lane runs next: in `share` mode the next shared case on the
    worker used last (its case worker is warm); in `each` mode the case of the host's
    machine with the most cases left, so machines sharing a host take turns."""
    alive = [w for w in lane.workers if w.alive]
    if mode == "share":
        if not alive or not queues[None]:
            return None
        worker = lane.last if lane.last in alive else alive[0]
        return worker, queues[None].popleft()
    waiting = [w for w in alive if queues.get(w.machine_id)]
    if not waiting:
        return None
    worker = max(waiting, key=lambda w: len(queues[w.machine_id]))
    return worker, queues[worker.machine_id].popleft()


class Dispatch:
    """Runs the queues to exhaustion (or until no worker can take what is left).

    submit(worker, job) -> future; on_answer(worker, job, answer_json, roundtrip_s);
    on_lost(worker, job, why); on_start(worker, job); alive() -> worker addresses now in
    the cluster, or None when the scheduler could not say this time."""

    def __init__(self, lanes: list[Lane], queues: dict[str | None, deque], mode: str,
                 submit: Callable, on_answer: Callable, on_lost: Callable, on_start: Callable,
                 alive: Callable[[], set[str] | None], poll_s: float = 0.5):
        self.lanes, self.queues, self.mode = lanes, queues, mode
        self.submit, self.on_answer, self.on_lost, self.on_start = submit, on_answer, on_lost, on_start
        self.alive, self.poll_s = alive, poll_s
        self.in_flight: dict[Any, tuple[Lane, FleetWorker, Job, float]] = {}

    def run(self) -> None:
        import distributed

        while True:
            self._fill_lanes()
            if not self.in_flight:
                return
            try:
                done = distributed.wait(list(self.in_flight), timeout=self.poll_s,
                                        return_when="FIRST_COMPLETED").done
            except TimeoutError:
                done = set()
            except CancelledError:  # a future cancelled by the scheduler (it lost its state)
                done = {fut for fut in self.in_flight if fut.done()}
            for fut in done:
                self._answered(fut)
            self._drop_lost_workers()

    def _fill_lanes(self) -> None:
        for lane in self.lanes:
            if lane.busy or not (pick := next_job(lane, self.queues, self.mode)):
                continue
            worker, job = pick
            self.in_flight[self.submit(worker, job)] = (lane, worker, job, time.perf_counter())
            lane.busy, lane.last = True, worker
            self.on_start(worker, job)

    def _answered(self, fut) -> None:
        lane, worker, job, t0 = self.in_flight.pop(fut)
        lane.busy = False
        try:
            answer = fut.result()
        except Exception as exc:  # noqa: BLE001 - the task itself failed: treat the worker as lost
            worker.alive = False
            self.on_lost(worker, job, f"the fleet task failed on {worker.address}: {type(exc).__name__}: {exc}")
            return
        self.on_answer(worker, job, answer, time.perf_counter() - t0)

    def _drop_lost_workers(self) -> None:
        alive = self.alive()
        if alive is None:  # the scheduler did not answer this time: nothing is known to be lost
            return
        for fut, (lane, worker, job, _) in list(self.in_flight.items()):
            if worker.address not in alive and not fut.done():
                del self.in_flight[fut]
                fut.cancel()
                lane.busy = False
                worker.alive = False
                self.on_lost(worker, job, f"worker {worker.address} left the cluster mid-case")
        for lane in self.lanes:
            for worker in lane.workers:
                if worker.alive and worker.address not in alive:
                    worker.alive = False
                    self.on_lost(worker, None, f"worker {worker.address} left the cluster")

    def cancel(self) -> None:
        for fut in self.in_flight:
            fut.cancel()
        self.in_flight.clear()
