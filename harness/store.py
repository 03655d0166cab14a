"""Storing and loading results: JSON Lines, one file per run, one folder per machine.

Each record is appended, flushed and fsync'ed before the next case starts, so a run
killed at any moment leaves every finished case loadable (at worst the last line is
cut short, and it is skipped). Loading never unpickles: results are JSON text. A file
that is truncated, corrupted, binary, of another schema or of an unknown schema
version is skipped with a warning naming it; `read_run` raises `ResultsFileError`.

Schema versions: a file of a newer version is refused (upgrade kernel-harness to read
it); an older version is upgraded by the functions in `MIGRATIONS` (old version ->
function returning the header and records one version up) or refused when there is
none. Version 1 is the first, so `MIGRATIONS` is empty for now.
"""
from __future__ import annotations

import contextlib
import json
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

from .record import SCHEMA, SCHEMA_VERSION, from_json_value, to_json_safe
from .record_schema import drop_duplicates, header_problem, record_problem
from .run_file import ResultsWriteError, append_line, hold_run_file, release_run_file

#: A header line longer than this means the file is not a results file.
MAX_HEADER_BYTES = 1 << 20

#: old schema_version -> fn(header, records) -> (header, records) of version + 1.
MIGRATIONS: dict[int, Callable[[dict[str, Any], list[dict[str, Any]]],
                               tuple[dict[str, Any], list[dict[str, Any]]]]] = {}


class ResultsWarning(UserWarning):
    """A results file (or a line of one) that could not be used."""


class ResultsFileError(ValueError):
    """A results file that cannot be read at all; the message names the file and says why."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class SchemaVersionError(ResultsFileError):
    """A results file of a schema version this harness cannot read or migrate."""


def _fsync_dir(folder: Path) -> None:
    """Make a new file's directory entry durable too (POSIX; a no-op where unsupported)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class RunWriter:
    """Appends the records of one run to results/<machine_id>/<run_id>.jsonl.

    Given the `path` of an existing run (`harness run --resume`), it appends to it: a
    line cut short by a kill is first terminated, so it stays one skipped line and the
    next record starts on a line of its own.
    """

    def __init__(self, out_dir: str | os.PathLike, header: dict[str, Any], path: Path | None = None):
        self.header = dict(header)
        if path is None:
            folder = Path(out_dir) / header["machine_id"]
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{header['run_id']}.jsonl"
        self.path = Path(path)
        if not self.path.exists() or self.path.stat().st_size == 0:
            head = {"kind": "header", "schema": SCHEMA, "schema_version": SCHEMA_VERSION, **self.header}
            try:
                self._append(head)
            except ResultsWriteError:
                self.path.unlink(missing_ok=True)  # no empty file left behind (disk full)
                raise
            _fsync_dir(self.path.parent)
            hold_run_file(self.path)
        else:
            hold_run_file(self.path)  # RunFileBusy if another run is writing it
            with open(self.path, "rb") as f:
                f.seek(-1, os.SEEK_END)
                last = f.read(1)
            if last != b"\n":
                with open(self.path, "ab") as f:
                    f.write(b"\n")
                    f.flush()
                    os.fsync(f.fileno())

    def _append(self, obj: dict[str, Any]) -> None:
        line = json.dumps(to_json_safe(obj), separators=(",", ":"), allow_nan=False, default=str)
        append_line(self.path, line)  # whole and fsync'ed, or ResultsWriteError with the file as before

    def write(self, record: dict[str, Any]) -> None:
        self._append({"kind": "record", **record})

    def close(self) -> None:
        """Let another run resume this file (the lock also ends with the process)."""
        release_run_file(self.path)

    def note(self, kind: str, **fields: Any) -> None:
        """A non-record line (e.g. kind="resume"); readers keep it in header[kind + 's']."""
        self._append({"kind": kind, **fields})


def _decode(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: from_json_value(v) for k, v in obj.items()}


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """The checked (and if need be migrated) header of a results file, reading only line 1."""
    path = Path(path)
    with open(path, "rb") as f:
        first = f.readline(MAX_HEADER_BYTES)
    return _check_header(path, first)


def _check_header(path: Path, first: bytes) -> dict[str, Any]:
    if not first.strip():
        raise ResultsFileError(path, "empty results file (no header line)")
    if not first.endswith(b"\n") and len(first) >= MAX_HEADER_BYTES:
        raise ResultsFileError(path, "not a kernel-harness results file (no header line in the first MiB)")
    try:
        header = json.loads(first.decode("utf-8-sig"))  # -sig: a UTF-8 BOM some editors add is fine
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ResultsFileError(path, f"not a kernel-harness results file: the first line is not a JSON "
                                     f"header ({type(exc).__name__}; binary or damaged file?)") from None
    if not isinstance(header, dict) or header.get("schema") != SCHEMA:
        schema = header.get("schema") if isinstance(header, dict) else None
        raise ResultsFileError(path, f"not a kernel-harness results file (schema {schema!r}, "
                                     f"expected {SCHEMA!r})")
    version = header.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise SchemaVersionError(path, f"schema_version {version!r} is not an integer; the header is damaged")
    if (problem := header_problem(header)):
        raise ResultsFileError(path, problem)
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(path, f"written by a newer kernel-harness (schema version {version}, this "
                                       f"one reads up to {SCHEMA_VERSION}): upgrade kernel-harness to read it")
    if version < SCHEMA_VERSION and version not in MIGRATIONS:
        raise SchemaVersionError(path, f"schema version {version} is older than this kernel-harness can "
                                       f"read or migrate (it reads version {SCHEMA_VERSION}): re-run the "
                                       f"cases, or read the file with the kernel-harness that wrote it")
    return header


def _migrate(path: Path, header: dict[str, Any], records: list[dict[str, Any]]):
    version = header["schema_version"]
    while version < SCHEMA_VERSION:
        header, records = MIGRATIONS[version](header, records)
        version += 1
        if version < SCHEMA_VERSION and version not in MIGRATIONS:
            raise SchemaVersionError(path, f"no migration from schema version {version}")
        header["schema_version"] = version
    return header, records


#: the kind `parse_line` gives a line that cannot be used (cut short, not JSON, not a record).
DAMAGED = "damaged"


def parse_line(raw: bytes) -> tuple[str, dict[str, Any]] | None:
    """One line after the header, as (kind, object without its "kind"): the single place
    where a JSONL line becomes a record, so every reader (read_run, the columnar cache)
    accepts and refuses the same lines. None for a blank line; (DAMAGED, {}) for a line
    that is cut short, not JSON, a record without case_id or of an unknown status.
    Lines of unknown kinds come back as they are; readers ignore the kinds they don't know."""
    if not raw.strip(b" \t\r"):
        return None
    if not raw.strip(b" \t\r\x00"):  # NUL filler a crash can leave at the end of a file
        return DAMAGED, {}
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):  # RecursionError: nested too deep
        return DAMAGED, {}
    if not isinstance(obj, dict):
        return DAMAGED, {}
    kind = obj.pop("kind", None)
    if kind == "record":
        if (reason := record_problem(obj)):
            return DAMAGED, {"reason": reason}
        return "record", _decode(obj)
    if not isinstance(kind, str) or kind == DAMAGED:
        return "header", obj  # no kind (or a reserved one): ignored like a second header
    return kind, obj


def read_run(path: str | os.PathLike) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(header, records) of one results file. Raises ResultsFileError (a ValueError) if the
    file is unusable; damaged lines (a run killed mid-write) are dropped with one warning.

    Lines of other kinds than "record" (e.g. "resume") are gathered in the header under
    kind + "s"; unknown kinds are ignored so older readers survive newer notes."""
    path = Path(path)
    with open(path, "rb") as f:
        first = f.readline(MAX_HEADER_BYTES)
        header = _check_header(path, first)
        rest = f.read()
    records: list[dict[str, Any]] = []
    damaged: list[int] = []
    reasons: dict[int, str] = {}  # line -> why a line of valid JSON is not a usable record
    for lineno, raw in enumerate(rest.split(b"\n"), start=2):
        parsed = parse_line(raw)
        if parsed is None:
            continue
        kind, obj = parsed
        if kind == DAMAGED:
            damaged.append(lineno)
            if obj.get("reason"):
                reasons[lineno] = obj["reason"]
        elif kind == "record":
            records.append(obj)
        elif kind != "header":
            header.setdefault(kind + "s", []).append(obj)
    if damaged:
        shown = ", ".join(f"{n}" + (f" ({reasons[n]})" if n in reasons else "") for n in damaged[:5])
        warnings.warn(f"{path}: {len(damaged)} damaged line(s) skipped (line {shown}"
                      f"{', ...' if len(damaged) > 5 else ''}; a run killed mid-write leaves one cut-off "
                      f"last line)", ResultsWarning, stacklevel=2)
    records, duplicates = drop_duplicates(records)
    if duplicates:
        warnings.warn(f"{path}: {len(duplicates)} duplicate record(s) of the same case dropped, the first "
                      f"kept ({', '.join(duplicates[:3])}{', ...' if len(duplicates) > 3 else ''}; two runs "
                      f"wrote to this file at once?)", ResultsWarning, stacklevel=2)
    if header["schema_version"] < SCHEMA_VERSION:
        header, records = _migrate(path, header, records)
    return header, records


def result_files(path: str | os.PathLike) -> list[Path]:
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.exists():
        raise FileNotFoundError(f"no results at {p}" + (" (a symbolic link that loops or leads nowhere)"
                                                        if p.is_symlink() else ""))
    found = sorted(p.rglob("*.jsonl"))
    for q in found:
        if not q.is_file() and q.is_symlink():
            warnings.warn(f"skipping {q}: a symbolic link that loops or leads nowhere", ResultsWarning,
                          stacklevel=3)
    return [q for q in found if q.is_file()]


def iter_runs(path: str | os.PathLike) -> Iterator[tuple[Path, dict[str, Any], list[dict[str, Any]]]]:
    """(file, header, records) of every readable run under `path`; the others are skipped
    with a ResultsWarning that names the file and says why."""
    for f in result_files(path):
        try:
            header, records = read_run(f)
        except ResultsFileError as exc:
            warnings.warn(f"skipping {f}: {exc.reason}", ResultsWarning, stacklevel=2)
            continue
        except (ValueError, OSError, MemoryError, RecursionError) as exc:
            warnings.warn(f"skipping {f}: {type(exc).__name__}: {exc}", ResultsWarning, stacklevel=2)
            continue
        yield f, header, records


@contextlib.contextmanager
def warnings_at_caller(stacklevel: int = 4):
    """Gives each ResultsWarning raised inside once, attributed to the line that called
    the function using this (4: this generator, contextlib, the function, its caller). Left to themselves they
    point into the harness, so Python echoes a line of harness code under each message,
    which reads as the warning printed a second time."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for message in dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, ResultsWarning)):
        warnings.warn(message, ResultsWarning, stacklevel=stacklevel)
    for w in caught:
        if not issubclass(w.category, ResultsWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
