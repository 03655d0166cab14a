"""The columnar cache over the JSONL store (harness/columnar.py) and the report built on it:
staleness, damaged entries, column and row selection, the compacted summary, and kernel
pages whose size does not grow with the number of runs."""
import json
import os
import time
import warnings
from pathlib import Path

import pytest

from harness import columnar
from harness.columnar import load_results
from harness.record import new_record
from harness.store import ResultsWarning, RunWriter

KERNELS = ("sum", "saxpy")


def write_run(folder: Path, run_id: str, commit: str = "c0ffee00", stamp: str = "2025-01-01T00:00:00+00:00",
              scale: float = 1.0, kernels=KERNELS, age_s: float = 60.0) -> Path:
    """A run of real-looking records, its mtime set `age_s` in the past (as after a run)."""
    w = RunWriter(folder, {"run_id": run_id, "machine_id": "m1", "commit": commit, "started": stamp,
                           "machine": {"cpu": "test"}})
    for k in kernels:
        for backend in ("numpy", "torch"):
            for size in (100, 1000):
                w.write(new_record(kernel=k, impl=backend, backend=backend, device="cpu", dtype="float32",
                                   size=size, status="ok", machine_id="m1", commit=commit, timestamp=stamp,
                                   time_median_s=scale * size * (1e-9 if backend == "numpy" else 2e-9),
                                   time_samples_s=[scale * size * 1e-9] * 3, n_samples=3, rel_error=1e-7,
                                   error_bound=1e-6, error_ratio=0.1, accuracy_ok=True, verdict="within",
                                   output_sha256=f"{k}{size}", inputs_sha256=f"in-{k}{size}",
                                   profile={"x": [1, 2], "error": [1e-7, 2e-7]}, error_model={"metric": "normwise"}))
    age(w.path, age_s)
    return w.path


def age(path: Path, seconds: float) -> None:
    t = time.time_ns() - int(seconds * 1e9)
    os.utime(path, ns=(t, t))


def meta_files(cache: Path):
    return sorted(p for p in cache.glob("*.meta.json"))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(d))
    return d


@pytest.fixture
def conversions(monkeypatch):
    """Counts the JSONL files parsed (cache misses)."""
    seen = []
    real = columnar.read_run

    def counting(path):
        seen.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(columnar, "read_run", counting)
    return seen


def test_cache_is_built_once_and_matches_the_jsonl(tmp_path, cache, conversions):
    run = write_run(tmp_path / "results", "r1")
    first = load_results(tmp_path / "results")
    assert conversions == [run.name] and len(meta_files(cache)) == 1
    again = load_results(tmp_path / "results")
    assert conversions == [run.name]  # served from the cache
    plain = load_results(tmp_path / "results", cache=False)
    assert len(first) == len(again) == len(plain) == 8
    for df in (again, plain):
        assert sorted(df.columns) == sorted(first.columns)
        assert list(df.time_samples_s) == list(first.time_samples_s)
        assert list(df.machine) == [{"cpu": "test"}] * 8
    assert not any(p.is_relative_to(tmp_path / "results") for p in cache.rglob("*"))


def test_an_appended_run_is_converted_again_and_only_it(tmp_path, cache, conversions):
    results = tmp_path / "results"
    a = write_run(results, "r1")
    b = write_run(results, "r2")
    assert len(load_results(results)) == 16 and sorted(conversions) == sorted([a.name, b.name])
    conversions.clear()
    w = RunWriter(results, {}, path=b)  # as `harness run --resume` appends
    w.write(new_record(kernel="sum", impl="numpy", backend="numpy", device="cpu", dtype="float32", size=7,
                       status="ok", machine_id="m1"))
    age(b, 30)
    df = load_results(results)
    assert conversions == [b.name] and len(df) == 17 and 7 in set(df["size"])


def test_an_entry_built_right_after_a_write_is_not_trusted(tmp_path, cache, conversions):
    run = write_run(tmp_path / "results", "r1", age_s=0)  # mtime: now
    load_results(tmp_path / "results")
    load_results(tmp_path / "results")
    assert conversions == [run.name, run.name]  # racy: converted again
    age(run, 30)
    load_results(tmp_path / "results")
    load_results(tmp_path / "results")
    assert conversions == [run.name] * 3


@pytest.mark.parametrize("part", ["summary.parquet", "nested.parquet", "meta.json"])
def test_a_damaged_cache_entry_is_rebuilt_with_a_warning(tmp_path, cache, part):
    write_run(tmp_path / "results", "r1")
    good = load_results(tmp_path / "results")
    (victim,) = cache.glob(f"*.{part}")
    victim.write_bytes(b"PAR1 not parquet at all \x00\xff" * 3)
    with pytest.warns(ResultsWarning, match="damaged results cache entry.*rebuilt"):
        df = load_results(tmp_path / "results")
    assert len(df) == len(good) and list(df.time_samples_s) == list(good.time_samples_s)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResultsWarning)
        assert len(load_results(tmp_path / "results")) == len(good)  # rebuilt: no second warning


def test_an_unwritable_cache_converts_in_memory_with_one_warning(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(columnar, "_unwritable_warned", set())
    write_run(tmp_path / "results", "r1")
    write_run(tmp_path / "results", "r2")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = load_results(tmp_path / "results", where={"kernel": "sum"})
    msgs = [str(w.message) for w in caught if "cannot be written" in str(w.message)]
    assert len(msgs) == 1 and len(df) == 8


def test_damaged_lines_still_warn_when_served_from_the_cache(tmp_path, cache):
    run = write_run(tmp_path / "results", "r1")
    with open(run, "a") as f:
        f.write('{"kind":"record","case_id":"x","status":"ok","time_med')
    age(run, 30)
    for _ in range(2):
        with pytest.warns(ResultsWarning, match="1 damaged line"):
            assert len(load_results(tmp_path / "results")) == 8


def test_columns_and_where_read_only_what_is_asked(tmp_path, cache, monkeypatch):
    write_run(tmp_path / "results", "r1")
    load_results(tmp_path / "results")
    reads = []
    real = columnar.Entry.read

    def spy(self, part, columns):
        reads.append((part, tuple(columns)))
        return real(self, part, columns)

    monkeypatch.setattr(columnar.Entry, "read", spy)
    df = load_results(tmp_path / "results", columns=["kernel", "time_median_s"], where={"kernel": "sum"})
    assert list(df.columns) == ["kernel", "time_median_s"] and set(df.kernel) == {"sum"} and len(df) == 4
    assert [p for p, _ in reads] == ["summary"] and set(reads[0][1]) == {"row", "kernel", "time_median_s"}
    reads.clear()
    df = load_results(tmp_path / "results", columns=["size", "time_samples_s"],
                      where={"kernel": ["sum", "saxpy"], "backend": "torch", "size": 1000})
    assert len(df) == 2 and all(s == pytest.approx([1e-6] * 3) for s in df.time_samples_s)
    assert [p for p, _ in reads] == ["summary", "nested"] and set(reads[1][1]) == {"row", "time_samples_s"}
    # None matches a field a record lacks; values of another type match nothing
    assert len(load_results(tmp_path / "results", columns=["kernel"], where={"no_such_field": None})) == 8
    assert len(load_results(tmp_path / "results", columns=["kernel"], where={"no_such_field": 1})) == 0
    assert len(load_results(tmp_path / "results", columns=["kernel"], where={"size": "1000"})) == 0
    missing = load_results(tmp_path / "results", columns=["kernel", "not_a_field"])
    assert missing["not_a_field"].isna().all()


def test_compacted_summary_answers_like_the_files_and_follows_changes(tmp_path, cache, monkeypatch):
    monkeypatch.setattr(columnar, "COMPACT_MIN_FILES", 2)
    results = tmp_path / "results"
    runs = [write_run(results, f"r{i}", scale=1 + i) for i in range(3)]
    expect = load_results(results, columns=["run_id", "time_median_s"], where={"kernel": "saxpy"}, cache=False)
    got = load_results(results, columns=["run_id", "time_median_s"], where={"kernel": "saxpy"})
    assert list(cache.glob("compact-*.parquet"))
    assert got.sort_values(["run_id", "time_median_s"]).values.tolist() == \
        expect.sort_values(["run_id", "time_median_s"]).values.tolist()
    w = RunWriter(results, {}, path=runs[1])
    w.write(new_record(kernel="saxpy", impl="numpy", backend="numpy", device="cpu", dtype="float32", size=5,
                       status="ok", machine_id="m1", time_median_s=9.0))
    age(runs[1], 30)
    got = load_results(results, columns=["run_id", "size", "time_median_s"], where={"kernel": "saxpy", "size": 5})
    assert got.values.tolist() == [["r1", 5, 9.0]]
    # a damaged compacted summary: one warning, answers from the files, rebuilt next time
    (compact,) = cache.glob("compact-*.parquet")
    compact.write_bytes(b"garbage")
    with pytest.warns(ResultsWarning, match="compacted results summary"):
        assert len(load_results(results, columns=["kernel"])) == 25
    assert len(load_results(results, columns=["kernel"])) == 25


# ---- the report ---------------------------------------------------------------------

def test_kernel_page_size_does_not_grow_with_runs(tmp_path, cache):
    from harness.report import build_report

    sizes = {}
    for n_runs in (1, 6):
        results = tmp_path / f"results-{n_runs}"
        for i in range(n_runs):  # same commit, a run a day, medians jittered
            write_run(results, f"r{i}", stamp=f"2025-01-{1 + i:02d}T00:00:00+00:00", scale=1 + 0.01 * i)
        site = build_report([results], tmp_path / f"site-{n_runs}")
        assert site.n_records == 8 * n_runs
        sizes[n_runs] = (tmp_path / f"site-{n_runs}" / "kernel-sum.html").stat().st_size
    assert abs(sizes[6] - sizes[1]) <= 0.01 * sizes[1], sizes


def test_history_is_per_commit_medians_of_the_newest_commits(tmp_path, cache):
    from harness.report.data import _summary_frame, history_rows

    results = tmp_path / "results"
    for i, (commit, scale) in enumerate([("aaaa", 1.0), ("aaaa", 3.0), ("aaaa", 2.0), ("bbbb", 5.0), ("cccc", 7.0)]):
        write_run(results, f"r{i}", commit=commit, stamp=f"2025-01-{1 + i:02d}T00:00:00+00:00", scale=scale,
                  kernels=("sum",))
    _, df = _summary_frame([results], None)
    rows = history_rows(df, max_commits=2)
    assert {r["commit"] for r in rows} == {"bbbb", "cccc"}  # the newest two
    rows = history_rows(df, max_commits=10)
    a = next(r for r in rows if r["commit"] == "aaaa" and r["backend"] == "numpy" and r["size"] == 1000)
    assert a["time_median_s"] == pytest.approx(2.0 * 1000 * 1e-9) and a["n_runs"] == 3
    assert a["timestamp"] == "2025-01-01T00:00:00+00:00"  # first measured


def test_only_pages_whose_inputs_changed_are_rebuilt(tmp_path, cache):
    from harness.report import build_report

    results, out = tmp_path / "results", tmp_path / "site"
    write_run(results, "r1")
    assert sorted(build_report([results], out).rebuilt) == sorted(KERNELS)
    assert build_report([results], out).rebuilt == []
    write_run(results, "r2", stamp="2025-01-02T00:00:00+00:00", scale=2.0, kernels=("sum",))
    assert build_report([results], out).rebuilt == ["sum"]
    (out / "kernel-saxpy.html").unlink()
    assert build_report([results], out).rebuilt == ["saxpy"]


# ---- the scale benchmark -------------------------------------------------------------

def test_synthetic_records_are_marked_and_never_go_under_results(tmp_path):
    from harness.scale import CASES, ScaleUsageError, write_history
    from harness.store import read_run

    with pytest.raises(ScaleUsageError, match="never written under a results/ folder"):
        write_history(tmp_path / "results" / "x", 10)
    assert not (tmp_path / "results").exists()
    (f,) = write_history(tmp_path / "syn", CASES)
    header, records = read_run(f)
    assert header["synthetic"] is True and header["machine_id"].startswith("synthetic")
    assert len(records) == CASES and all(r["kernel"].startswith("synthetic") for r in records)
    assert all(r["run_id"] == header["run_id"] for r in records)


def test_scale_cli_refuses_a_results_folder_with_exit_2(tmp_path):
    from click.testing import CliRunner

    from harness.cli import main

    res = CliRunner().invoke(main, ["selftest", "--scale", "--scale-records", "100",
                                    "--scale-dir", str(tmp_path / "results")])
    assert res.exit_code == 2 and "results/" in res.output
    res = CliRunner().invoke(main, ["selftest", "--scale", "--scale-records", "ten"])
    assert res.exit_code == 2
