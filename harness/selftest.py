"""The harness's own cost and fairness, measured against its peers.

1. Timer floor per backend: the harness's per-call time of an empty kernel (a Python
   no-op for NumPy, an empty tensor for torch, an empty OpenCL kernel, an empty CUDA
   kernel for CuPy) and the overhead of one timer start/stop pair.
2. Agreement: on REFERENCE_CASES (24 cases: every CPU backend, from about a µs to about
   100 ms, small and large), the harness's median (time_call, the protocol of `harness
   run`) next to timeit's and torch.utils.benchmark.Timer.blocked_autorange's (with
   torch's real thread count: by default the Timer pins torch to one thread), in the
   same process, in interleaved rounds (rotating which goes first), so machine noise
   hits all three alike. Both references time `last[0] = fn()` in their own compiled
   loop, with a clock that waits on the block's last output (`_SyncedClock`): the same
   work and the same wait as the harness, without a Python frame of ours per call, and
   timeit's samples last TIMEIT_SAMPLE_S rather than its autorange's 0.2 s, so that on a
   shared machine its median, like the harness's, reads the speed between preemptions.
   Each method's figure is the median over rounds of its own median. A case agrees when the harness is within its tolerance (10% unless the case
   says otherwise) of timeit; the torch Timer cross-checks timeit, and a case where
   the two references disagree is marked as such. The share of agreeing cases is
   reported, each outlier is flagged, and `harness selftest` exits non-zero when the
   share is below AGREEMENT_THRESHOLD (see `summarize_agreement`).
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

from .backends.base import synchronize_device
from .timing import TimingOptions, time_call, timer_overhead

#: (kernel, backend, impl, dtype, size): CPU cases of every CPU backend, µs to ~100 ms.
#: OpenCL cases are large: its event timer measures device time, which leaves out the
#: launch (tens of µs on PoCL) that timeit's wall clock includes.
REFERENCE_CASES = (
    ("saxpy", "numpy", "array_api", "float64", 1_000),
    ("saxpy", "numpy", "array_api", "float64", 100_000),
    ("saxpy", "numpy", "array_api", "float64", 1_000_000),
    ("sum", "numpy", "array_api", "float32", 1_000_000),
    ("sum", "numpy", "array_api", "float32", 100_000),
    ("relu", "numpy", "numpy", "float32", 100_000),
    ("softmax", "numpy", "array_api", "float32", 256),
    ("conv2d", "numpy", "numpy", "float32", 128),
    ("matmul", "numpy", "array_api", "float64", 128),
    ("matmul", "numpy", "array_api", "float64", 1024),
    ("sum", "torch", "array_api", "float32", 1_000),
    ("sum", "torch", "array_api", "float32", 100_000),
    ("saxpy", "torch", "torch", "float32", 100_000),
    ("saxpy", "torch", "torch", "float32", 1_000_000),
    ("relu", "torch", "torch", "float32", 10_000),
    ("softmax", "torch", "torch", "float32", 1024),
    ("saxpy", "torch", "array_api", "float32", 100_000),
    ("matmul", "torch", "array_api", "float32", 256),
    ("saxpy", "opencl", "opencl", "float32", 10_000_000),
    ("sum", "opencl", "opencl", "float32", 10_000_000),
    ("matmul", "opencl", "opencl", "float32", 512),
    ("saxpy", "numba", "numba", "float64", 1_000_000),
    ("sum", "numba", "numba", "float32", 1_000_000),
    ("matmul", "numba", "numba", "float64", 128),
)
#: cases in --reduced mode (tests): two small NumPy ones
REDUCED_CASES = REFERENCE_CASES[1:2] + REFERENCE_CASES[3:4]
#: per-case tolerance where it differs from AGREEMENT_TOLERANCE: (kernel, backend, impl, dtype, size) -> share
CASE_TOLERANCE: dict[tuple, float] = {}
AGREEMENT_TOLERANCE = 0.10
#: share of compared cases that must agree, or `harness selftest` exits non-zero
AGREEMENT_THRESHOLD = 0.90
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
    """(median, IQR, minor page faults per call) of the harness's protocol."""
    t = time_call(fn, device, TimingOptions(budget_s=budget_s))
    med, iqr = _q(t.samples_s)
    return med, iqr, t.minor_faults_per_call


class _SyncedClock:
    """A clock for the reference timers that waits on the last output before it is read.

    The references time `last[0] = fn()` in their own compiled loop (no Python frame of
    ours per call, which at 1.5 µs per call would add 20%), and this clock synchronises
    on the last output when a block starts and ends, exactly as the harness's
    `Timer.stop(last_output)` does, so a runtime that can only wait on arrays is timed
    the same way by all three methods."""

    def __init__(self, device: Any):
        self.device = device
        self.last: list[Any] = [None]

    def __call__(self) -> float:
        synchronize_device(self.device, self.last[0])
        return time.perf_counter()


#: the statement every reference times: one call, its output kept until the next replaces it
_REFERENCE_STMT = "last[0] = fn()"


def _torch_timer(fn, device, budget_s):
    import torch
    from torch.utils import benchmark

    clock = _SyncedClock(device)
    # Timer pins torch to one thread unless told: keep the harness's thread count.
    m = benchmark.Timer(stmt=_REFERENCE_STMT, globals={"fn": fn, "last": clock.last}, timer=clock,
                        num_threads=torch.get_num_threads()).blocked_autorange(min_run_time=budget_s)
    return float(m.median), float(m.iqr)


#: length of one timeit sample: long enough to dwarf its clock (1000x a synchronised
#: perf_counter read), short enough that the median over many samples reads the speed
#: between preemptions on a shared machine, as torch's blocked_autorange does; timeit's
#: own autorange (0.2 s samples) folds other processes' time into every sample.
TIMEIT_SAMPLE_S = 5e-3


def _timeit_number(t: timeit.Timer, min_sample_s: float) -> tuple[int, float]:
    """timeit's autorange rule (1, 2, 5, 10, 20, ... calls) to a shorter sample length."""
    i = 1
    while True:
        for j in (1, 2, 5):
            number = i * j
            took = t.timeit(number)
            if took >= min_sample_s:
                return number, took
        i *= 10


def _timeit(fn, device, budget_s):
    clock = _SyncedClock(device)
    t = timeit.Timer(_REFERENCE_STMT, timer=clock, globals={"fn": fn, "last": clock.last})
    number, took = _timeit_number(t, TIMEIT_SAMPLE_S)
    repeat = max(5, int(budget_s / max(took, 1e-9)))
    samples = [s / number for s in t.repeat(repeat=min(repeat, 100), number=number)]
    return _q(samples)


METHODS = {"harness": _harness, "torch_benchmark": _torch_timer, "timeit": _timeit}


def _skip_reason(registry: Any, case: tuple) -> str | None:
    kernel, backend, impl, dtype, size = case
    if backend not in registry.backend_names or not registry.backend(backend).probe()[0]:
        return f"backend {backend} unavailable"
    if (kernel, backend, impl) not in registry.impls:
        return f"no implementation {impl} of {kernel} on {backend}"
    return None


def _compare(registry: Any, case: tuple, rounds: int, budget_s: float, methods: list[str]) -> dict[str, Any]:
    """One case timed by every method in `rounds` interleaved rounds."""
    kernel, backend, impl, dtype, size = case
    row: dict[str, Any] = {"case": f"{kernel}.{impl}.{backend}.{dtype}.{size}",
                           "tolerance": CASE_TOLERANCE.get(case, AGREEMENT_TOLERANCE)}
    device, fn = _case_fn(registry, kernel, backend, impl, dtype, size)
    per: dict[str, list[tuple[float, float]]] = {m: [] for m in methods}
    for r in range(rounds):
        for m in methods[r % len(methods):] + methods[:r % len(methods)]:
            per[m].append(METHODS[m](fn, device, budget_s))
    for m, vals in per.items():
        med = float(np.median([v[0] for v in vals]))
        spread = float(np.median([v[1] / v[0] for v in vals if v[0] > 0]))
        row[m] = {"median_s": med, "iqr_over_median": spread, "round_medians_s": [v[0] for v in vals]}
    faults = [v[2] for v in per.get("harness", []) if v[2] is not None]
    if faults:  # a case whose time depends on fresh output pages shows it here
        row["harness"]["minor_faults_per_call"] = float(np.median(faults))
    h, ti = row["harness"]["median_s"], row["timeit"]["median_s"]
    row["vs_timeit"] = h / ti - 1
    if "torch_benchmark" in row:
        tb = row["torch_benchmark"]["median_s"]
        row["vs_torch_benchmark"] = h / tb - 1
        row["references_agree"] = bool(abs(ti / tb - 1) <= row["tolerance"])
    row["within_tolerance"] = bool(abs(row["vs_timeit"]) <= row["tolerance"])
    return row


def agreement(registry: Any, cases=REFERENCE_CASES, rounds: int = 3, budget_s: float = 0.3,
              progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Harness vs timeit (and torch Timer, where torch is installed) on every case."""
    torch_ok = "torch" in registry.backend_names and registry.backend("torch").probe()[0]
    methods = [m for m in METHODS if torch_ok or m != "torch_benchmark"]
    out = []
    for case in cases:
        why = _skip_reason(registry, case)
        if why is not None:
            out.append({"case": ".".join(map(str, (case[0], case[2], case[1], case[3], case[4]))),
                        "skipped": why})
            continue
        try:
            out.append(_compare(registry, case, rounds, budget_s, methods))
        except Exception as exc:  # one broken case is a row, not the end of the selftest
            out.append({"case": ".".join(map(str, case)), "error": f"{type(exc).__name__}: {exc}"})
        if progress is not None:
            progress(out[-1]["case"])
    return out


def summarize_agreement(rows: list[dict[str, Any]], threshold: float = AGREEMENT_THRESHOLD) -> dict[str, Any]:
    """Share of compared cases within their tolerance, the outliers, and the verdict."""
    compared = [r for r in rows if "within_tolerance" in r]
    within = [r for r in compared if r["within_tolerance"]]
    share = len(within) / len(compared) if compared else None
    outliers = [{"case": r["case"], "vs_timeit": r["vs_timeit"], "tolerance": r["tolerance"],
                 "vs_torch_benchmark": r.get("vs_torch_benchmark"),
                 "references_agree": r.get("references_agree")} for r in compared if not r["within_tolerance"]]
    return {"n_cases": len(rows), "n_compared": len(compared), "n_within": len(within), "share_within": share,
            "threshold": threshold, "outliers": outliers,
            "passed": bool(share is not None and share >= threshold)}


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
                 progress: Callable[[str], None] | None = None,
                 threshold: float = AGREEMENT_THRESHOLD) -> dict[str, Any]:
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
    cases = REDUCED_CASES if reduced else REFERENCE_CASES
    res["agreement"] = agreement(registry, cases, rounds=1 if reduced else 3, budget_s=0.05 if reduced else 0.3,
                                 progress=lambda c: say(f"  {c}"))
    res["agreement_tolerance"] = AGREEMENT_TOLERANCE
    res["agreement_summary"] = summarize_agreement(res["agreement"], threshold)
    res["agreement_ok"] = res["agreement_summary"]["passed"]
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


__all__ = ["run_selftest", "timer_floor", "agreement", "summarize_agreement", "quick_run", "REFERENCE_CASES"]
