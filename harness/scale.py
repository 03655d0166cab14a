"""The scale benchmark (`harness selftest --scale`): what loading and reporting cost as the
history grows, measured on N synthetic records at several N, with the growth exponent.

The records are synthetic and say so: machine ids, run ids and kernels start with
"synthetic", every header has "synthetic": true, and they are written only into a
temporary folder (never under a folder named results/), which is deleted afterwards. Each
record has the fields and about the size of a real one (3.4 kB of JSON: samples, output
sample, divergence flags, error model), so parsing costs what it would.

A history is machines × nightly runs × cases: every run measures the same CASES on one
machine at one commit (a new commit per night), medians jittered by ±10%. Each
measurement runs in a fresh process, so its peak RSS is its own:

  convert       the first load_results of the summary columns, building the cache
  load_summary  load_results(columns=SUMMARY_COLUMNS) from the cache
  load_kernel   the same, where={"kernel": one kernel}
  report        `harness report` into an empty folder (the cache built)
  report_again  the same again, nothing changed (no kernel page is rebuilt)
"""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from .record import SCHEMA, SCHEMA_VERSION, new_record, to_json_safe

SYNTHETIC = "synthetic"
KERNELS = tuple(f"{SYNTHETIC}_{i:02d}" for i in range(19))
BACKENDS = ("numpy", "torch", "opencl")
DTYPES = ("float32", "float64")
SIZES = (1_000, 10_000, 100_000, 1_000_000, 3_000_000, 10_000_000, 30_000_000)
#: records per run: as many as the committed quick run has.
CASES = len(KERNELS) * len(BACKENDS) * len(DTYPES) * len(SIZES)
MACHINES = 10
#: the issue's goals at 1M records (seconds, bytes).
GOALS = {"load_summary_s": 10.0, "load_kernel_s": 1.0, "peak_rss_bytes": 2 * 2**30, "report_s": 60.0,
         "site_bytes": 50 * 2**20, "kernel_page_bytes": 2 * 2**20}
STEPS = ("convert", "load_summary", "load_kernel", "report", "report_again")


class ScaleUsageError(ValueError):
    """A place the synthetic records must not go."""


def _case_template(rng: random.Random, kernel: str, backend: str, dtype: str, size: int) -> dict[str, Any]:
    """One synthetic case with every field a real record carries (samples, output sample,
    divergence flags), so that a line costs what a real one costs to parse."""
    t = 1e-9 * size * (1 + rng.random()) * (2 if dtype == "float64" else 1) * (0.5 if backend != "numpy" else 1)
    u = 2.0**-24 if dtype == "float32" else 2.0**-53
    err = u * rng.uniform(0.1, 10)
    positions = sorted(rng.sample(range(size), 32))
    values = [rng.uniform(-1, 1) for _ in positions]
    return new_record(
        kernel=kernel, impl=backend, backend=backend, device="cpu", dtype=dtype, size=size, status="ok",
        message="", time_median_s=t, time_iqr_s=t * 0.05, time_min_s=t * 0.95,
        time_samples_s=[t * rng.uniform(0.95, 1.1) for _ in range(50)], n_samples=50, compile_s=1e-3,
        transfer_s=0.0, rel_error=err, max_rel_error=err * 3, max_ulp=3.0, error_bound=u * 40,
        error_ratio=err / (u * 40), accuracy_ok=True, verdict="within", bound_kind="first_order",
        deterministic=True, output_sha256=f"{rng.getrandbits(256):064x}",
        inputs_sha256=f"{rng.getrandbits(256):064x}", seed=0, u=u, flops=2.0 * size, bytes=12.0 * size,
        output_sample={"positions": positions, "values": values, "reference": values, "dtype": dtype},
        divergence={"tf32": False, "matmul_precision": "highest", "deterministic_algorithms": False,
                    "build_options": {f"{kernel}.cl": ["-cl-fast-relaxed-math", "-cl-mad-enable"]},
                    "note": "synthetic record written by harness selftest --scale " * 6},
        error_model={"metric": "normwise", "kind": "first_order", "source": "synthetic: gamma_n bound " * 4,
                     "growth_slope": 0.5, "assumes": "synthetic inputs, uniform in [-1, 1]"},
        threads={"omp": 2, "torch": 2}, input_distribution="uniform(-1, 1), synthetic", timer="perf_counter_ns")


def write_history(folder: Path, n_records: int, seed: int = 0) -> list[Path]:
    """About `n_records` synthetic records under `folder`/<machine>/<run>.jsonl: MACHINES
    machines (fewer for small N), one run of CASES cases per machine and night."""
    if any(part == "results" for part in folder.resolve().parts):
        raise ScaleUsageError(f"{folder}: synthetic records are never written under a results/ folder")
    rng = random.Random(seed)
    templates = [_case_template(rng, k, b, d, s) for k in KERNELS for b in BACKENDS for d in DTYPES for s in SIZES]
    machines = max(1, min(MACHINES, n_records // CASES))
    nights = max(1, round(n_records / (CASES * machines)))
    files = []
    for m in range(machines):
        mid = f"{SYNTHETIC}-machine-{m:02d}"
        (folder / mid).mkdir(parents=True, exist_ok=True)
        for night in range(nights):
            files.append(_write_run(folder / mid, mid, night, templates, rng))
    return files


#: the fields every run of a case writes anew; the rest of a line is serialised once.
RUN_VARYING = ("run_id", "machine_id", "commit", "timestamp", "time_median_s")


def _constant_json(template: dict[str, Any]) -> str:
    """A case's fields that no run changes, as JSON object members (cached on the template)."""
    if "_json" not in template:
        fixed = {k: v for k, v in template.items() if k not in RUN_VARYING}
        template["_json"] = json.dumps(to_json_safe(fixed), separators=(",", ":"))[1:-1]
    return template["_json"]


def _write_run(folder: Path, mid: str, night: int, templates: list[dict[str, Any]], rng: random.Random) -> Path:
    import datetime as dt

    stamp = (dt.datetime(2026, 1, 1, 2, tzinfo=dt.timezone.utc) + dt.timedelta(days=night)).isoformat()
    run_id, commit = f"{mid}-{night:04d}", f"{night + 1:040x}"
    header = {"kind": "header", "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "synthetic": True,
              "run_id": run_id, "machine_id": mid, "commit": commit, "started": stamp,
              "argv": ["harness", "selftest", "--scale"], "preset": SYNTHETIC,
              "machine": {"cpu": f"{SYNTHETIC} CPU", "cores_physical": 2, "cores_logical": 2, "os": SYNTHETIC,
                          "memory_bytes": 2**34, "machine_id": mid, "synthetic": True}}
    lines = [json.dumps(header)]
    tail = json.dumps({"run_id": run_id, "machine_id": mid, "commit": commit, "timestamp": stamp})[1:-1]
    for t in templates:  # the constant part of each line is serialised once per history
        median = t["time_median_s"] * rng.uniform(0.9, 1.1)
        lines.append(f'{{"kind":"record",{_constant_json(t)},{tail},"time_median_s":{median!r}}}')
    path = folder / f"{run_id}.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _measure(step: str, data: Path, site: Path) -> dict[str, Any]:
    """One step, timed in this process (imports excluded); run by `_child` in a fresh one."""
    import resource

    import pandas  # noqa: F401  (imports are not what is measured)
    import pyarrow.parquet  # noqa: F401

    from .columnar import SUMMARY_COLUMNS, load_results
    from .report import build_report

    t0 = time.perf_counter()
    out: dict[str, Any] = {}
    if step in ("convert", "load_summary"):
        out["rows"] = len(load_results(data, columns=SUMMARY_COLUMNS))
    elif step == "load_kernel":
        out["rows"] = len(load_results(data, columns=SUMMARY_COLUMNS, where={"kernel": KERNELS[0]}))
    else:
        rebuilt = build_report([data], site).rebuilt
        out["pages_rebuilt"] = len(rebuilt)
    out["seconds"] = time.perf_counter() - t0
    out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return out


def _child() -> None:
    step, data, site = sys.argv[1:4]
    print(json.dumps(_measure(step, Path(data), Path(site))))


def _site_sizes(site: Path) -> dict[str, int]:
    files = [p for p in site.rglob("*") if p.is_file()]
    pages = [p.stat().st_size for p in files if p.name.startswith("kernel-")]
    return {"site_bytes": sum(p.stat().st_size for p in files), "kernel_page_bytes": max(pages, default=0)}


def measure_size(n_records: int, work: Path, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every STEP at one N, each in a fresh process with its own cache under `work`."""
    data, site, cache = work / f"{SYNTHETIC}-{n_records}", work / f"site-{n_records}", work / f"cache-{n_records}"
    t0 = time.perf_counter()
    files = write_history(data, n_records)
    res: dict[str, Any] = {"n_records_asked": n_records, "n_files": len(files),
                           "jsonl_bytes": sum(f.stat().st_size for f in files),
                           "generate_s": time.perf_counter() - t0}
    time.sleep(1.1)  # past columnar.RACY_NS, so the entries built next are trusted
    env = {**os.environ, "HARNESS_CACHE_DIR": str(cache)}
    for step in STEPS:
        if progress:
            progress(f"{n_records} records: {step}")
        proc = subprocess.run([sys.executable, "-c", "from harness.scale import _child; _child()", step, str(data),
                               str(site)], capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            res[step] = {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
            continue
        res[step] = json.loads(proc.stdout.strip().splitlines()[-1])
    res["n_records"] = res.get("load_summary", {}).get("rows")
    res["cache_bytes"] = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file())
    res.update(_site_sizes(site))
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(site, ignore_errors=True)
    return res


def growth_exponents(rows: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """Per step, the slope of log(seconds) against log(records): 1 is linear."""
    from .growth import fit_loglog

    out = {}
    for step in STEPS:
        pts = [(r["n_records"], r[step].get("seconds")) for r in rows if r.get("n_records") and "seconds" in r[step]]
        out[step] = fit_loglog([n for n, _ in pts], [s for _, s in pts])["slope"] if len(pts) >= 2 else None
    return out


def goals_at(row: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each goal of the issue against one size's figures: measured, goal, met."""
    measured = {"load_summary_s": row["load_summary"].get("seconds"), "load_kernel_s": row["load_kernel"].get("seconds"),
                "peak_rss_bytes": max((row[s].get("peak_rss_bytes") or 0) for s in STEPS),
                "report_s": row["report"].get("seconds"), "site_bytes": row["site_bytes"],
                "kernel_page_bytes": row["kernel_page_bytes"]}
    return {k: {"measured": v, "goal": GOALS[k], "met": v is not None and v <= GOALS[k]} for k, v in measured.items()}


def run_scale(sizes: Sequence[int], work: str | os.PathLike | None = None,
              progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The benchmark at every size (ascending), in a temporary folder deleted afterwards."""
    if work is not None and any(part == "results" for part in Path(work).resolve().parts):
        raise ScaleUsageError(f"{work}: synthetic records are never written under a results/ folder")
    tmp = Path(tempfile.mkdtemp(prefix="harness-scale-", dir=work))
    try:
        rows = [measure_size(n, tmp, progress) for n in sorted(sizes)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with open("/proc/loadavg") if os.path.exists("/proc/loadavg") else open(os.devnull) as f:
        load = f.read().strip()
    return {"synthetic": True, "sizes": rows, "growth_exponent": growth_exponents(rows),
            "goals_at_largest": goals_at(rows[-1]) if rows else {}, "loadavg_after": load,
            "cpu_count": os.cpu_count()}
