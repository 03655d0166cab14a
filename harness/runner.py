"""Running cases: plan the (kernel, impl, backend, device, dtype, size) grid, then
take each case along the data path and turn it into one record.

The stages are modules: harness/inputs.py (seeded, rounded inputs and the reference)
→ harness/transfer.py (onto the device) → harness/timing.py (timed calls; outputs back
through transfer.py) → harness/validation.py (shape, dtype) → harness/accuracy.py (error,
bound, verdict) → harness/record.py (one flat dict); `_execute` calls them in that order.
Nothing here is backend-specific; a case that cannot run becomes a `skipped`
record with the reason, and a case that fails becomes a record with its failure
status and message. Neither stops the sweep. Whether cases run here or each in a
worker process (harness/worker.py) is chosen above both, in harness/execution.py.
"""
from __future__ import annotations

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
from .units import format_bytes
from .accuracy import BoundContext, assess
from .backends.base import Device
from .declarations import Implementation
from .dtypes import itemsize, unit_roundoff
from .inputs import CaseInputs, InputsCache, memory_estimate
from .output_sample import output_sample
from .record import case_id, new_record
from .registry import Registry
from .roofline import annotate_roofline
from .spec import HostInputs, KernelSpec
from .timing import TimingOptions, time_call
from .transfer import to_device, to_host
from .validation import validate


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
    _inputs: InputsCache = field(default_factory=InputsCache, repr=False)

    def device(self, backend: str, name: str) -> Device:
        for d in self.registry.backend(backend).devices():
            if d.name == name:
                return d
        raise KeyError(f"backend {backend!r} has no device {name!r}")

    def inputs(self, spec: KernelSpec, size: int, dtype: str) -> CaseInputs:
        """The inputs stage with this run's seed, cached for consecutive cases of the same
        (kernel, dtype, size): every backend gets the very same inputs (`InputsCache`)."""
        return self._inputs.get(spec, size, dtype, self.seed)


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
    """The data path of one case, a stage a line: spec -> inputs -> device -> timing (and
    the download of the outputs) -> validation -> accuracy -> record. A kernel's failure
    at any stage is data (a status and a message), not a crash of the sweep."""
    spec = ctx.registry.kernels[case.kernel]
    impl = ctx.registry.impls[(case.kernel, case.backend, case.impl)]
    stage = _Stage("inputs")
    try:
        data = ctx.inputs(spec, case.size, case.dtype)
        rec["inputs_sha256"] = data.sha256
        stage.name = "device"
        device = ctx.device(case.backend, case.device)
        rec["threads"] = device.threads()
        dev_inputs, h2d = to_device(device, data.host, case.dtype)
        stage.name = "run"
        out_host, again = _time_and_download(case, ctx, impl, device, dev_inputs, rec, stage)
        rec.update(h2d_s=h2d, transfer_s=h2d + rec["d2h_s"])
        stage.name = "accuracy"  # validation's failures are named so too
        out_dtype = spec.output_dtype(case.dtype)
        if problem := validate(out_host, data.reference, out_dtype):
            rec.update(status="invalid", message=problem)
            return
        assess(rec, out_host, again, data.reference, out_dtype, spec.error_model, _bound_context(case, data))
        _complete_record(case, ctx, rec, device, data, out_host)
    except Exception as exc:  # a kernel's failure is data, not a crash of the sweep
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else ""
        rec.update(status=failure_status(exc), message=f"{stage.name}: {type(exc).__name__}: {exc}{where}"[:2000])


def _time_and_download(case: Case, ctx: RunContext, impl: Implementation, device: Device, dev_inputs: dict,
                       rec: dict[str, Any], stage: _Stage) -> tuple[Any, Any]:
    """The timing stage (harness.timing's protocol), then the first output and a second
    call's output brought to the host (the second one for the determinism check)."""
    def call():
        return impl.fn(device, **dev_inputs)

    progress = ctx.on_progress
    timing = time_call(call, device, ctx.timing, after_warmup=None if progress is None else
                       (lambda first_s: progress({"first_call_s": first_s})))
    stage.name = "download"
    out_host, d2h = to_host(device, timing.first_output)
    again = device.outputs_to_host(call())
    rec.update(timing.record_fields(), d2h_s=d2h)
    if timing.median_s > 0:
        rec["gflops"] = rec["flops"] / timing.median_s / 1e9
        rec["gbps"] = rec["bytes"] / timing.median_s / 1e9
    rec["divergence"] = device.divergence_sources()
    # After the timed calls, so that the probe's first call never absorbs compile_s.
    rec.update(cached_accumulation(case.kernel, impl.key, impl.fn, device, case.dtype))
    return out_host, again


def _bound_context(case: Case, data: CaseInputs) -> BoundContext:
    """What the case's error bound may depend on: its size, dtype and data."""
    return BoundContext(size=case.size, dtype=case.dtype, u=unit_roundoff(case.dtype), inputs=data.host.exact,
                        reference=data.reference)


def _complete_record(case: Case, ctx: RunContext, rec: dict[str, Any], device: Device, data: CaseInputs,
                     out_host: Any) -> None:
    """The record stage of a judged output: a seeded sample of its entries (ok cases, so
    that two machines' outputs can be compared later), its place under the roofline, and
    with --save-arrays its inputs, output and reference on disk."""
    if rec["status"] == "ok":
        rec["output_sample"] = output_sample(out_host, data.reference, ctx.seed, case.kernel, case.size)
    annotate_roofline(rec, device)
    if ctx.save_arrays is not None:
        save_case_arrays(Path(ctx.save_arrays) / case.case_id, data.host, out_host, data.reference)


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
