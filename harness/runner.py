"""Running cases: plan the (kernel, impl, backend, device, dtype, size) grid, then
take each case along the data path and turn it into one record.

inputs (seeded, rounded) → device → timed calls → host → accuracy → record.
Nothing here is backend-specific; a case that cannot run becomes a `skipped`
record with the reason, and a case that fails becomes a record with its failure
status and message. Neither stops the sweep. Whether cases run here or each in a
worker process (harness/worker.py) is chosen above both, in harness/execution.py.
"""
from __future__ import annotations

import hashlib
import math
import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .accumulation import cached_accumulation
from .accuracy import BoundContext, flatten_output, measure, output_sha256
from .backends.base import Device
from .dtypes import FORMATS, itemsize, storage_dtype, unit_roundoff
from .output_sample import output_sample
from .record import case_id, new_record
from .declarations import Implementation
from .registry import Registry
from .roofline import annotate_roofline
from .spec import HostInputs, KernelSpec
from .timing import TimingOptions, time_call, time_transfer


@dataclass(frozen=True)
class Case:
    kernel: str
    impl: str
    backend: str
    device: str
    dtype: str
    size: int

    @property
    def case_id(self) -> str:
        return case_id(self.kernel, self.impl, self.backend, self.device, self.dtype, self.size)


@dataclass(frozen=True)
class Skip:
    """A planned case that cannot run here, with the reason."""

    case: Case
    reason: str


@dataclass
class RunContext:
    """What every case of a run shares: registry, options, and run identity."""

    registry: Registry
    seed: int = 0
    timing: TimingOptions = field(default_factory=TimingOptions)
    machine_id: str = ""
    commit: str | None = None
    run_id: str = ""
    save_arrays: Path | None = None
    #: called with {"first_call_s": seconds} once the first (warm-up) call returned; a
    #: worker forwards it so the parent can extend a slow but healthy case's deadline.
    on_progress: Callable[[dict[str, Any]], None] | None = None
    _inputs_key: tuple | None = None
    _inputs: tuple[HostInputs, np.ndarray] | None = None
    _inputs_sha256: str | None = None

    def device(self, backend: str, name: str) -> Device:
        for d in self.registry.backend(backend).devices():
            if d.name == name:
                return d
        raise KeyError(f"backend {backend!r} has no device {name!r}")

    def inputs_and_reference(self, spec: KernelSpec, size: int, dtype: str) -> tuple[HostInputs, np.ndarray]:
        """Cached for consecutive cases of the same (kernel, dtype, size): every backend
        gets the very same inputs and the reference is computed once."""
        key = (spec.name, size, dtype, self.seed)
        if key != self._inputs_key:
            self._inputs = None  # free the previous arrays before making new ones
            self._inputs_key = None
            inputs = spec.make_inputs(size, dtype, self.seed)
            self._inputs = (inputs, spec.reference_for(inputs))
            self._inputs_sha256 = inputs_sha256(inputs)
            self._inputs_key = key
        assert self._inputs is not None
        return self._inputs

    def inputs_digest(self, spec: KernelSpec, size: int, dtype: str) -> str:
        """sha256 of the host inputs every backend receives (see `inputs_sha256`)."""
        self.inputs_and_reference(spec, size, dtype)
        assert self._inputs_sha256 is not None
        return self._inputs_sha256


def inputs_sha256(inputs: HostInputs) -> str:
    """Digest of the exact bits (name, dtype, shape, bytes) of a case's host inputs: equal
    digests across backends and runs show that every one was judged on the same data."""
    h = hashlib.sha256()
    for name in sorted(inputs.values):
        v = inputs.values[name]
        h.update(name.encode() + b"\0")
        if isinstance(v, np.ndarray):
            arr = np.ascontiguousarray(v)
            h.update(f"{arr.dtype.str}{arr.shape}".encode())
            h.update(arr.tobytes())
        else:
            h.update(f"{type(v).__name__}:{v!r}".encode())
    return h.hexdigest()


def memory_estimate(spec: KernelSpec, size: int, dtype: str) -> int:
    """Bytes a case holds at once, from the cost model alone (nothing is allocated).

    `bytes_moved(size, itemsize)` counts the inputs and outputs in the case dtype. A case
    holds them twice (host arrays, and their device copies: separate memory even on a
    CPU device), plus the float64 exact inputs and reference, `bytes_moved(size, 8)`.
    """
    try:
        data = float(spec.bytes_moved(size, itemsize(dtype)))
        wide = float(spec.bytes_moved(size, 8))
    except Exception:
        return 0
    return int(2 * data + wide)


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    return f"{n} B"


def plan(registry: Registry, kernels: Sequence[str], backends: Sequence[str], dtypes: Sequence[str],
         sizes: Sequence[int] | None, preset: str = "quick",
         impls: Sequence[str] | None = None, max_memory: int | None = None) -> list[Case | Skip]:
    """The grid of cases, ordered so that cases sharing inputs are adjacent.

    With `max_memory` (bytes), a case whose `memory_estimate` exceeds it is planned as a
    Skip, so its inputs are never allocated."""
    out: list[Case | Skip] = []
    devices: dict[str, list[Device] | str] = {}
    unusable: dict[str, dict[str, str]] = {}
    for b in backends:
        backend = registry.backend(b)
        ok, reason = backend.probe()
        devices[b] = backend.devices() if ok else f"backend {b} unavailable: {reason}"
        unusable[b] = backend.unusable_devices()
    for k in kernels:
        spec = registry.kernels[k]
        for size in (sizes if sizes else spec.preset_sizes(preset)):
            for dtype in dtypes:
                for b in backends:
                    for impl in registry.implementations(k, b):
                        if impls and impl.name not in impls:
                            continue
                        out += [Skip(Case(k, impl.name, b, name, dtype, size), f"device {name} unusable: {why}")
                                for name, why in unusable[b].items()]
                        devs = devices[b]
                        if isinstance(devs, str):
                            if not unusable[b]:
                                out.append(Skip(Case(k, impl.name, b, "unavailable", dtype, size), devs))
                            continue
                        for dev in devs:
                            case = Case(k, impl.name, b, dev.name, dtype, size)
                            reason = _unsupported(spec, impl, dev, dtype, size)
                            if not reason and max_memory:
                                need = memory_estimate(spec, size, dtype)
                                if need > max_memory:
                                    reason = (f"needs about {format_bytes(need)} for inputs, outputs and "
                                              f"reference, over --max-memory {format_bytes(max_memory)}")
                            out.append(Skip(case, reason) if reason else case)
    return out


def device_inventory(registry: Registry, backends: Sequence[str]) -> tuple[dict[str, list[dict[str, Any]]],
                                                                       dict[str, dict[str, str]]]:
    """(devices, unusable) for a run header: the metadata of every working device of each
    available backend, and the devices that failed their self-test with why. Taken on the
    machine that runs the cases (a fleet worker's own, not the coordinator's)."""
    devices: dict[str, list[dict[str, Any]]] = {}
    unusable: dict[str, dict[str, str]] = {}
    for b in backends:
        be = registry.backend(b)
        if be.available:
            devices[b] = [d.metadata() for d in be.devices()]
        if failed := be.unusable_devices():
            unusable[b] = failed
    return devices, unusable


def _unsupported(spec: KernelSpec, impl: Implementation, dev: Device, dtype: str, size: int) -> str | None:
    if dtype not in spec.dtypes:
        return f"kernel {spec.name} is not defined for {dtype}"
    if impl.dtypes is not None and dtype not in impl.dtypes:
        return f"implementation {impl.name} supports only {', '.join(impl.dtypes)}"
    if size < spec.min_size:
        return f"kernel {spec.name} needs size >= {spec.min_size}"
    return dev.dtype_unsupported(dtype)


def skipped_record(skip: Skip, ctx: RunContext) -> dict[str, Any]:
    c = skip.case
    rec = new_record(case_id=c.case_id, kernel=c.kernel, impl=c.impl, backend=c.backend, device=c.device,
                     dtype=c.dtype, size=c.size, status="skipped", message=skip.reason, seed=ctx.seed,
                     machine_id=ctx.machine_id, commit=ctx.commit, run_id=ctx.run_id,
                     cache_state=ctx.timing.cache)
    spec = ctx.registry.kernels.get(c.kernel)
    if spec is not None:
        rec["mem_estimate_bytes"] = memory_estimate(spec, c.size, c.dtype)
    return rec


def base_record(case: Case, ctx: RunContext) -> dict[str, Any]:
    """The fields of a case known before it runs (identity, cost model, error model)."""
    reg = ctx.registry
    spec = reg.kernels[case.kernel]
    impl = reg.impls[(case.kernel, case.backend, case.impl)]
    dtype, size = case.dtype, case.size
    return new_record(case_id=case.case_id, kernel=case.kernel, impl=case.impl, backend=case.backend,
                      device=case.device, dtype=dtype, out_dtype=spec.output_dtype(dtype), size=size,
                      seed=ctx.seed, machine_id=ctx.machine_id, commit=ctx.commit, run_id=ctx.run_id,
                      cache_state=ctx.timing.cache, u=unit_roundoff(dtype), flops=float(spec.flops(size)),
                      bytes=float(spec.bytes_moved(size, itemsize(dtype))),
                      mem_estimate_bytes=memory_estimate(spec, size, dtype),
                      accumulation_dtype=None, accumulation_measured=False,
                      **spec.reference_info(dtype).fields(),
                      input_distribution=spec.input_distribution,
                      bound_kind=spec.error_model.kind, error_model=spec.error_model.describe())


def failure_record(case: Case, ctx: RunContext, status: str, message: str) -> dict[str, Any]:
    """A record for a case that produced none itself (its worker crashed or hung)."""
    try:
        rec = base_record(case, ctx)
    except Exception:  # a case unknown to this registry still gets its row
        rec = new_record(case_id=case.case_id, kernel=case.kernel, impl=case.impl, backend=case.backend,
                         device=case.device, dtype=case.dtype, size=case.size, seed=ctx.seed,
                         machine_id=ctx.machine_id, commit=ctx.commit, run_id=ctx.run_id,
                         cache_state=ctx.timing.cache)
    rec.update(status=status, message=message[:2000])
    return rec


def _expected(ref: Any, out_dtype: str) -> list[tuple[tuple[int, ...], np.dtype]]:
    refs = ref if isinstance(ref, (tuple, list)) else [ref]
    return [(np.shape(r), storage_dtype(out_dtype)) for r in refs]


def _validate(out_host: Any, ref: Any, out_dtype: str) -> str | None:
    outs = out_host if isinstance(out_host, (tuple, list)) else [out_host]
    expected = _expected(ref, out_dtype)
    if len(outs) != len(expected):
        return f"expected {len(expected)} output(s), got {len(outs)}"
    for i, (o, (shape, dt)) in enumerate(zip(outs, expected)):
        o = np.asarray(o)
        if o.shape != tuple(shape):
            return f"output {i}: wrong shape {o.shape}, expected {tuple(shape)}"
        if o.dtype != dt:
            return f"output {i}: wrong dtype {o.dtype}, expected {dt}"
    return None


#: How allocation failures read when a library does not raise MemoryError: torch on the CPU
#: ("DefaultCPUAllocator: can't allocate memory"), CUDA, OpenCL's error codes, errno 12.
OOM_TEXTS = ("out of memory", "out_of_resources", "mem_object_allocation_failure", "out_of_host_memory",
             "can't allocate memory", "cannot allocate memory", "not enough memory", "failed to allocate")


def failure_status(exc: BaseException) -> str:
    """'oom' for an allocation failure, whatever the library calls it, else 'error'.

    Looks through the exception's causes too (a wrapper raised `from` a MemoryError), and
    at class names: pyopencl.MemoryError and torch.OutOfMemoryError are not MemoryErrors."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        names = {c.__name__ for c in type(e).__mro__}
        text = str(e).lower()
        if isinstance(e, MemoryError) or names & {"MemoryError", "OutOfMemoryError"} \
                or any(t in text for t in OOM_TEXTS):
            return "oom"
        e = e.__cause__ or e.__context__
    return "error"


_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_bytes(text: str) -> int:
    """'512M', '2G', '1.5GiB', '4096' -> bytes (powers of 1024); ValueError otherwise."""
    import re

    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([kKmMgGtT]?)(?:i?[bB])?\s*", text)
    if not m:
        raise ValueError(f"{text!r} is not a size: give a number with an optional unit K, M, G or T, e.g. 2G")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])


def execute_case(case: Case, ctx: RunContext) -> dict[str, Any]:
    """Take one case along the whole data path; never raises for a kernel's fault.

    Also records the memory the case used (`PeakMemory`) and its wall time."""
    rec = base_record(case, ctx)
    t0 = time.perf_counter()
    with PeakMemory(case) as mem:
        _execute(case, ctx, rec)
    rec.update(mem.fields())
    rec["case_wall_s"] = time.perf_counter() - t0
    rec["worker_pid"] = os.getpid()
    return rec


class _Stage:
    """The stage a case is in, named in the message of a failure (`run: ValueError: ...`)."""

    def __init__(self, name: str):
        self.name = name


def _execute(case: Case, ctx: RunContext, rec: dict[str, Any]) -> None:
    """The data path of one case, a stage a line: inputs -> device -> timing (and the
    download of the first output) -> validation and accuracy -> record. A kernel's
    failure at any stage is data (a status and a message), not a crash of the sweep."""
    spec = ctx.registry.kernels[case.kernel]
    impl = ctx.registry.impls[(case.kernel, case.backend, case.impl)]
    stage = _Stage("inputs")
    try:
        inputs, ref = ctx.inputs_and_reference(spec, case.size, case.dtype)
        rec["inputs_sha256"] = ctx.inputs_digest(spec, case.size, case.dtype)
        stage.name = "device"
        device = ctx.device(case.backend, case.device)
        rec["threads"] = device.threads()
        dev_inputs, h2d = time_transfer(lambda: device.inputs_to_device(inputs.values, case.dtype), device)
        stage.name = "run"
        out_host, again = _time_and_download(case, ctx, impl, device, dev_inputs, rec, stage)
        rec.update(h2d_s=h2d, transfer_s=h2d + rec["d2h_s"])
        stage.name = "accuracy"
        if not _judge_output(case, ctx, spec, inputs, ref, out_host, again, rec):
            return
        annotate_roofline(rec, device)
        if ctx.save_arrays is not None:
            save_case_arrays(Path(ctx.save_arrays) / case.case_id, inputs, out_host, ref)
    except Exception as exc:  # a kernel's failure is data, not a crash of the sweep
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else ""
        rec.update(status=failure_status(exc), message=f"{stage.name}: {type(exc).__name__}: {exc}{where}"[:2000])


def _time_and_download(case: Case, ctx: RunContext, impl: Implementation, device: Device, dev_inputs: dict,
                       rec: dict[str, Any], stage: _Stage) -> tuple[Any, Any]:
    """Timing (harness.timing's protocol), then the first output and a second call's
    output brought to the host (the second one for the determinism check)."""
    def call():
        return impl.fn(device, **dev_inputs)

    progress = ctx.on_progress
    timing = time_call(call, device, ctx.timing, after_warmup=None if progress is None else
                       (lambda first_s: progress({"first_call_s": first_s})))
    stage.name = "download"
    out_host, d2h = time_transfer(lambda: device.outputs_to_host(timing.first_output), device)
    again = device.outputs_to_host(call())
    rec.update(time_median_s=timing.median_s, time_iqr_s=timing.iqr_s, time_min_s=timing.min_s,
               time_samples_s=timing.samples_s, n_samples=len(timing.samples_s), loops=timing.loops,
               compile_s=timing.compile_s, warmup_s=timing.warmup_s, warmup_calls=timing.warmup_calls,
               warmup_steady=timing.warmup_steady, timer=timing.timer, timer_overhead_s=timing.timer_overhead_s,
               d2h_s=d2h)
    if timing.median_s > 0:
        rec["gflops"] = rec["flops"] / timing.median_s / 1e9
        rec["gbps"] = rec["bytes"] / timing.median_s / 1e9
    rec["divergence"] = device.divergence_sources()
    # After the timed calls, so that the probe's first call never absorbs compile_s.
    rec.update(cached_accumulation(case.kernel, impl.key, impl.fn, device, case.dtype))
    return out_host, again


def _judge_output(case: Case, ctx: RunContext, spec: KernelSpec, inputs: HostInputs, ref: Any, out_host: Any,
                  again: Any, rec: dict[str, Any]) -> bool:
    """Validation (shape, dtype), then accuracy against the reference and the verdict;
    False when the output is invalid (nothing more to measure)."""
    out_dtype = spec.output_dtype(case.dtype)
    problem = _validate(out_host, ref, out_dtype)
    if problem:
        rec.update(status="invalid", message=problem)
        return False
    rec["output_sha256"] = output_sha256(out_host)
    rec["deterministic"] = rec["output_sha256"] == output_sha256(again)
    bctx = BoundContext(size=case.size, dtype=case.dtype, u=unit_roundoff(case.dtype), inputs=inputs.exact,
                        reference=ref)
    acc = measure(out_host, ref, case.dtype, out_dtype, spec.error_model, bctx)
    profile = acc.pop("profile", None)
    rec.update(acc)
    _flag_dependent_reference(rec)
    if profile is not None:
        rec["profile"] = profile
    ref_nonfinite = int(np.count_nonzero(~np.isfinite(flatten_output(ref).astype(np.float64))))
    if acc["nonfinite"] > ref_nonfinite:
        rec.update(status="nan", message=f"{acc['nonfinite']} non-finite output value(s)")
    else:
        rec.update(status="ok", message=verdict_message(acc) or rec.get("reference_note", ""))
        rec["output_sample"] = output_sample(out_host, ref, ctx.seed, case.kernel, case.size)
    return True


def _flag_dependent_reference(rec: dict[str, Any]) -> None:
    """A reference no more precise than the output (or sharing its code) cannot show an
    error: an error of exactly 0 against it is not evidence, so it is not recorded as 0."""
    if rec.get("reference_independent", True):
        return
    rec["reference_note"] = (f"no independent reference on this platform ({rec.get('reference_method')}, "
                             f"{rec.get('reference_precision')} bits): the error is not measured")
    if rec.get("rel_error") == 0.0:
        rec.update(rel_error=None, error_ratio=None, max_rel_error=None, max_ulp=None)


def verdict_message(acc: dict[str, Any]) -> str:
    """The record's message for an ok case: empty within bound, else the verdict and why."""
    if acc.get("verdict") == "within":
        return ""
    return f"{acc.get('verdict')}: {acc.get('verdict_reason', '')}"[:2000]


def save_case_arrays(folder: Path, inputs: HostInputs, out: Any, ref: Any) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    # allow_pickle=False: only plain numeric arrays are written, so they load without unpickling.
    np.savez(folder / "inputs.npz", allow_pickle=False, **{k: np.asarray(v) for k, v in inputs.values.items()})
    outs = out if isinstance(out, (tuple, list)) else (out,)
    refs = ref if isinstance(ref, (tuple, list)) else (ref,)
    np.save(folder / "output.npy", outs[0] if len(outs) == 1 else
            np.concatenate([np.ravel(o).astype(np.float64) for o in outs]), allow_pickle=False)
    np.save(folder / "reference.npy", refs[0] if len(refs) == 1 else
            np.concatenate([np.ravel(r).astype(np.float64) for r in refs]), allow_pickle=False)


def proc_field_bytes(field_name: str, path: str = "/proc/self/status") -> int | None:
    """A "Name:   123 kB" field of a /proc file (status, meminfo) in bytes; None where
    there is no such file or field (not Linux)."""
    try:
        with open(path, "rb") as f:
            for line in f:
                if line.startswith(field_name.encode() + b":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _reset_hwm() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux >= 4.0: clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class PeakMemory:
    """Peak resident memory of this process while one case runs.

    ru_maxrss never goes down, so in a reused worker it would report the largest case
    so far. On Linux the kernel's own high-water mark (VmHWM) is reset before the case
    and read after it: exact, and per case. Elsewhere a thread samples the RSS every
    millisecond (may miss spikes shorter than that). On a torch CUDA device the
    allocator's peak (reset before the case) is recorded as device memory.
    """

    def __init__(self, case: Case | None = None):
        self.case = case
        self.method: str | None = None
        self.before: int | None = None
        self.peak: int | None = None
        self.device_peak: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._torch_cuda = None

    def __enter__(self) -> "PeakMemory":
        if _reset_hwm() and proc_field_bytes("VmHWM") is not None:
            self.before = proc_field_bytes("VmRSS")
            self.method = "vmhwm"
        else:
            try:
                import psutil

                proc = psutil.Process()
                self.before = proc.memory_info().rss
                self.peak = self.before
                self.method = "sampled"

                def sample():
                    while not self._stop.wait(0.001):
                        self.peak = max(self.peak or 0, proc.memory_info().rss)

                self._thread = threading.Thread(target=sample, daemon=True)
                self._thread.start()
            except Exception:
                self.method = None
        c = self.case
        if c is not None and c.backend == "torch" and c.device.startswith("cuda") and "torch" in sys.modules:
            try:
                tc = sys.modules["torch"].cuda
                tc.reset_peak_memory_stats(c.device)
                self._torch_cuda = tc
            except Exception:
                self._torch_cuda = None
        return self

    def __exit__(self, *exc) -> None:
        if self.method == "vmhwm":
            # The kernel's RSS counters are per-thread batched (off by up to a few hundred
            # KiB), so the mark can read a little below the RSS read just after the reset.
            hwm = proc_field_bytes("VmHWM")
            self.peak = max(hwm, self.before or 0) if hwm is not None else None
        elif self._thread is not None:
            self._stop.set()
            self._thread.join()
            try:
                import psutil

                self.peak = max(self.peak or 0, psutil.Process().memory_info().rss)
            except Exception:
                pass
        if self._torch_cuda is not None and self.case is not None:
            try:
                self.device_peak = int(self._torch_cuda.max_memory_allocated(self.case.device))
            except Exception:
                self.device_peak = None

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"peak_rss_bytes": self.peak, "rss_before_bytes": self.before,
                               "peak_rss_delta_bytes": (self.peak - self.before)
                               if self.peak is not None and self.before is not None else None,
                               "peak_rss_method": self.method}
        if self.device_peak is not None:
            out["peak_device_bytes"] = self.device_peak
        return out
