"""The harness's own cost and fairness, measured against its peers.

1. Timer floor per backend: the harness's per-call time of an empty kernel (a Python
   no-op for NumPy, an empty tensor for torch, an empty OpenCL kernel, an empty CUDA
   kernel for CuPy) and the overhead of one timer start/stop pair.
2. Agreement: on five reference cases, the harness's median next to
   torch.utils.benchmark.Timer.blocked_autorange and timeit's, in the same process,
   in interleaved rounds (rotating which goes first), so machine noise hits all three
   alike. Each method's figure is the median over rounds of its own median.
3. Spread: each method's IQR/median on the same cases.
4. Wall time of `harness run --preset quick` over all kernels on the CPU backends, in
   a subprocess, with the per-case timing cost so linearity in the number of cases
   can be checked.

The result is one JSON-able dict (`run_selftest`); `harness selftest` prints and stores it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .timing import TimingOptions, time_call, timer_overhead

#: (kernel, backend, impl, dtype, size): CPU-clock cases, so all three methods time the
#: same thing (OpenCL's event timer measures device time, which excludes the launch).
REFERENCE_CASES = (
    ("saxpy", "numpy", "numpy", "float64", 100_000),
    ("sum", "numpy", "numpy", "float32", 1_000_000),
    ("matmul", "numpy", "numpy", "float64", 128),
    ("saxpy", "torch", "torch", "float32", 1_000_000),
    ("matmul", "torch", "torch", "float32", 256),
)
AGREEMENT_TOLERANCE = 0.05
QUICK_RUN_LIMIT_S = 300.0


def _q(samples: list[float]) -> tuple[float, float]:
    q1, med, q3 = np.percentile(samples, [25, 50, 75])
    return float(med), float(q3 - q1)


# --- 1. timer floor --------------------------------------------------------------------


def _empty_call(device: Any) -> Callable[[], Any]:
    b = device.backend
    if b == "numpy":
        def noop():
            return None
        return noop
    if b == "torch":
        torch = device.torch
        return lambda: torch.empty(0, device=device.name)
    if b == "opencl":
        prg = device.cl.Program(device.context, "__kernel void empty_kernel(void) {}").build()
        k = prg.empty_kernel
        return lambda: k(device.queue, (1,), None)
    if b == "cupy":
        cp = device.cp
        with device.ctx():
            k = cp.RawKernel('extern "C" __global__ void empty_kernel() {}', "empty_kernel")

        def run():
            with device.ctx():
                k((1,), (1,), ())
        return run
    raise NotImplementedError(f"no empty kernel for backend {b!r}")


def _wall_per_call(fn: Callable[[], Any], device: Any, calls: int = 50, blocks: int = 5) -> float:
    """Host wall time per synchronised call: what a caller waits, launch cost included
    (an event timer reports device time only)."""
    vals = []
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
            device.synchronize()
        vals.append((time.perf_counter() - t0) / calls)
    return float(np.median(vals))


def timer_floor(registry: Any, budget_s: float) -> dict[str, Any]:
    out = {}
    for name in registry.backend_names:
        backend = registry.backend(name)
        ok, reason = backend.probe()
        if not ok:
            out[name] = {"skipped": reason}
            continue
        for device in backend.devices():
            key = f"{name}/{device.name}"
            try:
                fn = _empty_call(device)
                t = time_call(fn, device, TimingOptions(budget_s=budget_s))
                out[key] = {"timer": t.timer, "per_call_s": t.median_s, "iqr_over_median": t.iqr_s / t.median_s
                            if t.median_s else None, "loops": t.loops, "n_samples": len(t.samples_s),
                            "timer_overhead_s": timer_overhead(device.timer(), repeats=21),
                            "wall_per_call_s": _wall_per_call(fn, device)}
            except NotImplementedError as exc:
                out[key] = {"skipped": str(exc)}
            except Exception as exc:
                out[key] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


# --- 2 and 3. agreement and spread ------------------------------------------------------------


def _case_fn(registry: Any, kernel: str, backend: str, impl: str, dtype: str, size: int):
    spec = registry.kernels[kernel]
    device = registry.backend(backend).devices()[0]
    inputs = device.inputs_to_device(spec.make_inputs(size, dtype, 0).values, dtype)
    fn = registry.impls[(kernel, backend, impl)].fn
    return device, (lambda: fn(device, **inputs))


def _harness(fn, device, budget_s):
    t = time_call(fn, device, TimingOptions(budget_s=budget_s))
    med, iqr = _q(t.samples_s)
    return med, iqr


def _torch_timer(fn, device, budget_s):
    import torch
    from torch.utils import benchmark

    sync = device.synchronize
    # Timer pins torch to one thread unless told: keep the harness's thread count.
    m = benchmark.Timer(stmt="fn(); sync()", globals={"fn": fn, "sync": sync},
                        num_threads=torch.get_num_threads()).blocked_autorange(min_run_time=budget_s)
    return float(m.median), float(m.iqr)


def _timeit(fn, device, budget_s):
    sync = device.synchronize

    def stmt():
        fn()
        sync()

    t = timeit.Timer(stmt)
    number, took = t.autorange()  # calls per sample: the first count lasting ≥ 0.2 s
    repeat = max(3, int(budget_s / max(took, 1e-9)))
    samples = [s / number for s in t.repeat(repeat=min(repeat, 50), number=number)]
    return _q(samples)


METHODS = {"harness": _harness, "torch_benchmark": _torch_timer, "timeit": _timeit}


def agreement(registry: Any, cases=REFERENCE_CASES, rounds: int = 3, budget_s: float = 0.3) -> list[dict[str, Any]]:
    torch_ok = registry.backend("torch").probe()[0]
    out = []
    for kernel, backend, impl, dtype, size in cases:
        row: dict[str, Any] = {"case": f"{kernel}.{impl}.{backend}.{dtype}.{size}"}
        if not registry.backend(backend).probe()[0] or not torch_ok:
            row["skipped"] = f"backend {backend if torch_ok else 'torch'} unavailable"
            out.append(row)
            continue
        device, fn = _case_fn(registry, kernel, backend, impl, dtype, size)
        per: dict[str, list[tuple[float, float]]] = {m: [] for m in METHODS}
        names = list(METHODS)
        for r in range(rounds):
            for m in names[r % len(names):] + names[:r % len(names)]:
                per[m].append(METHODS[m](fn, device, budget_s))
        for m, vals in per.items():
            med = float(np.median([v[0] for v in vals]))
            spread = float(np.median([v[1] / v[0] for v in vals if v[0] > 0]))
            row[m] = {"median_s": med, "iqr_over_median": spread, "round_medians_s": [v[0] for v in vals]}
        h = row["harness"]["median_s"]
        row["vs_torch_benchmark"] = h / row["torch_benchmark"]["median_s"] - 1
        row["vs_timeit"] = h / row["timeit"]["median_s"] - 1
        row["within_tolerance"] = bool(abs(row["vs_torch_benchmark"]) <= AGREEMENT_TOLERANCE
                                       and abs(row["vs_timeit"]) <= AGREEMENT_TOLERANCE)
        out.append(row)
    return out


# --- 4. wall time of a quick run ------------------------------------------------------------------


def cpu_backends(registry: Any) -> list[str]:
    """Available backends with a CPU device."""
    out = []
    for name in registry.backend_names:
        b = registry.backend(name)
        if b.probe()[0] and any(d.kind == "cpu" for d in b.devices()):
            out.append(name)
    return out


def quick_run(registry: Any, out_dir: str | os.PathLike | None = None, extra_args: tuple[str, ...] = (),
              backends: list[str] | None = None) -> dict[str, Any]:
    """Wall time of `harness run --preset quick` in a fresh process (imports included),
    and the timing cost per case from its records."""
    from .store import read_run

    backends = backends or cpu_backends(registry)
    # A private folder, so a concurrent run writing to the same --out is never mistaken for this one.
    tmp = tempfile.TemporaryDirectory(prefix="harness-selftest-")
    cmd = [sys.executable, "-c", "from harness.cli import main; main()", "run", "--preset", "quick",
           "--backends", ",".join(backends), "--out", tmp.name, "--quiet", *extra_args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    result: dict[str, Any] = {"command": ["harness", *cmd[3:9], "<out>", *cmd[10:]], "wall_s": wall,
                              "returncode": proc.returncode, "limit_s": QUICK_RUN_LIMIT_S, "backends": backends}
    if proc.returncode != 0:
        result["stderr_tail"] = proc.stderr[-2000:]
    new = sorted(Path(tmp.name).rglob("*.jsonl"))
    if new:
        header, records = read_run(new[-1])
        ran = [r for r in records if r["status"] != "skipped"]
        cost = [(r.get("time_median_s") or 0) * (r.get("n_samples") or 0) * (r.get("loops") or 1)
                + (r.get("compile_s") or 0) for r in ran]
        budget = header.get("budget_s")
        kept = None
        if out_dir is not None:
            dest = Path(out_dir) / new[-1].parent.name
            dest.mkdir(parents=True, exist_ok=True)
            kept = str(shutil.copy2(new[-1], dest / new[-1].name))
        result.update(results_file=kept, n_cases=len(ran),
                      n_skipped=len(records) - len(ran), budget_s=budget,
                      wall_per_case_s=wall / len(ran) if ran else None,
                      timed_s_total=float(sum(cost)),
                      timed_s_per_case_p50=float(np.median(cost)) if cost else None,
                      timed_s_per_case_max=float(max(cost)) if cost else None,
                      over_3x_budget=[r["case_id"] for r, c in zip(ran, cost) if budget and c > 3 * budget])
    result["within_limit"] = bool(proc.returncode == 0 and wall <= QUICK_RUN_LIMIT_S)
    tmp.cleanup()
    return result


def run_selftest(reduced: bool = False, run: bool = True, run_out: str | os.PathLike | None = None,
                 progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Everything above; `reduced` shrinks it to seconds (for tests)."""
    from .machine import machine_info
    from .record import now_iso
    from .registry import get_registry

    registry = get_registry()
    say = progress or (lambda s: None)
    t0 = time.perf_counter()
    res: dict[str, Any] = {"kind": "selftest", "machine_id": machine_info()["machine_id"], "started": now_iso(),
                           "mode": "reduced" if reduced else "full",
                           "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    say("timer floor")
    res["timer_floor"] = timer_floor(registry, budget_s=0.05 if reduced else 0.5)
    say("agreement with torch.utils.benchmark and timeit")
    cases = REFERENCE_CASES[:2] if reduced else REFERENCE_CASES
    res["agreement"] = agreement(registry, cases, rounds=1 if reduced else 3, budget_s=0.05 if reduced else 0.3)
    rows = [r for r in res["agreement"] if "harness" in r]
    res["agreement_tolerance"] = AGREEMENT_TOLERANCE
    res["agreement_ok"] = all(r["within_tolerance"] for r in rows) if rows else None
    if run:
        say("harness run --preset quick")
        extra = ("--kernels", "saxpy", "--sizes", "1000") if reduced else ()
        res["quick_run"] = quick_run(registry, run_out, extra, backends=["numpy"] if reduced else None)
    res["selftest_s"] = time.perf_counter() - t0
    return res


def default_output(machine_id: str, results: str | os.PathLike | None = None) -> Path:
    from .ceilings import results_dir

    return results_dir(results) / machine_id / "selftest.json"


def write(res: dict[str, Any], path: str | os.PathLike) -> Path:
    from .record import to_json_safe

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(to_json_safe(res), indent=1, allow_nan=False) + "\n", encoding="utf-8")
    return p


__all__ = ["run_selftest", "timer_floor", "agreement", "quick_run", "REFERENCE_CASES"]
