"""Storing and loading results: JSON Lines, one file per run, one folder per machine.

Each record is appended, flushed and fsync'ed before the next case starts, so a run
killed at any moment leaves every finished case loadable. Loading never unpickles;
a truncated, corrupted or foreign file is skipped with a warning naming it.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, Iterator

from .record import SCHEMA, SCHEMA_VERSION, from_json_value, to_json_safe


class ResultsWarning(UserWarning):
    """A results file (or a line of one) that could not be used."""


class RunWriter:
    """Appends the records of one run to results/<machine_id>/<run_id>.jsonl."""

    def __init__(self, out_dir: str | os.PathLike, header: dict[str, Any], path: Path | None = None):
        self.header = dict(header)
        if path is None:
            folder = Path(out_dir) / header["machine_id"]
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{header['run_id']}.jsonl"
        self.path = Path(path)
        if not self.path.exists() or self.path.stat().st_size == 0:
            head = {"kind": "header", "schema": SCHEMA, "schema_version": SCHEMA_VERSION, **self.header}
            self._append(head)

    def _append(self, obj: dict[str, Any]) -> None:
        line = json.dumps(to_json_safe(obj), separators=(",", ":"), allow_nan=False)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    def write(self, record: dict[str, Any]) -> None:
        self._append({"kind": "record", **record})


def _decode(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: from_json_value(v) for k, v in obj.items()}


def read_run(path: str | os.PathLike) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(header, records) of one results file. Raises ValueError if the file is unusable;
    a damaged last line (a run killed mid-write) is dropped with a warning."""
    path = Path(path)
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    if not lines:
        raise ValueError(f"{path}: empty results file")
    try:
        header = json.loads(lines[0])
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: first line is not JSON ({exc})") from exc
    if not isinstance(header, dict) or header.get("schema") != SCHEMA:
        raise ValueError(f"{path}: not a kernel-harness results file (schema {header.get('schema') if isinstance(header, dict) else None!r})")
    version = header.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ValueError(f"{path}: schema version {version!r} is not supported (this harness reads "
                         f"version {SCHEMA_VERSION}); re-run the cases or upgrade kernel-harness")
    records = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            warnings.warn(f"{path}:{lineno}: damaged line skipped (truncated write?)", ResultsWarning, stacklevel=2)
            continue
        if isinstance(obj, dict) and obj.get("kind") == "record":
            obj.pop("kind")
            records.append(_decode(obj))
    return header, records


def result_files(path: str | os.PathLike) -> list[Path]:
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.exists():
        raise FileNotFoundError(f"no results at {p}")
    return sorted(q for q in p.rglob("*.jsonl") if q.is_file())


def iter_runs(path: str | os.PathLike) -> Iterator[tuple[Path, dict[str, Any], list[dict[str, Any]]]]:
    for f in result_files(path):
        try:
            header, records = read_run(f)
        except (ValueError, OSError, UnicodeDecodeError) as exc:
            warnings.warn(f"skipping {f}: {exc}", ResultsWarning, stacklevel=2)
            continue
        yield f, header, records


def load_results(path: str | os.PathLike = "results"):
    """All records under `path` (a file, or a folder searched recursively) as a DataFrame.

    Run-level fields (run_id, machine_id, commit) fill in from the header where a
    record lacks them; `machine` holds the header's machine dict, `source` the file.
    """
    import pandas as pd

    from .record import REQUIRED_FIELDS

    rows = []
    for f, header, records in iter_runs(path):
        for r in records:
            row = dict(r)
            for k in ("run_id", "machine_id", "commit"):
                if row.get(k) is None:
                    row[k] = header.get(k)
            row["machine"] = header.get("machine", {})
            row["source"] = str(f)
            rows.append(row)
    cols = list(REQUIRED_FIELDS)
    df = pd.DataFrame(rows)
    for c in cols:
        if c not in df.columns:
            df[c] = None
    return df
