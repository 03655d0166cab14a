"""How the cases of a plan are executed: in this process, or each in a worker process.

The choice sits here, above both ways of running a case: `harness.runner` takes one
case along the data path in the current process, and `harness.worker` runs that same
path in a spawned process it supervises (so a segfault or a hang becomes a `crashed`
or `timeout` record instead of the end of the sweep). Neither of them needs to know
about the other's existence; only this module imports both.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from .runner import Case, RunContext, Skip, execute_case, skipped_record
from .worker import CaseSupervisor


def run_cases(planned: Iterable[Case | Skip], ctx: RunContext,
              on_record: Callable[[dict[str, Any]], None], isolate: bool = False,
              timeout_s: float | None = None, supervisor: CaseSupervisor | None = None) -> None:
    """Execute the plan in order, handing each record to `on_record` as soon as it exists.

    isolate: run cases in a spawned worker process (reused while healthy) with a
    per-case `timeout_s`; `supervisor` is an already started `CaseSupervisor`.
    """
    if not isolate and supervisor is None:
        for item in planned:
            on_record(skipped_record(item, ctx) if isinstance(item, Skip) else execute_case(item, ctx))
        return
    own = supervisor is None
    sup = supervisor or CaseSupervisor(ctx, timeout_s=timeout_s)
    try:
        for item in planned:
            on_record(skipped_record(item, ctx) if isinstance(item, Skip) else sup.run(item))
    finally:
        if own:
            sup.close()
