"""Progress of `harness run` while the cases run.

On a terminal: rich's live bar (transient, so the table follows it cleanly). Anywhere
else (a CI log, `| tee`, a file) a live bar prints nothing until the end, so a line is
printed instead every `every` cases or `interval_s` seconds, whichever comes first:
done/total, failures so far, elapsed time and an estimate of the time left."""
from __future__ import annotations

import math
import time
from typing import Callable

from .summary import gate_failures


def fmt_duration(seconds: float) -> str:
    """'42 s', '3 min 05 s', '1 h 02 min': short and unambiguous in a log."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class ProgressLines:
    """Prints a progress line now and then; `advance(record)` after each case. "failed"
    counts what `--strict` fails on (failed cases and cases out of their bound)."""

    def __init__(self, total: int, emit: Callable[[str], None], *, every: int | None = None,
                 interval_s: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self.total = total
        self.emit = emit
        self.every = every or max(1, math.ceil(total / 10))
        self.interval_s = interval_s
        self.clock = clock
        self.start = self.last_line = clock()
        self.done = 0
        self.failed = 0

    def advance(self, record: dict) -> None:
        self.done += 1
        self.failed += bool(gate_failures([record]))
        now = self.clock()
        if self.done % self.every == 0 or self.done == self.total or now - self.last_line >= self.interval_s:
            self.last_line = now
            self.emit(self.line(now, record))

    def line(self, now: float, record: dict) -> str:
        elapsed = now - self.start
        left = self.total - self.done
        eta = fmt_duration(elapsed / self.done * left)
        pct = 100 * self.done // max(self.total, 1)
        return (f"[{self.done}/{self.total}] {pct}%, {self.failed} failed, {fmt_duration(elapsed)} elapsed, "
                f"ETA {eta} (at {record['kernel']})")


class RunProgress:
    """Context manager: a live bar on a terminal, ProgressLines elsewhere; `advance(rec)`
    after each record. `total` counts the cases to measure (skips are not timed)."""

    def __init__(self, con, total: int):
        self.con = con
        self.total = total
        self.bar = None
        self.lines = None

    def __enter__(self) -> "RunProgress":
        if self.con.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=self.con, transient=True)
            self.bar.__enter__()
            self.task = self.bar.add_task("running", total=self.total)
        else:
            from rich.markup import escape

            self.lines = ProgressLines(self.total, lambda text: self.con.print(escape(text)))
        return self

    def advance(self, record: dict) -> None:
        """Count a measured case; skips are recorded at once and are not in the total."""
        if record["status"] == "skipped":
            return
        if self.bar is not None:
            self.bar.update(self.task, advance=1, description=record["case_id"][:40])
        else:
            self.lines.advance(record)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
