"""Running cases: plan the (kernel, impl, backend, device, dtype, size) grid, then
take each case along the data path and turn it into one record.

inputs (seeded, rounded) → device → timed calls → host → accuracy → record.
Nothing here is backend-specific; a case that cannot run becomes a `skipped`
record with the reason, and a case that fails becomes a record with its failure
status and message. Neither stops the sweep.
"""
from __future__ import annotations

import math
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .accuracy import BoundContext, flatten_output, measure, output_sha256
from .backends.base import Device
from .dtypes import FORMATS, itemsize, storage_dtype, unit_roundoff
from .record import case_id, new_record
from .registry import Implementation, Registry
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
    _inputs_key: tuple | None = None
    _inputs: tuple[HostInputs, np.ndarray] | None = None

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
            inputs = spec.make_inputs(size, dtype, self.seed)
            self._inputs = (inputs, spec.reference_for(inputs))
            self._inputs_key = key
        assert self._inputs is not None
        return self._inputs


def plan(registry: Registry, kernels: Sequence[str], backends: Sequence[str], dtypes: Sequence[str],
         sizes: Sequence[int] | None, preset: str = "quick",
         impls: Sequence[str] | None = None) -> list[Case | Skip]:
    """The grid of cases, ordered so that cases sharing inputs are adjacent."""
    out: list[Case | Skip] = []
    devices: dict[str, list[Device] | str] = {}
    for b in backends:
        backend = registry.backend(b)
        ok, reason = backend.probe()
        devices[b] = backend.devices() if ok else f"backend {b} unavailable: {reason}"
    for k in kernels:
        spec = registry.kernels[k]
        for size in (sizes if sizes else spec.preset_sizes(preset)):
            for dtype in dtypes:
                for b in backends:
                    for impl in registry.implementations(k, b):
                        if impls and impl.name not in impls:
                            continue
                        devs = devices[b]
                        if isinstance(devs, str):
                            out.append(Skip(Case(k, impl.name, b, "unavailable", dtype, size), devs))
                            continue
                        for dev in devs:
                            case = Case(k, impl.name, b, dev.name, dtype, size)
                            reason = _unsupported(spec, impl, dev, dtype, size)
                            out.append(Skip(case, reason) if reason else case)
    return out


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
    return new_record(case_id=c.case_id, kernel=c.kernel, impl=c.impl, backend=c.backend, device=c.device,
                      dtype=c.dtype, size=c.size, status="skipped", message=skip.reason, seed=ctx.seed,
                      machine_id=ctx.machine_id, commit=ctx.commit, run_id=ctx.run_id)


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


def failure_status(exc: BaseException) -> str:
    text = str(exc).lower()
    if isinstance(exc, MemoryError) or "out of memory" in text or "out_of_resources" in text \
            or "mem_object_allocation_failure" in text:
        return "oom"
    return "error"


def execute_case(case: Case, ctx: RunContext) -> dict[str, Any]:
    """Take one case along the whole data path; never raises for a kernel's fault."""
    reg = ctx.registry
    spec = reg.kernels[case.kernel]
    impl = reg.impls[(case.kernel, case.backend, case.impl)]
    dtype, size = case.dtype, case.size
    out_dtype = spec.output_dtype(dtype)
    rec = new_record(case_id=case.case_id, kernel=case.kernel, impl=case.impl, backend=case.backend,
                     device=case.device, dtype=dtype, out_dtype=out_dtype, size=size, seed=ctx.seed,
                     machine_id=ctx.machine_id, commit=ctx.commit, run_id=ctx.run_id,
                     u=unit_roundoff(dtype), flops=float(spec.flops(size)),
                     bytes=float(spec.bytes_moved(size, itemsize(dtype))),
                     accumulation_dtype=impl.accumulation_dtype(dtype, case.device),
                     input_distribution=spec.input_distribution,
                     error_model={"metric": spec.error_model.metric, "source": spec.error_model.source,
                                  "growth_slope": spec.error_model.growth_slope})
    stage = "inputs"
    try:
        inputs, ref = ctx.inputs_and_reference(spec, size, dtype)
        stage = "device"
        device = ctx.device(case.backend, case.device)
        rec["threads"] = device.threads()

        def upload():
            d = device.inputs_to_device(inputs.values, dtype)
            return d

        dev_inputs, h2d = time_transfer(upload, device)
        stage = "run"

        def call():
            return impl.fn(device, **dev_inputs)

        timing = time_call(call, device, ctx.timing)
        stage = "download"
        out_host, d2h = time_transfer(lambda: device.outputs_to_host(timing.first_output), device)
        again = device.outputs_to_host(call())
        rec.update(time_median_s=timing.median_s, time_iqr_s=timing.iqr_s, time_min_s=timing.min_s,
                   time_samples_s=timing.samples_s, n_samples=len(timing.samples_s), loops=timing.loops,
                   compile_s=timing.compile_s, timer=timing.timer, timer_overhead_s=timing.timer_overhead_s,
                   h2d_s=h2d, d2h_s=d2h, transfer_s=h2d + d2h)
        if timing.median_s > 0:
            rec["gflops"] = rec["flops"] / timing.median_s / 1e9
            rec["gbps"] = rec["bytes"] / timing.median_s / 1e9
        rec["divergence"] = device.divergence_sources()
        stage = "accuracy"
        problem = _validate(out_host, ref, out_dtype)
        if problem:
            rec.update(status="invalid", message=problem)
            return rec
        rec["output_sha256"] = output_sha256(out_host)
        rec["deterministic"] = rec["output_sha256"] == output_sha256(again)
        bctx = BoundContext(size=size, dtype=dtype, u=unit_roundoff(dtype), inputs=inputs.exact, reference=ref)
        acc = measure(out_host, ref, dtype, out_dtype, spec.error_model, bctx)
        profile = acc.pop("profile", None)
        rec.update(acc)
        if profile is not None:
            rec["profile"] = profile
        ref_nonfinite = int(np.count_nonzero(~np.isfinite(flatten_output(ref).astype(np.float64))))
        if acc["nonfinite"] > ref_nonfinite:
            rec.update(status="nan", message=f"{acc['nonfinite']} non-finite output value(s)")
        else:
            rec.update(status="ok", message="" if acc["accuracy_ok"] else
                       f"error {acc['rel_error']:.3g} exceeds bound {acc['error_bound']:.3g}")
        annotate_roofline(rec, device)
        if ctx.save_arrays is not None:
            save_case_arrays(Path(ctx.save_arrays) / case.case_id, inputs, out_host, ref)
    except Exception as exc:  # a kernel's failure is data, not a crash of the sweep
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else ""
        rec.update(status=failure_status(exc), message=f"{stage}: {type(exc).__name__}: {exc}{where}"[:2000])
    return rec


def save_case_arrays(folder: Path, inputs: HostInputs, out: Any, ref: Any) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "inputs.npz", **{k: np.asarray(v) for k, v in inputs.values.items()})
    outs = out if isinstance(out, (tuple, list)) else (out,)
    refs = ref if isinstance(ref, (tuple, list)) else (ref,)
    np.save(folder / "output.npy", outs[0] if len(outs) == 1 else np.concatenate([np.ravel(o).astype(np.float64) for o in outs]))
    np.save(folder / "reference.npy", refs[0] if len(refs) == 1 else np.concatenate([np.ravel(r).astype(np.float64) for r in refs]))


def run_cases(planned: Iterable[Case | Skip], ctx: RunContext,
              on_record: Callable[[dict[str, Any]], None]) -> None:
    """Execute the plan in order, handing each record to `on_record` as soon as it exists."""
    for item in planned:
        rec = skipped_record(item, ctx) if isinstance(item, Skip) else execute_case(item, ctx)
        on_record(rec)
