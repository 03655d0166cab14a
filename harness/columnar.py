"""A columnar cache over the JSONL store, so that what a query costs grows with what it asks.

The JSONL files stay the durable log (harness/store.py): appended and fsync'ed record by
record, diffable, resumable. But a record carries its raw samples, output sample and
profile (about 3.4 kB of JSON), and parsing all of it to draw one heatmap made the report
cost grow faster than the history. So each results file gets a disposable columnar copy,
built by the same reader (`store.read_run`, hence `store.parse_line`) the first time it
is loaded:

  <cache>/<sha256 of the file's path>.meta.json        its key, header, warnings, columns
  <cache>/<...>.summary.parquet  one row per record, every scalar field as a typed column
  <cache>/<...>.nested.parquet   nested fields (samples, output sample, profile, ...) as
                                 JSON text, read only when such a column is asked for

The key is the file's size, mtime (ns) and inode: an appended, resumed or rewritten run
gets a new key and only that file is converted again. An entry built less than RACY_NS
after its file was last modified is not trusted (a change within the same timestamp tick
would go unseen), as git does with its index. An entry that is missing, stale or of
another CACHE_FORMAT is rebuilt quietly; one that cannot be read is rebuilt with a
warning. The cache lives outside the repository ($HARNESS_CACHE_DIR, else
$XDG_CACHE_HOME/kernel-harness/results, else ~/.cache/kernel-harness/results) and is never
committed; where it cannot be written, files are converted in memory, with one warning.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .record import REQUIRED_FIELDS, from_json_value, to_json_safe
from .store import ResultsFileError, ResultsWarning, read_run, result_files, warnings_at_caller

CACHE_ENV = "HARNESS_CACHE_DIR"
#: bump when the layout of an entry changes: entries of another format are rebuilt.
CACHE_FORMAT = 1
#: an entry built within this long of its file's mtime is rebuilt next time (racy write).
RACY_NS = 1_000_000_000
#: filled from the header where a record lacks them (as the report always did).
RUN_FIELDS = ("run_id", "machine_id", "commit")
#: columns that come from the run, not from a record's line.
FILE_COLUMNS = ("machine", "results_file")
#: what most queries need (the report's aggregation, comparisons, heatmaps): scalars only.
SUMMARY_COLUMNS = ("case_id", "kernel", "impl", "backend", "device", "dtype", "size", "status", "machine_id",
                   "run_id", "commit", "timestamp", "time_median_s", "time_iqr_s", "time_min_s", "rel_error",
                   "error_bound", "error_ratio", "verdict", "accuracy_ok")

_unwritable_warned: set[str] = set()


def cache_root() -> Path:
    """Where entries live: never inside the repository, so never committed."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kernel-harness" / "results"


def file_key(source: Path) -> dict[str, int]:
    st = os.stat(source)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}


@dataclass
class Entry:
    """One results file's columnar copy: on disk (paths) or, where the cache cannot be
    written, in memory (tables)."""

    source: Path
    root: Path | None
    key: dict[str, int]
    header: dict[str, Any]
    n_records: int
    summary_columns: list[str]
    nested_columns: list[str]
    warnings: list[str] = field(default_factory=list)
    tables: dict[str, Any] = field(default_factory=dict)

    def path(self, part: str) -> Path:
        assert self.root is not None
        digest = hashlib.sha256(str(self.source.resolve()).encode()).hexdigest()[:32]
        return self.root / f"{digest}.{part}"

    def read(self, part: str, columns: Sequence[str]):
        """The asked columns of the summary or nested table (pyarrow.Table)."""
        if part in self.tables:
            return self.tables[part].select(list(columns))
        import pyarrow.parquet as pq

        return pq.read_table(self.path(f"{part}.parquet"), columns=list(columns))


def _scalar_array(values: list[Any]):
    """A typed pyarrow array when every value is a scalar of one kind (ints and floats
    together become floats), else None: the column goes to the nested table as JSON."""
    import pyarrow as pa

    kinds = {type(v) for v in values if v is not None}
    if not kinds:
        return None
    try:
        if kinds == {bool}:
            return pa.array(values, pa.bool_())
        if kinds == {int}:
            return pa.array(values, pa.int64())
        if kinds <= {int, float}:
            return pa.array([None if v is None else float(v) for v in values], pa.float64())
        if kinds == {str}:
            return pa.array(values, pa.string())
    except (OverflowError, pa.ArrowInvalid):
        return None
    return None


_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, check_circular=False)


def _to_json(value: Any) -> str:
    """JSON text of a nested field; values read from JSON need no conversion, except a
    NaN or Infinity literal that Python's reader accepts."""
    try:
        return _ENCODER.encode(value)
    except (ValueError, TypeError):
        return json.dumps(to_json_safe(value), separators=(",", ":"), allow_nan=False, default=str)


def columnarize(header: dict[str, Any], records: list[dict[str, Any]]):
    """(summary, nested) pyarrow tables of one run's records, row i = record i."""
    import pyarrow as pa

    rows = [dict(r) for r in records]
    for row in rows:
        for k in RUN_FIELDS:
            if row.get(k) is None:
                row[k] = header.get(k)
    names = list(dict.fromkeys(k for row in rows for k in row))
    index = pa.array(range(len(rows)), pa.int32())
    summary, nested = {"row": index}, {"row": index}
    for name in names:
        values = [row.get(name) for row in rows]
        arr = _scalar_array(values)
        if arr is not None:
            summary[name] = arr
        elif any(v is not None for v in values):
            nested[name] = pa.array([None if v is None else _to_json(v) for v in values], pa.string())
    return pa.table(summary), pa.table(nested)


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _persist(entry: Entry) -> None:
    """Write an entry: the meta file last, so a crash leaves no meta for half an entry."""
    import pyarrow.parquet as pq

    assert entry.root is not None
    entry.root.mkdir(parents=True, exist_ok=True)
    meta_path = entry.path("meta.json")
    if meta_path.exists():
        meta_path.unlink()
    for part in ("summary", "nested"):
        _write_atomic(entry.path(f"{part}.parquet"), lambda p, t=entry.tables[part]: pq.write_table(t, p))
    meta = {"format": CACHE_FORMAT, "source": str(entry.source.resolve()), "key": entry.key,
            "built_ns": time.time_ns(), "header": entry.header, "n_records": entry.n_records,
            "summary_columns": entry.summary_columns, "nested_columns": entry.nested_columns,
            "warnings": entry.warnings}
    _write_atomic(meta_path, lambda p: p.write_text(json.dumps(to_json_safe(meta)), encoding="utf-8"))


def build_entry(source: Path, root: Path | None) -> Entry:
    """Convert one results file; raises ResultsFileError (a ValueError) when it is unusable.
    The key is taken before reading, so a file growing meanwhile is converted again next time."""
    key = file_key(source)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        header, records = read_run(source)
    for w in caught:
        warnings.warn(w.message, w.category, stacklevel=3)
    summary, nested = columnarize(header, records)
    entry = Entry(source, root, key, header, len(records), [c for c in summary.column_names if c != "row"],
                  [c for c in nested.column_names if c != "row"],
                  [str(w.message) for w in caught if issubclass(w.category, ResultsWarning)],
                  {"summary": summary, "nested": nested})
    if root is not None:
        try:
            _persist(entry)
            entry.tables = {}
        except OSError as exc:
            entry.root = None
            if str(root) not in _unwritable_warned:
                _unwritable_warned.add(str(root))
                warnings.warn(f"results cache {root} cannot be written ({exc.strerror or exc}); converting results "
                              f"in memory (set {CACHE_ENV} to a writable folder)", ResultsWarning, stacklevel=3)
    return entry


def open_entry(source: Path, root: Path) -> Entry | None:
    """The cached entry of `source` if it is fresh; None if missing, stale or damaged
    (damaged: with a warning; the caller rebuilds it)."""
    probe = Entry(source, root, {}, {}, 0, [], [])
    meta_path = probe.path("meta.json")
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != CACHE_FORMAT or meta["source"] != str(source.resolve()):
            return None
        entry = Entry(source, root, dict(meta["key"]), dict(meta["header"]), int(meta["n_records"]),
                      list(meta["summary_columns"]), list(meta["nested_columns"]), list(meta["warnings"]))
        built = int(meta["built_ns"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        warnings.warn(f"{source}: damaged results cache entry ({type(exc).__name__}); rebuilt from the JSONL file",
                      ResultsWarning, stacklevel=3)
        return None
    if entry.key != file_key(source) or built - entry.key["mtime_ns"] < RACY_NS:
        return None
    return entry


def entry_for(source: Path, root: Path | None) -> Entry:
    """A fresh entry for one file, from the cache where possible; its load warnings (a
    damaged line) are given again, as reading the JSONL file would."""
    entry = open_entry(source, root) if root is not None else None
    if entry is None:
        return build_entry(source, root)
    for msg in entry.warnings:
        warnings.warn(msg, ResultsWarning, stacklevel=3)
    return entry


def open_entries(paths: Iterable[str | os.PathLike], cache: bool = True) -> list[Entry]:
    """Entries of every readable results file under `paths`; an unusable file is skipped
    with a ResultsWarning that names it and says why (as store.iter_runs does)."""
    root = cache_root() if cache else None
    out = []
    for p in paths:
        for f in result_files(p):
            try:
                out.append(entry_for(f, root))
            except ResultsFileError as exc:
                warnings.warn(f"skipping {f}: {exc.reason}", ResultsWarning, stacklevel=2)
            except (ValueError, OSError, MemoryError) as exc:
                warnings.warn(f"skipping {f}: {type(exc).__name__}: {exc}", ResultsWarning, stacklevel=2)
    return out


def _read(entry: Entry, part: str, columns: Sequence[str]):
    """Read from an entry; a damaged parquet file is rebuilt from the JSONL, with a warning."""
    import pyarrow as pa

    try:
        return entry.read(part, columns)
    except (pa.ArrowException, OSError) as exc:
        warnings.warn(f"{entry.source}: damaged results cache entry ({type(exc).__name__}: {str(exc)[:80]}); "
                      f"rebuilt from the JSONL file", ResultsWarning, stacklevel=3)
        fresh = build_entry(entry.source, entry.root)
        entry.__dict__.update(fresh.__dict__)
        return entry.read(part, [c for c in columns if c == "row" or c in entry.summary_columns
                                 or c in entry.nested_columns])


def _mask(table, where: Mapping[str, Any], present: Sequence[str]):
    """Boolean mask of the rows that match every condition of `where` (value, or a
    list/tuple/set of values; None matches a missing value)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    mask = pa.array([True] * table.num_rows, pa.bool_())
    for col, want in where.items():
        allowed = list(want) if isinstance(want, (list, tuple, set, frozenset)) else [want]
        values = [v for v in allowed if v is not None]
        if col not in present:
            hit = pa.array([None in allowed] * table.num_rows, pa.bool_())
        else:
            arr = table[col]
            try:
                hit = pc.is_in(arr, value_set=pa.array(values, type=arr.type)) if values else pc.is_null(arr)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):  # values of another type match nothing
                hit = pa.array([False] * table.num_rows, pa.bool_())
            if values and None in allowed:
                hit = pc.or_(hit, pc.is_null(arr))
            hit = pc.fill_null(hit, False)
        mask = pc.and_(mask, hit)
    return mask


def _decode_json(text: str | None) -> Any:
    return None if text is None else from_json_value(json.loads(text))


def _object_array(values: Sequence[Any]):
    import numpy as np

    arr = np.empty(len(values), dtype=object)
    arr[:] = list(values)
    return arr


def _concat(tables: list):
    """One table from many files' tables; columns missing in some are null there, and
    ints meeting floats become floats. Types that cannot meet (a column of numbers in
    one file and of strings in another) fall back to pandas' object columns."""
    import pandas as pd
    import pyarrow as pa

    try:
        return pa.concat_tables(tables, promote_options="permissive").to_pandas()
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return pd.concat([t.to_pandas() for t in tables], ignore_index=True)


def _summary_part(entry: Entry, columns: Sequence[str] | None, where: Mapping[str, Any]):
    """The matching rows of one entry's summary table: its row number and the asked columns."""
    wanted = entry.summary_columns if columns is None else [c for c in columns if c in entry.summary_columns]
    read = list(dict.fromkeys(["row", *wanted, *(c for c in where if c in entry.summary_columns)]))
    table = _read(entry, "summary", read)
    if where:
        table = table.filter(_mask(table, where, entry.summary_columns))
    return table.select(["row", *(c for c in wanted if c in table.column_names)])


def _nested_part(entry: Entry, table, columns: Sequence[str] | None) -> dict[str, list]:
    """{nested column: decoded values} of the rows of `table` (one entry's summary rows)."""
    nested_cols = entry.nested_columns if columns is None else [c for c in columns if c in entry.nested_columns]
    if not nested_cols or not table.num_rows:
        return {}
    part = _read(entry, "nested", ["row", *nested_cols]).take(table["row"])
    return {c: [_decode_json(v) for v in part[c].to_pylist()] for c in nested_cols if c in part.column_names}


#: from this many files on, queries read one compacted summary of them all (see `compact_parts`).
COMPACT_MIN_FILES = 32
#: rows per row group of the compacted summary: sorted by kernel, so a kernel's query
#: reads only the row groups whose statistics can hold it.
COMPACT_ROW_GROUP = 32_768


def _compact_paths(entries: Sequence[Entry]) -> tuple[Path, Path]:
    """One compacted summary per folder the entries share: a new run replaces it."""
    common = os.path.commonpath([str(e.source.resolve()) for e in entries])
    digest = hashlib.sha256(common.encode()).hexdigest()[:32]
    root = entries[0].root
    assert root is not None
    return root / f"compact-{digest}.parquet", root / f"compact-{digest}.json"


def _compact_ids(entries: Sequence[Entry]) -> list:
    return [[str(e.source.resolve()), e.key] for e in entries]


def _build_compact(entries: Sequence[Entry], table_path: Path, meta_path: Path) -> None:
    """Every entry's summary in one file, sorted by kernel; skipped (per-file reads stay)
    when the files' columns cannot share one type."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = []
    for i, e in enumerate(entries):
        t = _read(e, "summary", ["row", *e.summary_columns])
        parts.append(t.append_column("_entry", pa.array([i] * t.num_rows, pa.int32())))
    try:
        table = pa.concat_tables(parts, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return
    if "kernel" in table.column_names:
        table = table.sort_by([("kernel", "ascending")])
    if meta_path.exists():
        meta_path.unlink()
    _write_atomic(table_path, lambda p: pq.write_table(table, p, row_group_size=COMPACT_ROW_GROUP))
    meta = {"format": CACHE_FORMAT, "entries": _compact_ids(entries), "columns": table.column_names}
    _write_atomic(meta_path, lambda p: p.write_text(json.dumps(meta), encoding="utf-8"))


def _filter_expression(where: Mapping[str, Any], present: Sequence[str]):
    """`where` as a pyarrow filter (what _mask does, pushed down to the row groups);
    None where a condition cannot be pushed down (a value of another type)."""
    import pyarrow.compute as pc

    expr = None
    for col, want in where.items():
        allowed = list(want) if isinstance(want, (list, tuple, set, frozenset)) else [want]
        values = [v for v in allowed if v is not None]
        if col not in present:
            cond = pc.scalar(None in allowed)
        else:
            if any(not isinstance(v, (str, int, float, bool)) for v in values):
                return None
            cond = pc.field(col).isin(values) if values else pc.field(col).is_null()
            if values and None in allowed:
                cond = cond | pc.field(col).is_null()
        expr = cond if expr is None else expr & cond
    return expr


def compact_parts(entries: Sequence[Entry], columns: Sequence[str] | None, where: Mapping[str, Any]):
    """[(entry index, its matching summary rows)] read from the compacted summary of all the
    entries, (re)building it when their files changed; None when per-file reads are used
    (few files, no cache folder, or a compacted summary that cannot be built or read)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    if len(entries) < COMPACT_MIN_FILES or any(e.root is None for e in entries):
        return None
    table_path, meta_path = _compact_paths(entries)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
    except (OSError, ValueError):
        meta = {}
    try:
        if meta.get("format") != CACHE_FORMAT or meta.get("entries") != _compact_ids(entries):
            _build_compact(entries, table_path, meta_path)
            if not meta_path.exists():
                return None
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        present = [c for c in meta["columns"] if c not in ("row", "_entry")]
        pq.read_metadata(table_path)  # a damaged file fails here, not as a filter of the wrong type
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
        warnings.warn(f"compacted results summary {table_path}: {type(exc).__name__}; reading the files one by one "
                      f"(it is rebuilt next time)", ResultsWarning, stacklevel=3)
        if meta_path.exists():
            meta_path.unlink()
        return None
    expr = _filter_expression(where, present) if where else None
    if where and expr is None:
        return None
    wanted = present if columns is None else [c for c in columns if c in present]
    try:
        table = pq.read_table(table_path, columns=["_entry", "row", *wanted], filters=expr)
    except (pa.ArrowException, OSError):  # e.g. a where value of another type than its column
        return None
    table = table.sort_by([("_entry", "ascending"), ("row", "ascending")])
    idx = table["_entry"].to_numpy()
    bounds = np.flatnonzero(np.diff(idx)) + 1
    starts, stops = np.concatenate([[0], bounds]), np.concatenate([bounds, [len(idx)]])
    return [(int(idx[a]), table.slice(a, b - a).drop_columns(["_entry"])) for a, b in zip(starts, stops) if b > a]


def query(entries: Sequence[Entry], columns: Sequence[str] | None = None, where: Mapping[str, Any] | None = None,
          position: bool = False):
    """The asked columns (None: all) of the records matching `where`, as a DataFrame.
    Only the asked columns are read; nested ones (samples, profiles) only when asked.
    `position` adds _entry and _row, which `fetch_records` takes."""
    import numpy as np
    import pandas as pd

    where = dict(where or {})
    tables, nested_parts, codes = [], [], []
    parts = compact_parts(entries, columns, where)
    if parts is None:
        parts = [(i, _summary_part(e, columns, where)) for i, e in enumerate(entries)]
    for i, table in parts:
        nested = _nested_part(entries[i], table, columns)
        if table.num_rows:
            tables.append(table)
            nested_parts.append((table.num_rows, nested))
            codes.append(np.full(table.num_rows, i, dtype=np.int32))
    df = _concat(tables) if tables else pd.DataFrame({"row": pd.Series([], dtype="int32")})
    code = np.concatenate(codes) if codes else np.zeros(0, dtype=np.int32)
    for name in dict.fromkeys(c for _, nested in nested_parts for c in nested):
        values = _object_array([v for n, nested in nested_parts for v in nested.get(name, [None] * n)])
        if name in df.columns:  # scalar in some files, nested in others
            from_nested = np.concatenate([np.full(n, name in nested) for n, nested in nested_parts])
            values = np.where(from_nested, values, df[name].astype(object).to_numpy())
        df[name] = values
    if columns is None or "machine" in columns:
        df["machine"] = _object_array([e.header.get("machine") or {} for e in entries] or [None])[code]
    if columns is None or "results_file" in columns:
        df["results_file"] = _object_array([str(e.source) for e in entries] or [None])[code]
    if position:
        df["_entry"], df["_row"] = code, df["row"].to_numpy()
    df = df.drop(columns=["row"])
    wanted = list(REQUIRED_FIELDS) if columns is None else list(columns)
    for c in wanted:
        if c not in df.columns:
            df[c] = None
    if columns is not None:
        df = df[list(dict.fromkeys([*columns, *(["_entry", "_row"] if position else [])]))]
    return df.reset_index(drop=True)


def load_results(path: str | os.PathLike = "results", columns: Sequence[str] | None = None,
                 where: Mapping[str, Any] | None = None, cache: bool = True):
    """Records under `path` (a file, or a folder searched recursively) as a DataFrame.

    columns: the fields to return (default: all, as before the cache existed; every
      required field is present). "machine" is the header's machine dict, "results_file"
      the file a row came from. SUMMARY_COLUMNS are the scalar fields most queries need;
      nested ones (time_samples_s, output_sample, profile, ...) are read only when asked.
    where: {field: value or list of values} that every returned row matches; None matches
      a missing value. E.g. where={"kernel": "matmul", "status": "ok"}.
    cache: False reads the JSONL files without the columnar cache (same result).

    Run-level fields (run_id, machine_id, commit) fill in from the header where a record
    lacks them. Unusable files and damaged lines are skipped with a ResultsWarning, as
    store.iter_runs does; the JSONL files are never written.
    """
    with warnings_at_caller():
        entries = open_entries([path], cache)
    return query(entries, columns, where)


def fetch_records(entries: Sequence[Entry], picks: Mapping[int, Sequence[int]]) -> dict[tuple[int, int], dict]:
    """Whole records, every field decoded, of the chosen rows ({entry index: row numbers}):
    what a report page draws, for the few records it shows. Empty optional fields are left
    out, as in a record read from its JSONL line; required fields are always there."""
    out: dict[tuple[int, int], dict] = {}
    for i, rows in picks.items():
        entry = entries[i]
        rows = sorted(set(int(r) for r in rows))
        summary = _read(entry, "summary", ["row", *entry.summary_columns]).take(rows).to_pylist()
        nested = _read(entry, "nested", ["row", *entry.nested_columns]).take(rows).to_pylist()
        for s, n in zip(summary, nested):
            rec = {k: v for k, v in s.items() if k != "row" and (v is not None or k in REQUIRED_FIELDS)}
            rec.update((k, _decode_json(v)) for k, v in n.items() if k != "row" and v is not None)
            for k in REQUIRED_FIELDS:
                rec.setdefault(k, None)
            out[(i, s["row"])] = rec
    return out

