"""The live view of a fleet sweep: cases per machine. On a terminal, a table redrawn in
place (machine, host, done / planned, failed, the case running now); elsewhere (a log, CI,
a pipe) one plain line per event, which is what a log of a long sweep needs anyway."""
from __future__ import annotations

from typing import Any

from ..record import FAILURE_STATUSES


class FleetView:
    def __init__(self, console, planned: dict[str, int | None], quiet: bool = False):
        """planned: machine id -> its number of cases (None in share mode, where a machine
        runs what it draws from the shared plan)."""
        self.console = console
        self.quiet = quiet
        self.rows: dict[str, dict[str, Any]] = {
            m: {"host": "", "done": 0, "planned": n, "failed": 0, "now": "", "state": "waiting"}
            for m, n in planned.items()}
        self.live = None

    def __enter__(self) -> "FleetView":
        if not self.quiet and self.console.is_terminal:
            from rich.live import Live

            self.live = Live(self.table(), console=self.console, refresh_per_second=4, transient=False)
            self.live.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.update(self.table())
            self.live.stop()

    def _row(self, machine_id: str) -> dict[str, Any]:
        return self.rows.setdefault(machine_id, {"host": "", "done": 0, "planned": None, "failed": 0,
                                                 "now": "", "state": "waiting"})

    def started(self, machine_id: str, hostname: str, case_id: str) -> None:
        row = self._row(machine_id)
        row.update(host=hostname, now=case_id, state="running")
        self._show(f"{machine_id}: {row['done']}/{row['planned'] or '?'} started {case_id} on {hostname}")

    def finished(self, machine_id: str, hostname: str, rec: dict[str, Any]) -> None:
        row = self._row(machine_id)
        row["done"] += 1
        row["failed"] += rec.get("status") in FAILURE_STATUSES
        row.update(host=hostname or row["host"], now="", state="running")
        self._show(f"{machine_id}: {row['done']}/{row['planned'] or '?'} {rec.get('status')} "
                   f"{rec.get('case_id')} on {hostname}")

    def lost(self, machine_id: str, hostname: str, why: str) -> None:
        row = self._row(machine_id)
        row.update(host=hostname or row["host"], now="", state="lost")
        self._show(f"{machine_id}: LOST - {why}")

    def note(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text, markup=False)

    def _show(self, line: str) -> None:
        if self.quiet:
            return
        if self.live is not None:
            self.live.update(self.table())
        else:
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def table(self):
        from rich.table import Table

        t = Table(title="fleet: cases per machine", title_justify="left")
        for col, justify in (("machine", "left"), ("host", "left"), ("done", "right"), ("failed", "right"),
                             ("state", "left"), ("running now", "left")):
            t.add_column(col, justify=justify)
        for m, r in self.rows.items():
            done = f"{r['done']}/{r['planned']}" if r["planned"] is not None else str(r["done"])
            t.add_row(m, r["host"], done, str(r["failed"]), r["state"], r["now"][:60], style=None)
        return t
