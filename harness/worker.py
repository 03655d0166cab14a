"""Running cases in a worker process, so that one bad case cannot end a sweep.

The parent (`CaseSupervisor`) starts one worker with the multiprocessing "spawn"
context (a forked child of a process that touched CUDA cannot use CUDA), sends it one
case at a time and waits at most `timeout_s` for the record:

- the record arrives: the worker is reused for the next case, so its imports, compiled
  programs and cached inputs (RunContext.inputs, harness/inputs.py) carry over;
- the worker dies (segfault, abort, os._exit): the case is recorded `crashed` with the
  signal and the innermost frame faulthandler saw, at once (the parent checks every
  POLL_S that the worker lives: a child it forked may hold the pipe open, so no EOF
  comes); a new worker takes the next case. Killed by SIGKILL while holding at least
  half its memory limit, it is recorded `oom` as a likely OOM kill;
- no record in time: the worker is asked for its traceback (SIGUSR1), killed, and the
  case is recorded `timeout` with where it was stuck. The deadline is `timeout_s` from
  the start of the case; once the first (warm-up) call returns, the worker reports its
  duration and the deadline moves to at least `timeout_s` + twice what the timing
  protocol still needs at that speed, so a slow but healthy case is not cut short
  while a call that never returns still is.

Failures the worker catches itself (`error`, `oom`, `nan`, `invalid`) come back in
the record like any other status. After `oom`, or `error` on a CUDA device (a CUDA
error can leave the context unusable), the worker is replaced too.

Each worker leads its own process group, killed whole whenever the worker is stopped,
so nothing a kernel forked outlives the run (and holds its stdout open). Its private
memory is capped (RLIMIT_DATA, `memory_headroom`), so a runaway allocation is a
MemoryError, recorded `oom` with the limit, instead of the host's OOM killer. Worker
logs (faulthandler dumps) are named after the parent's pid; the ones of dead parents
are removed when a worker starts.

Messages cross the pipe as JSON text (`send_bytes`), so nothing is ever unpickled and
every record is known to be storable. The parent is the only writer of results.
"""
from __future__ import annotations

import json
import os
import re
import resource
import signal
import sys
import tempfile
import time
from dataclasses import asdict
from typing import Any

from .units import format_bytes, parse_bytes
from .record import from_json_value, to_json_safe
from .runner import (Case, RunContext, execute_case, failure_record, failure_status,
                     proc_field_bytes)

#: How often the parent checks that the worker lives and samples its resident memory.
POLL_S = 0.25
#: A worker killed by SIGKILL while holding this share of its memory limit (or of the
#: machine's memory) was most likely killed by the kernel's OOM killer.
LIKELY_OOM_SHARE = 0.5
#: Worker logs (faulthandler dumps) in the temporary folder: harness-worker-<parent pid>-*.log.
LOG_PREFIX = "harness-worker-"

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


def memory_headroom(max_memory: int | None) -> int | None:
    """Bytes a worker may allocate beyond what it holds once ready (None: no limit).

    Without a limit, a kernel that allocates without bound meets the host's OOM killer,
    which SIGKILLs whichever process it picks (and says nothing to the harness). With the
    limit, the allocation fails inside the worker, and the case is recorded `oom` with the
    figure. HARNESS_WORKER_MEMORY (e.g. 4G, or "off") sets it; otherwise it is 90% of the
    memory available now, and with --max-memory at most 4 x that budget (measured peaks
    reach 2.7 x the estimate the budget is checked against: temporaries the cost model
    does not count; docs/reliability.md)."""
    env = os.environ.get("HARNESS_WORKER_MEMORY", "").strip()
    if env.lower() in ("off", "none", "0"):
        return None
    if env:
        return parse_bytes(env)
    available = proc_field_bytes("MemAvailable", "/proc/meminfo")
    default = int(0.9 * available) if available else None
    if max_memory:
        return min(4 * max_memory, default) if default else 4 * max_memory
    return default


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process
    return True


def remove_stale_logs(folder: str | None = None, max_age_s: float = 86400.0) -> list[str]:
    """Delete worker logs left by runs that were killed (SIGKILL, power loss): those whose
    parent process is gone, and unnamed ones (older harness versions) older than a day."""
    folder = folder or tempfile.gettempdir()
    removed = []
    try:
        names = [n for n in os.listdir(folder) if n.startswith(LOG_PREFIX) and n.endswith(".log")]
    except OSError:
        return removed
    for name in names:
        path = os.path.join(folder, name)
        m = re.match(re.escape(LOG_PREFIX) + r"(\d+)-", name)
        try:
            stale = (not _process_alive(int(m.group(1)))) if m else \
                time.time() - os.stat(path).st_mtime > max_age_s
            if stale:
                os.unlink(path)
                removed.append(path)
        except OSError:
            pass
    return removed


def _resident_bytes(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _kill_group(pgid: int | None) -> None:
    """SIGKILL the worker's whole process group: children a kernel forked die with it
    (else they outlive the run and hold its stdout open, so a CI job never ends)."""
    if pgid is None or pgid == os.getpgrp():
        return  # never our own group
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass


def _has_children(pid: int) -> bool:
    """Whether `pid` has a child process: one read per thread, so that the scan of /proc
    in `kill_strays` (tens of ms on a loaded machine) runs only after a case that forked.
    A child that forked again and exited is not seen; its orphan still dies with the group
    when the worker stops."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                if f.read().strip():
                    return True
        except OSError:
            continue
    return False


def kill_strays(pgid: int | None, keep: int) -> int:
    """SIGKILL the processes of the worker's group other than the worker (`keep`): what a
    case forked and left running would take CPU time from the next cases' timings, so
    each case ends with its group reduced to the worker. Linux (/proc); returns the count."""
    if pgid is None or pgid == os.getpgrp() or not _has_children(keep):
        return 0
    killed = 0
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == keep:
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                state, _ppid, group = f.read().rsplit(b")", 1)[1].split()[:3]
            if int(group) == pgid and state != b"Z":
                os.kill(int(name), signal.SIGKILL)
                killed += 1
        except (OSError, ValueError):
            continue  # gone meanwhile
    return killed


class CaseSupervisor:
    """Runs cases in a reused spawned worker; see the module docstring."""

    def __init__(self, ctx: RunContext, timeout_s: float | None = None,
                 backends: list[str] | None = None, env: dict[str, str] | None = None,
                 start_timeout_s: float = START_TIMEOUT_S, max_memory: int | None = None):
        self.ctx = ctx
        self.timeout_s = timeout_s if timeout_s is not None else default_timeout(ctx.timing.budget_s)
        self.start_timeout_s = start_timeout_s
        self.config = {
            "seed": ctx.seed, "timing": asdict(ctx.timing), "machine_id": ctx.machine_id,
            "commit": ctx.commit, "run_id": ctx.run_id,
            "save_arrays": str(ctx.save_arrays) if ctx.save_arrays is not None else None,
            "backends": list(backends or []), "env": dict(env or {}), "parent_pid": os.getpid(),
            "memory_headroom": memory_headroom(max_memory),
        }
        self._proc = None
        self._conn = None
        self._fault_path: str | None = None
        self._ready = False
        self._pgid: int | None = None  # the worker's own process group, once it is ready
        self.memory_limit: int | None = None  # the worker's RLIMIT_DATA, as it reported it
        self._last_rss: int | None = None  # the worker's resident memory at the last poll
        self.started = 0  # workers started so far (1 + restarts)

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> None:
        """Start a worker without waiting for it (it builds its registry meanwhile)."""
        if self._proc is not None:
            return
        import multiprocessing as mp

        spawn = mp.get_context("spawn")
        remove_stale_logs()
        fd, self._fault_path = tempfile.mkstemp(prefix=f"{LOG_PREFIX}{os.getpid()}-", suffix=".log")
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
        self.memory_limit = msg.get("memory_limit")
        try:  # the worker made its own group (worker_main); anything else is not ours to kill
            self._pgid = self._proc.pid if os.getpgid(self._proc.pid) == self._proc.pid else None
        except OSError:
            self._pgid = None
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
        proc, conn, pgid = self._proc, self._conn, self._pgid
        self._proc = self._conn = self._pgid = None
        self._ready = False
        if proc is not None:
            if not kill and proc.is_alive() and conn is not None:
                try:
                    conn.send_bytes(b'{"kind":"stop"}')
                    proc.join(5)
                except (OSError, ValueError):
                    pass
            _kill_group(pgid)  # the worker if still alive, and whatever it forked
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
        self._last_rss = None
        while True:
            waited = self._wait_message(deadline)
            if waited == "timeout":
                return self._timeout_record(case, t0, pid)
            try:
                if waited == "dead":
                    raise EOFError  # exited without a result: crashed now, not at the deadline
                msg = json.loads(self._conn.recv_bytes())
            except (EOFError, OSError):
                return self._crashed_record(case, t0, pid)
            if msg.get("kind") == "progress":
                deadline = max(deadline, time.monotonic() + self.timeout_s +
                               2 * self.expected_after_first_call(float(msg.get("first_call_s") or 0)))
                continue
            break
        rec = {k: from_json_value(v) for k, v in msg["record"].items()}
        rec["isolation"] = "worker"
        if (strays := kill_strays(self._pgid, keep=pid)):
            rec["stray_processes_killed"] = strays
        if rec.get("status") == "oom" or (rec.get("status") == "error" and
                                          ("cuda" in str(case.device) or case.backend == "cupy")):
            self._stop_worker(kill=False)
        return rec

    def _wait_message(self, deadline: float) -> str:
        """"message" once one is waiting, "dead" when the worker exited without one (a
        process it forked may still hold the pipe open, so no EOF would come), or
        "timeout" at the deadline. Samples the worker's resident memory meanwhile."""
        assert self._conn is not None and self._proc is not None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            if self._conn.poll(min(left, POLL_S)):
                return "message"
            if not self._proc.is_alive():
                return "message" if self._conn.poll(0) else "dead"
            self._last_rss = _resident_bytes(self._proc.pid) or self._last_rss

    def _timeout_record(self, case: Case, t0: float, pid: int) -> dict[str, Any]:
        waited = time.perf_counter() - t0
        where = self._dump_traceback()
        self._stop_worker(kill=True)
        rec = failure_record(case, self.ctx, "timeout",
                             f"no result after {waited:.0f} s, worker killed"
                             f"{'; stuck ' + where if where else ''}. If the case is just slow, "
                             f"raise --timeout (now {self.timeout_s:g} s)")
        rec.update(case_wall_s=waited, worker_pid=pid, isolation="worker")
        return rec

    def _crashed_record(self, case: Case, t0: float, pid: int) -> dict[str, Any]:
        """The record of a worker that died: `crashed`, or `oom` when it was SIGKILLed
        while holding much memory (the kernel's OOM killer sends SIGKILL, and says so only
        in the system log)."""
        assert self._proc is not None
        self._proc.join(5)
        code = self._proc.exitcode
        dump = self._fault_dump()
        self._stop_worker(kill=True)
        status, message = "crashed", f"worker process died ({_signal_name(code)}){' ' + dump if dump else ''}"
        ref = self.memory_limit or proc_field_bytes("MemTotal", "/proc/meminfo")
        rss = self._last_rss
        if code == -signal.SIGKILL and rss and ref and rss >= LIKELY_OOM_SHARE * ref:
            what = "its memory limit" if self.memory_limit else "the machine's memory"
            status = "oom"
            message = (f"likely out of memory: the worker was killed by SIGKILL (the OOM killer's signal) "
                       f"holding {format_bytes(rss)} resident just before, {rss / ref:.0%} of {what} "
                       f"({format_bytes(ref)})")
        rec = failure_record(case, self.ctx, status, message)
        rec.update(case_wall_s=time.perf_counter() - t0, worker_pid=pid, isolation="worker")
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


def _own_process_group() -> None:
    """Lead a process group of its own, so the parent can kill the worker together with
    anything a kernel forked (os.killpg), and a Ctrl-C in the terminal reaches only the parent."""
    try:
        os.setpgid(0, 0)
    except OSError:
        pass


def _vm_data() -> int | None:
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmData:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _limit_memory(headroom: int | None) -> int | None:
    """Cap the worker's private writable memory (RLIMIT_DATA: heap and anonymous mappings,
    what malloc and every array library use) at what it holds now plus `headroom`, so a
    runaway allocation fails in the worker with MemoryError instead of waking the host's
    OOM killer. RLIMIT_DATA rather than RLIMIT_AS: address space that is only reserved
    (CUDA, JIT runtimes reserve terabytes) does not count. Returns the limit, or None."""
    held = _vm_data()
    if not headroom or held is None:
        return None
    limit = held + int(headroom)
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_DATA)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    except (OSError, ValueError):
        return None
    return limit


def worker_main(conn, config_json: str, fault_path: str) -> None:
    """Entry point of a worker process: build the registry, then run cases until told to stop."""
    import faulthandler

    _own_process_group()
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
    memory_limit = _limit_memory(config.get("memory_headroom"))
    conn.send_bytes(_json_bytes({"kind": "ready", "memory_limit": memory_limit}))
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
            rec = failure_record(case, ctx, failure_status(exc), f"{type(exc).__name__}: {exc}")
            rec["worker_pid"] = os.getpid()
        if rec.get("status") == "oom" and memory_limit:
            rec["message"] = (f"{rec.get('message') or ''} (worker memory limit {format_bytes(memory_limit)}; "
                              f"HARNESS_WORKER_MEMORY or --max-memory sets it)")[:2000]
            rec["worker_memory_limit_bytes"] = memory_limit
        conn.send_bytes(_json_bytes({"kind": "record", "record": rec}))
