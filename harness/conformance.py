"""The backend conformance check behind `harness check-backend NAME`.

It verifies the contract in harness.backends.base on every device of a backend, then
runs every kernel the backend implements through the same path as `harness run`
(runner.execute_case, "test" sizes) against the references:

- registration: the plugin that provides the backend registered without failures;
- dtypes: each format is declared supported, or unsupported with a reason;
- transfer <dtype>: to_device → to_host returns the same bits, shape and host dtype
  (special values included: ±0, ±inf, subnormals, the largest finite value; a NaN
  must come back as a NaN, with any payload);
- no aliasing <dtype>: writing into the device arrays of to_device leaves the host
  inputs unchanged (device memory is never the host's: a kernel that writes into its
  inputs cannot corrupt the reference or later backends);
- synchronize: returns only once queued work is done (a loop of calls followed by
  synchronize(last output) takes as long as the same loop followed by a copy of the
  result);
- timer: measures a known host interval, grows with it, costs < 1 ms per reading,
  and times device work as the wall clock sees it (so it waits for queued work).

The workload loops measure exactly like the runner (harness.timing.call_block): every
output but the last is dropped as it is produced, the last is handed to
`synchronize(outputs)` / `Timer.stop(last_output)`, and the wall clock is read only
after the device has synchronised on it (and the output has been copied to the host,
the one barrier no runtime can skip). A synchronize or timer that does not wait
therefore fails, whatever the runtime: one with a device barrier, or JAX-like ones
that can only wait on arrays;
- kernel <name> [<impl>] <dtype>: every test size runs, has the right shape and
  dtype, and is within the kernel's error bound.

Plugin authors run it in their own CI; it needs no GPU-specific knowledge.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .backends.base import Device, stop_timer, synchronize_device
from .dtypes import DTYPES, round_to, storage_dtype
from .registry import Registry
from .timing import TimingOptions, call_block

#: candidate workloads for the synchronisation and timer checks, most substantial first.
WORKLOAD_PREFERENCE = ("matmul", "mandelbrot", "saxpy", "vadd", "sum")
#: seconds of device work the workload loop aims for.
WORKLOAD_S = 0.05


@dataclass
class CheckResult:
    check: str
    status: str  # "pass", "fail" or "skip"
    detail: str = ""
    seconds: float = 0.0
    device: str = ""

    @property
    def passed(self) -> bool:
        return self.status != "fail"


def _timed(name: str, device: str, fn: Callable[[], tuple[str, str]]) -> CheckResult:
    t0 = time.perf_counter()
    try:
        status, detail = fn()
    except Exception as exc:  # a broken contract method is a failed check, not a crash
        status, detail = "fail", f"{type(exc).__name__}: {exc}"
    return CheckResult(name, status, detail, time.perf_counter() - t0, device)


# --- contract checks ------------------------------------------------------------------------

def special_values(dtype: str) -> np.ndarray:
    """Values a transfer must carry unchanged, in the dtype's host storage."""
    if dtype == "bfloat16":
        tiny, big, sub = 2.0**-126, 3.3895313892515355e38, 2.0**-133
    else:
        fi = np.finfo(storage_dtype(dtype))
        tiny, big, sub = float(fi.tiny), float(fi.max), float(fi.smallest_subnormal)
    vals = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, tiny, -tiny, sub, -sub, big, -big,
                     1 / 3, np.pi], dtype=np.float64)
    with np.errstate(over="ignore"):
        return round_to(vals, dtype)


def check_dtypes(dev: Device) -> tuple[str, str]:
    supported, unsupported, problems = [], [], []
    for dt in DTYPES:
        reason = dev.dtype_unsupported(dt)
        if reason is None:
            supported.append(dt)
        elif isinstance(reason, str) and reason.strip():
            unsupported.append(f"{dt} ({reason})")
        else:
            problems.append(f"dtype_unsupported({dt!r}) returned {reason!r}: give None or a reason")
    if problems:
        return "fail", "; ".join(problems)
    if not supported:
        return "fail", "no dtype is supported"
    detail = "supports " + ", ".join(supported)
    return "pass", detail + (("; not " + "; ".join(unsupported)) if unsupported else "")


def _bits(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    return a.view({1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize])


def check_transfer(dev: Device, dtype: str, seed: int = 0) -> tuple[str, str]:
    rng = np.random.default_rng(seed)
    host_dt = storage_dtype(dtype)
    arrays = {
        "special values": special_values(dtype),
        "vector of 4099": round_to(rng.standard_normal(4099) * 1e3, dtype),
        "7x13 matrix": round_to(rng.standard_normal((7, 13)), dtype),
        "empty": np.zeros((0,), host_dt),
    }
    for label, host in arrays.items():
        before = host.copy()
        back = dev.to_host(dev.to_device(host, dtype))
        dev.synchronize()
        if not isinstance(back, np.ndarray):
            return "fail", f"{label}: to_host returned {type(back).__name__}, not a NumPy array"
        if back.shape != host.shape:
            return "fail", f"{label}: shape {back.shape} came back, {host.shape} went"
        if back.dtype != host_dt:
            return "fail", f"{label}: dtype {back.dtype} came back, expected {host_dt}"
        # Bit-exact, except that a NaN may come back as any NaN (devices canonicalise payloads).
        nan_host = np.isnan(host.astype(np.float64)).ravel()
        nan_back = np.isnan(back.astype(np.float64)).ravel()
        diff = np.flatnonzero((_bits(back).ravel() != _bits(host).ravel()) & ~(nan_host & nan_back))
        if diff.size:
            i = int(diff[0])
            return "fail", (f"{label}: {diff.size} value(s) changed, first at {i}: "
                            f"{host.ravel()[i]!r} -> {back.ravel()[i]!r}")
        if not np.array_equal(_bits(host), _bits(before)):
            return "fail", f"{label}: the transfer modified the host array"
    return "pass", "bit-exact round trip: " + ", ".join(arrays)


def _overwrite(arr: Any) -> bool:
    """Write into a device array by the array's own API; False when it cannot be written.

    A backend whose device arrays share memory with the host (torch.from_numpy, a NumPy
    view) would let a kernel that writes into its inputs corrupt the exact inputs the
    bound is computed from, and every later backend's inputs."""
    attempts = (lambda: arr.fill_(7),  # torch, in place
                lambda: arr.fill(7),  # NumPy, CuPy, pyopencl
                lambda: arr.set(np.full(arr.shape, 7, dtype=arr.dtype)),  # pyopencl dtypes fill lacks
                lambda: arr.__setitem__(Ellipsis, 7))
    for attempt in attempts:
        try:
            attempt()
            return True
        except Exception:  # read-only, or not this array type's API: try the next way
            continue
    return False


def check_no_alias(dev: Device, dtype: str, seed: int = 1) -> tuple[str, str]:
    """to_device, then write into every device array; the host inputs must not change."""
    rng = np.random.default_rng(seed)
    host = {"x": round_to(rng.standard_normal(1031), dtype), "m": round_to(rng.standard_normal((9, 5)), dtype)}
    before = {k: v.copy() for k, v in host.items()}
    arrays = dev.inputs_to_device(host, dtype)
    written = [k for k, a in arrays.items() if _overwrite(a)]
    dev.synchronize()
    changed = [k for k in host if not np.array_equal(_bits(host[k]), _bits(before[k]))]
    if changed:
        return "fail", (f"writing into the device array(s) {', '.join(changed)} changed the host input: "
                        "to_device must copy")
    ro = sorted(set(host) - set(written))
    return "pass", ("device arrays written, host inputs unchanged" +
                    (f"; read-only: {', '.join(ro)}" if ro else ""))


def check_timer_basics(dev: Device) -> tuple[str, str]:
    timer = dev.timer()
    if not isinstance(getattr(timer, "name", None), str) or not timer.name:
        return "fail", "timer has no name"
    empty = []
    for _ in range(20):
        timer.start()
        empty.append(stop_timer(timer))
    if min(empty) < 0 or not all(math.isfinite(e) for e in empty):
        return "fail", f"empty interval measured {min(empty)!r} s"
    overhead = float(np.median(empty))
    if overhead > 1e-3:
        return "fail", f"an empty start/stop takes {overhead * 1e3:.3g} ms (must be < 1 ms)"
    readings = []
    for sleep in (0.002, 0.02, 0.06):
        # The least disturbed of three: a loaded machine only ever adds time to a sleep.
        vals = []
        for _ in range(3):
            timer.start()
            time.sleep(sleep)
            vals.append(stop_timer(timer))
        readings.append(min(vals))
    if not (readings[0] < readings[1] < readings[2]):
        return "fail", f"not monotone: sleeps of 2, 20, 60 ms measured {[f'{r:.4g}' for r in readings]} s"
    if not 0.9 * 0.02 <= readings[1] <= 10 * 0.02:
        return "fail", f"a 20 ms interval measured {readings[1] * 1e3:.3g} ms"
    return "pass", (f"{timer.name}: 20 ms measured as {readings[1] * 1e3:.3g} ms; "
                    f"empty interval {overhead * 1e6:.3g} µs")


@dataclass
class Workload:
    """Repeated calls of one of the backend's own implementations: real device work."""

    label: str
    call: Callable[[], Any]
    loops: int


def find_workload(reg: Registry, backend: str, dev: Device) -> Workload | str:
    """A workload of about WORKLOAD_S seconds, or the reason there is none."""
    impls = sorted(reg.implementations(backend=backend),
                   key=lambda i: (WORKLOAD_PREFERENCE.index(i.kernel) if i.kernel in WORKLOAD_PREFERENCE
                                  else len(WORKLOAD_PREFERENCE), i.kernel, i.name))
    errors = []
    for impl in impls:
        spec = reg.kernels[impl.kernel]
        dtype = next((d for d in ("float32", "float64", "float16", "bfloat16")
                      if d in spec.dtypes and dev.dtype_unsupported(d) is None
                      and (impl.dtypes is None or d in impl.dtypes)), None)
        if dtype is None:
            continue
        size = max(spec.preset_sizes("quick") if "quick" in spec.sizes else spec.preset_sizes("test"))
        try:
            inputs = dev.inputs_to_device(spec.make_inputs(size, dtype, 0).values, dtype)

            def call(impl=impl, inputs=inputs):
                return impl.fn(dev, **inputs)

            dev.outputs_to_host(call())  # warm-up: compilation, lazy initialisation
            t0 = time.perf_counter()
            dev.outputs_to_host(call())
            one = max(time.perf_counter() - t0, 1e-6)
            loops = int(min(1000, max(1, math.ceil(WORKLOAD_S / one))))
            return Workload(f"{impl.kernel} [{impl.name}] {dtype} n={size}, {loops} call(s)", call, loops)
        except Exception as exc:
            errors.append(f"{impl.kernel}/{impl.name}: {type(exc).__name__}: {exc}")
    return "no implementation could run a workload" + (f" ({'; '.join(errors)[:300]})" if errors else "")


def _loop_then(work: Workload, finish: Callable[[Any], Any]) -> float:
    """Wall time of the runner's block of calls followed by `finish(last output)`."""
    t0 = time.perf_counter()
    last = call_block(work.call, work.loops)
    finish(last)
    return time.perf_counter() - t0


def check_synchronize(dev: Device, work: Workload | str) -> tuple[str, str]:
    synchronize_device(dev)  # must not fail on an idle device
    if isinstance(work, str):
        return "skip", f"idle synchronize() returned; {work}"
    ratios = []
    for i in range(5):
        synchronize_device(dev)
        first, second = (True, None), (None, True)
        if i % 2:  # alternate the order, so that a drift in machine load favours neither
            first, second = second, first
        times = {}
        for sync, copy in (first, second):
            times["sync" if sync else "copy"] = _loop_then(
                work, (lambda out: synchronize_device(dev, out)) if sync else (lambda out: dev.outputs_to_host(out)))
        ratios.append(times["sync"] / times["copy"])
    # A synchronize() that does not wait is short in every round; other processes taking
    # the CPU only make some rounds look short. So one round of at least half is enough.
    r = max(ratios)
    detail = f"{work.label}: calls+synchronize take up to {r:.2f}x the time of calls+copy to host"
    return ("pass" if r >= 0.5 else "fail"), detail


def check_timer_workload(dev: Device, work: Workload | str) -> tuple[str, str]:
    if isinstance(work, str):
        return "skip", work
    timer = dev.timer()
    ratios = []
    for _ in range(5):
        synchronize_device(dev)
        t0 = time.perf_counter()
        timer.start()
        last = call_block(work.call, work.loops)
        measured = stop_timer(timer, last)
        synchronize_device(dev, last)  # the wall clock is read only once the work is done
        dev.outputs_to_host(last)
        wall = time.perf_counter() - t0
        del last
        ratios.append(measured / wall)
    detail = f"{work.label}: timer / wall clock = {min(ratios):.2f} to {max(ratios):.2f}"
    if max(ratios) > 1.05:
        return "fail", detail + " (the timer measures more than the wall clock around it)"
    if max(ratios) < 0.5:  # the least disturbed round: host preemption only adds wall time
        return "fail", detail + " (the timer misses queued work: stop() must wait for it)"
    return "pass", detail


# --- kernels ---------------------------------------------------------------------------------

def check_kernels(reg: Registry, backend: str, kernels: Sequence[str] | None, dtypes: Sequence[str],
                  on_result: Callable[[CheckResult], None]) -> list[CheckResult]:
    from .runner import RunContext, Skip, execute_case, plan

    names = [k for k in reg.kernels if reg.implementations(k, backend) and (not kernels or k in kernels)]
    ctx = RunContext(reg, seed=0, timing=TimingOptions(budget_s=0.01, min_samples=2, max_samples=5,
                                                       min_sample_s=1e-4),
                     machine_id="check-backend", run_id="check-backend")
    groups: dict[tuple[str, str, str, str], list] = {}
    for item in plan(reg, names, [backend], list(dtypes), None, preset="test"):
        c = item.case if isinstance(item, Skip) else item
        groups.setdefault((c.kernel, c.impl, c.device, c.dtype), []).append(item)
    out = []
    skipped: dict[tuple[str, str, str], dict[str, str]] = {}
    for (kernel, impl, device, dtype), items in groups.items():
        cases = [i for i in items if not isinstance(i, Skip)]
        if not cases:  # reported once per implementation, below
            skipped.setdefault((kernel, impl, device), {})[dtype] = "; ".join(sorted({i.reason for i in items}))
            continue
        label = f"kernel {kernel} [{impl}] {dtype}"
        t0 = time.perf_counter()
        problems, ratios, compile_s, unbounded = [], [], 0.0, []
        for case in cases:
            rec = execute_case(case, ctx)
            compile_s += rec.get("compile_s") or 0.0
            if rec["status"] != "ok":
                problems.append(f"n={case.size}: {rec['status']}: {rec.get('message', '')}")
            elif rec.get("verdict") == "unbounded":  # no bound can fail there: not the backend's fault
                unbounded.append(str(case.size))
            elif not rec.get("accuracy_ok"):
                problems.append(f"n={case.size}: {rec.get('message') or 'exceeds the error bound'}")
            elif rec.get("error_ratio") is not None:
                ratios.append(rec["error_ratio"])
        if problems:
            res = CheckResult(label, "fail", "; ".join(problems)[:500], time.perf_counter() - t0, device)
        else:
            worst = f", max err/bound {max(ratios):.3g}" if ratios else ""
            sizes = ",".join(str(c.size) for c in cases)
            unb = f" (unbounded, not judged: n={','.join(unbounded)})" if unbounded else ""
            res = CheckResult(label, "pass", f"sizes {sizes} within bound{worst}{unb}; warm-up {compile_s:.3g} s",
                              time.perf_counter() - t0, device)
        on_result(res)
        out.append(res)
    for (kernel, impl, device), reasons in skipped.items():
        res = CheckResult(f"kernel {kernel} [{impl}] {', '.join(reasons)}", "skip",
                          "; ".join(f"{dt}: {r}" for dt, r in reasons.items()), 0.0, device)
        on_result(res)
        out.append(res)
    return out


# --- the whole check -------------------------------------------------------------------------

def check_backend(reg: Registry, name: str, kernels: Sequence[str] | None = None,
                  dtypes: Sequence[str] = DTYPES,
                  on_result: Callable[[CheckResult], None] = lambda r: None) -> list[CheckResult]:
    """Every check, in order; `on_result` sees each result as soon as it exists."""
    results: list[CheckResult] = []

    def add(res: CheckResult) -> None:
        results.append(res)
        on_result(res)

    origin = reg.backend_origins.get(name, "builtin")
    own = [f for f in reg.failures if f.origin == origin]
    add(CheckResult("registration", "fail" if own else "pass",
                    "; ".join(f"{f.what}: {f.reason}" for f in own)[:500] if own
                    else f"from {origin}; {len(reg.implementations(backend=name))} implementation(s)"))
    backend = reg.backend(name)
    ok, reason = backend.probe()
    add(CheckResult("available", "pass" if ok else "fail",
                    ", ".join(d.name for d in backend.devices()) if ok else reason))
    if not ok:
        return results
    for dev in backend.devices():
        add(_timed("dtypes", dev.name, lambda: check_dtypes(dev)))
        for dt in DTYPES:
            if dt not in dtypes:
                continue
            why = dev.dtype_unsupported(dt)
            if why is None:
                add(_timed(f"transfer {dt}", dev.name, lambda dt=dt: check_transfer(dev, dt)))
                add(_timed(f"no aliasing {dt}", dev.name, lambda dt=dt: check_no_alias(dev, dt)))
        add(_timed("timer", dev.name, lambda: check_timer_basics(dev)))
        work = find_workload(reg, name, dev)
        add(_timed("synchronize", dev.name, lambda: check_synchronize(dev, work)))
        add(_timed("timer on device work", dev.name, lambda: check_timer_workload(dev, work)))
    results.extend(check_kernels(reg, name, kernels, dtypes, on_result))
    return results


def as_dicts(results: Sequence[CheckResult]) -> list[dict]:
    return [asdict(r) for r in results]
