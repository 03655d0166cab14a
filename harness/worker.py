"""Running cases in a worker process, so that one bad case cannot end a sweep.

The parent (`CaseSupervisor`) starts one worker with the multiprocessing "spawn"
context (a forked child of a process that touched CUDA cannot use CUDA), sends it one
case at a time and waits at most `timeout_s` for the record:

- the record arrives: the worker is reused for the next case, so its imports, compiled
  programs and cached inputs (RunContext.inputs_and_reference) carry over;
- the worker dies (segfault, abort, os._exit): the case is recorded `crashed` with the
  signal and the innermost frame faulthandler saw; a new worker takes the next case;
- no record in time: the worker is asked for its traceback (SIGUSR1), killed, and the
  case is recorded `timeout` with where it was stuck. The deadline is `timeout_s` from
  the start of the case; once the first (warm-up) call returns, the worker reports its
  duration and the deadline moves to at least `timeout_s` + twice what the timing
  protocol still needs at that speed, so a slow but healthy case is not cut short
  while a call that never returns still is.

Failures the worker catches itself (`error`, `oom`, `nan`, `invalid`) come back in
the record like any other status. After `oom`, or `error` on a CUDA device (a CUDA
error can leave the context unusable), the worker is replaced too.

Messages cross the pipe as JSON text (`send_bytes`), so nothing is ever unpickled and
every record is known to be storable. The parent is the only writer of results.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
from dataclasses import asdict
from typing import Any

from .record import from_json_value, to_json_safe
from .runner import Case, RunContext, execute_case, failure_record

#: Seconds a new worker may take to import the harness, build the registry and probe
#: the backends (importing torch or initialising CUDA can take a while).
START_TIMEOUT_S = 180.0


def default_timeout(budget_s: float) -> float:
    """Per-case timeout: generous, because a healthy case also pays for compiles, a large
    reference and at least `min_samples` calls, whatever the budget."""
    return 300.0 + 60.0 * budget_s


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(to_json_safe(obj), allow_nan=False, default=str).encode()


def _signal_name(code: int | None) -> str:
    if code is None:
        return "unknown exit"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def _innermost_frames(dump: str, n: int = 2) -> str:
    """'in fn at file.py:12, called from caller at other.py:3' from a faulthandler dump."""
    frames = []
    for ln in dump.splitlines():
        ln = ln.strip()
        if not ln.startswith("File ") or len(frames) >= n:
            continue
        # File "/path/to/x.py", line 12 in fn
        try:
            path = ln.split('"')[1]
            lineno, _, fn = ln.split('"', 2)[2].strip().lstrip(",").strip().partition(" in ")
            frames.append(f"{fn} at {os.path.basename(path)}:{lineno.replace('line', '').strip()}")
        except IndexError:
            frames.append(ln)
    return ("in " + ", called from ".join(frames)) if frames else ""


class CaseSupervisor:
    """Runs cases in a reused spawned worker; see the module docstring."""

    def __init__(self, ctx: RunContext, timeout_s: float | None = None,
                 backends: list[str] | None = None, env: dict[str, str] | None = None,
                 start_timeout_s: float = START_TIMEOUT_S):
        self.ctx = ctx
        self.timeout_s = timeout_s if timeout_s is not None else default_timeout(ctx.timing.budget_s)
        self.start_timeout_s = start_timeout_s
        self.config = {
            "seed": ctx.seed, "timing": asdict(ctx.timing), "machine_id": ctx.machine_id,
            "commit": ctx.commit, "run_id": ctx.run_id,
            "save_arrays": str(ctx.save_arrays) if ctx.save_arrays is not None else None,
            "backends": list(backends or []), "env": dict(env or {}), "parent_pid": os.getpid(),
        }
        self._proc = None
        self._conn = None
        self._fault_path: str | None = None
        self._ready = False
        self.started = 0  # workers started so far (1 + restarts)

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> None:
        """Start a worker without waiting for it (it builds its registry meanwhile)."""
        if self._proc is not None:
            return
        import multiprocessing as mp

        spawn = mp.get_context("spawn")
        fd, self._fault_path = tempfile.mkstemp(prefix="harness-worker-", suffix=".log")
        os.close(fd)
        parent_conn, child_conn = spawn.Pipe(duplex=True)
        proc = spawn.Process(target=worker_main, name="harness-worker", daemon=True,
                             args=(child_conn, json.dumps(self.config), self._fault_path))
        proc.start()
        child_conn.close()
        self._proc, self._conn, self._ready = proc, parent_conn, False
        self.started += 1

    def _wait_ready(self) -> str | None:
        """None when the worker is ready, else why it could not start."""
        if self._ready:
            return None
        assert self._conn is not None and self._proc is not None
        if not self._conn.poll(self.start_timeout_s):
            return f"the worker did not start within {self.start_timeout_s:.0f} s"
        try:
            msg = json.loads(self._conn.recv_bytes())
        except (EOFError, OSError):
            self._proc.join(5)
            return f"the worker died while starting ({_signal_name(self._proc.exitcode)}) {self._fault_dump()}"
        if msg.get("kind") != "ready":
            return f"the worker could not start: {msg.get('message', msg)}"
        self._ready = True
        return None

    def _fault_dump(self) -> str:
        if not self._fault_path:
            return ""
        try:
            with open(self._fault_path, encoding="utf-8", errors="replace") as f:
                return _innermost_frames(f.read())
        except OSError:
            return ""

    def _stop_worker(self, kill: bool) -> None:
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        self._ready = False
        if proc is not None:
            if not kill and proc.is_alive() and conn is not None:
                try:
                    conn.send_bytes(b'{"kind":"stop"}')
                    proc.join(5)
                except (OSError, ValueError):
                    pass
            if proc.is_alive():
                proc.kill()
            proc.join(10)
        if conn is not None:
            conn.close()
        if self._fault_path:
            try:
                os.unlink(self._fault_path)
            except OSError:
                pass
            self._fault_path = None

    def close(self, kill: bool = False) -> None:
        """Stop the worker: politely between cases, at once with kill=True."""
        self._stop_worker(kill=kill)

    def __enter__(self) -> "CaseSupervisor":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- running ----------------------------------------------------------------------
    def run(self, case: Case) -> dict[str, Any]:
        """The record of `case`, whatever happens to the worker running it."""
        for attempt in (1, 2):
            self.start()
            problem = self._wait_ready()
            if problem:
                self._stop_worker(kill=True)
                return failure_record(case, self.ctx, "crashed", f"worker: {problem}")
            try:
                assert self._conn is not None
                self._conn.send_bytes(_json_bytes({"kind": "case", "case": asdict(case)}))
                break
            except (OSError, ValueError):
                # The worker went away between cases; the case has not started: retry once.
                self._stop_worker(kill=True)
                if attempt == 2:
                    return failure_record(case, self.ctx, "crashed", "worker: could not hand the case over")
        assert self._conn is not None and self._proc is not None
        t0 = time.perf_counter()
        pid = self._proc.pid
        deadline = time.monotonic() + self.timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self._conn.poll(left):
                waited = time.perf_counter() - t0
                where = self._dump_traceback()
                self._stop_worker(kill=True)
                rec = failure_record(case, self.ctx, "timeout",
                                     f"no result after {waited:.0f} s, worker killed"
                                     f"{'; stuck ' + where if where else ''}. If the case is just slow, "
                                     f"raise --timeout (now {self.timeout_s:g} s)")
                rec.update(case_wall_s=waited, worker_pid=pid, isolation="worker")
                return rec
            try:
                msg = json.loads(self._conn.recv_bytes())
            except (EOFError, OSError):
                self._proc.join(5)
                why = _signal_name(self._proc.exitcode)
                dump = self._fault_dump()
                self._stop_worker(kill=True)
                rec = failure_record(case, self.ctx, "crashed",
                                     f"worker process died ({why}){' ' + dump if dump else ''}")
                rec.update(case_wall_s=time.perf_counter() - t0, worker_pid=pid, isolation="worker")
                return rec
            if msg.get("kind") == "progress":
                deadline = max(deadline, time.monotonic() + self.timeout_s +
                               2 * self.expected_after_first_call(float(msg.get("first_call_s") or 0)))
                continue
            break
        rec = {k: from_json_value(v) for k, v in msg["record"].items()}
        rec["isolation"] = "worker"
        if rec.get("status") == "oom" or (rec.get("status") == "error" and
                                          ("cuda" in str(case.device) or case.backend == "cupy")):
            self._stop_worker(kill=False)
        return rec

    def expected_after_first_call(self, call_s: float) -> float:
        """What the timing protocol still needs once one call took `call_s`: the warm-up (at
        most its hard cap plus one block), calibration, `min_samples` samples (within the
        budget), the determinism re-run and download."""
        t = self.ctx.timing
        return t.budget_s + t.warmup_bounds()[1] + (t.min_samples + 6) * call_s

    def _dump_traceback(self) -> str:
        """Ask a stuck worker where it is (faulthandler on SIGUSR1) before killing it."""
        proc = self._proc
        if proc is None or not proc.is_alive() or not hasattr(signal, "SIGUSR1"):
            return ""
        try:
            os.kill(proc.pid, signal.SIGUSR1)
        except OSError:
            return ""
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            dump = self._fault_dump()
            if dump:
                return dump
            time.sleep(0.05)
        return ""


# ------------------------------------------------------------------------------------------
# the worker side


def _die_with_parent(parent_pid: int) -> None:
    """Make sure a worker never outlives a parent killed with SIGKILL."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import ctypes.util

            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except Exception:
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)

    import threading

    def watch():  # fallback where PDEATHSIG is unavailable
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def worker_main(conn, config_json: str, fault_path: str) -> None:
    """Entry point of a worker process: build the registry, then run cases until told to stop."""
    import faulthandler

    config = json.loads(config_json)
    _die_with_parent(config["parent_pid"])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    fault_file = open(fault_path, "w", encoding="utf-8")
    faulthandler.enable(fault_file, all_threads=False)
    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, fault_file, all_threads=False)
    try:
        os.environ.update(config.get("env") or {})
        from .registry import get_registry
        from .timing import TimingOptions

        reg = get_registry()
        ctx = RunContext(reg, seed=config["seed"], timing=TimingOptions(**config["timing"]),
                         machine_id=config["machine_id"], commit=config["commit"], run_id=config["run_id"],
                         save_arrays=config["save_arrays"])
        for b in config.get("backends") or []:
            if b in reg.backend_factories:
                reg.backend(b).probe()
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which records it
        conn.send_bytes(_json_bytes({"kind": "error", "message": f"{type(exc).__name__}: {exc}"}))
        return
    ctx.on_progress = lambda info: conn.send_bytes(_json_bytes({"kind": "progress", **info}))
    conn.send_bytes(b'{"kind":"ready"}')
    while True:
        try:
            msg = json.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return
        if msg.get("kind") != "case":
            return
        case = Case(**msg["case"])
        fault_file.seek(0)
        fault_file.truncate()  # a dump in the file now belongs to this case
        try:
            rec = execute_case(case, ctx)
        except BaseException as exc:  # noqa: BLE001 - e.g. SystemExit raised by a kernel
            rec = failure_record(case, ctx, "error", f"{type(exc).__name__}: {exc}")
            rec["worker_pid"] = os.getpid()
        conn.send_bytes(_json_bytes({"kind": "record", "record": rec}))
