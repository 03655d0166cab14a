"""The two guarantees a run file needs from the file system: one writer at a time, and an
append that either lands whole or leaves the file as it was.

- Two `harness run --resume` of the same file at once (or a resume of a run that is
  still going) each compute the missing cases before the other writes, so both measure
  and append them: every such case is recorded twice. A writer therefore holds an
  exclusive `flock` on the file for as long as it runs; a second one is refused with
  `RunFileBusy`. The kernel drops the lock when the process ends, even on SIGKILL, so a
  killed run never leaves a stale lock behind.
- A full disk (ENOSPC from write or fsync) can leave half a line. `append_line` cuts the
  file back to its length before the write and raises `ResultsWriteError`, naming the
  file: every record written before stays loadable, and a resume appends cleanly.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no locking, the rest still works
    fcntl = None  # type: ignore[assignment]

#: resolved path -> descriptor holding its lock, in this process.
_HELD: dict[str, int] = {}


class RunFileBusy(RuntimeError):
    """Another process is writing this run file."""

    def __init__(self, path: Path):
        self.path = path
        super().__init__(f"{path} is being written by another `harness run` (a run or a resume that is still "
                         f"going): wait for it to end, then resume again")


class ResultsWriteError(OSError):
    """A record could not be stored; the file holds every record before it, intact."""

    def __init__(self, path: Path, exc: OSError):
        self.path = path
        super().__init__(exc.errno, f"cannot write {path}: {exc.strerror or exc}")


def hold_run_file(path: str | os.PathLike) -> None:
    """Take the exclusive lock of a run file for the rest of this process (or until
    `release_run_file`); taking it again in the same process is a no-op."""
    key = str(Path(path).resolve())
    if key in _HELD or fcntl is None:
        return
    fd = os.open(key, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise RunFileBusy(Path(path)) from None
        return  # a file system without locks (some network mounts): write unlocked
    _HELD[key] = fd


def release_run_file(path: str | os.PathLike) -> None:
    fd = _HELD.pop(str(Path(path).resolve()), None)
    if fd is not None:
        os.close(fd)


def append_line(path: Path, line: str) -> None:
    """Append one line and fsync it; on failure, cut the file back and raise ResultsWriteError."""
    data = (line + "\n").encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as exc:
        raise ResultsWriteError(path, exc) from exc
    try:
        start = os.lseek(fd, 0, os.SEEK_END)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError as exc:
            try:
                os.ftruncate(fd, start)  # frees the blocks of the cut line: works on a full disk too
            except OSError:
                pass
            raise ResultsWriteError(path, exc) from exc
    finally:
        os.close(fd)
