"""Taking one benchmark case to the point where asv can measure it, with the harness.

Backend libraries are imported only for a case that will run: availability is
probed once per commit in a setup_cache process, and a benchmark process whose
backend is unavailable skips (NotImplementedError in setup) before any import.
Everything the installed harness might lack at an older commit is reached through
`_harness`, which turns a missing piece into a skip with the reason.
"""
from __future__ import annotations

import os
import time
from typing import Any, Callable

from ._grid import parse_label

SEED = 0  # the harness's default seed: asv and `harness run` see the same inputs


def _harness(what: str):
    """Import a harness module, or skip: older commits may not have it."""
    import importlib

    try:
        return importlib.import_module(f"harness.{what}")
    except ImportError as exc:
        raise NotImplementedError(f"harness.{what} is not available at this commit ({exc})") from exc


def probe_backends() -> dict[str, dict[str, Any]]:
    """Per backend: available or why not, its first device, and which dtypes that device
    refuses. Run once per commit as asv's setup_cache, so that benchmark processes
    decide to skip without importing torch, pyopencl or cupy."""
    registry = _harness("registry")
    dtypes = _harness("dtypes")
    reg = registry.get_registry()
    only = [b.strip() for b in os.environ.get("HARNESS_ASV_BACKENDS", "").split(",") if b.strip()]
    out: dict[str, dict[str, Any]] = {}
    for name in reg.backend_names:
        if only and name not in only:
            continue
        try:
            ok, reason = reg.backend(name).probe()
            if ok:
                dev = reg.backend(name).devices()[0]
                out[name] = {"ok": True, "reason": "", "device": dev.name,
                             "dtype_unsupported": {d: dev.dtype_unsupported(d) for d in dtypes.DTYPES}}
            else:
                out[name] = {"ok": False, "reason": reason}
        except Exception as exc:  # a backend that crashes while probing is unavailable, not fatal
            out[name] = {"ok": False, "reason": f"{type(exc).__name__}: {exc}"}
    return out


probe_backends.timeout = 600  # asv's setup_cache timeout (imports every backend library once)


def resolve(backends: dict[str, dict[str, Any]], kernel: str, label: str, dtype: str, size: int):
    """(spec, implementation) of a case that can run here, else NotImplementedError(reason)."""
    impl_name, backend = parse_label(label)
    verdict = backends.get(backend)
    if verdict is None:
        raise NotImplementedError(f"backend {backend} is not in the harness at this commit")
    if not verdict["ok"]:
        raise NotImplementedError(f"backend {backend} unavailable: {verdict['reason']}")
    reg = _harness("registry").get_registry()
    spec = reg.kernels.get(kernel)
    if spec is None:
        raise NotImplementedError(f"kernel {kernel} is not in the harness at this commit")
    impl = reg.impls.get((kernel, backend, impl_name))
    if impl is None:
        raise NotImplementedError(f"implementation {label} of {kernel} is not in the harness at this commit")
    if dtype not in spec.dtypes:
        raise NotImplementedError(f"kernel {kernel} is not defined for {dtype}")
    if impl.dtypes is not None and dtype not in impl.dtypes:
        raise NotImplementedError(f"implementation {label} supports only {', '.join(impl.dtypes)}")
    if size < getattr(spec, "min_size", 1):
        raise NotImplementedError(f"kernel {kernel} needs size >= {spec.min_size}")
    refused = verdict.get("dtype_unsupported", {}).get(dtype)
    if refused:
        raise NotImplementedError(refused)
    return spec, impl


def _device(backend: str, name: str):
    reg = _harness("registry").get_registry()
    for dev in reg.backend(backend).devices():
        if dev.name == name:
            return dev
    raise NotImplementedError(f"backend {backend} has no device {name!r} any more")


def prepare_call(backends: dict[str, dict[str, Any]], kernel: str, label: str, dtype: str, size: int):
    """(device, call): the case's inputs on its device and a zero-argument call of the
    implementation, as `harness run` builds them (same seed, same rounding)."""
    spec, impl = resolve(backends, kernel, label, dtype, size)
    backend = parse_label(label)[1]
    device = _device(backend, backends[backend]["device"])
    inputs = spec.make_inputs(size, dtype, SEED)
    dev_inputs = device.inputs_to_device(inputs.values, dtype)

    def call():
        return impl.fn(device, **dev_inputs)

    return device, call


class DeviceClock:
    """asv's `timer`: a perf_counter read only after the device has finished the block's
    last call, divided by the calls per block.

    asv times `number` executions of the benchmark body between two readings and divides
    by `number`; the body is one block of `loops` kernel calls, the block the harness's
    calibration chose, so dividing the clock by `loops` makes every asv sample a per-call
    time over exactly the harness's block (one clock pair per block: no per-call timer
    overhead). Each reading first synchronises the device on the block's last output
    (`synchronize(outputs)`, the output-aware contract), so asynchronous work, and
    runtimes that can only wait on arrays, stay inside the sample they belong to.
    """

    def __init__(self) -> None:
        self.sync: Callable[[Any], None] = lambda outputs: None
        self.device: Any = None
        self.last: Any = None
        self.loops = 1

    def set_device(self, device: Any) -> None:
        """Resolve the synchronisation once: a clock reading must cost as little as possible."""
        sync = getattr(_harness("backends.base"), "synchronize_device", None)
        if sync is None:  # a commit before output-aware synchronisation
            self.sync = lambda outputs: device.synchronize()
        else:
            self.sync = lambda outputs: sync(device, outputs)

    def __call__(self) -> float:
        self.sync(self.last)
        self.last = None
        return time.perf_counter() / self.loops


CLOCK = DeviceClock()
_PREPARED: dict[tuple, tuple[Any, int, Callable[[], None]]] = {}
#: the harness's own sampling settings: the warm-up and calibration of `harness run`
PREPARE_BUDGET_S = 1.0


def prepare_timed(backends: dict[str, dict[str, Any]], kernel: str, label: str, dtype: str,
                  size: int) -> tuple[Callable[[], None], int]:
    """(block, loops): a block of `loops` kernel calls, `loops` chosen by the harness's
    protocol (steady-state warm-up, then calibration), which has already run; CLOCK is
    set for it. Cached: asv re-runs setup before every sample."""
    key = (kernel, label, dtype, size)
    if key not in _PREPARED:
        timing = _harness("timing")
        device, call = prepare_call(backends, kernel, label, dtype, size)
        opts = timing.TimingOptions(budget_s=PREPARE_BUDGET_S, min_samples=1, max_samples=1)
        loops = max(1, int(timing.time_call(call, device, opts).loops))

        def block() -> None:
            last = None
            for _ in range(loops):
                last = call()  # every earlier output dropped, as in the harness
            CLOCK.last = last

        _PREPARED[key] = (device, loops, block)
    device, loops, block = _PREPARED[key]
    if CLOCK.device is not device:
        CLOCK.device = device
        CLOCK.set_device(device)
    CLOCK.loops = loops
    return block, loops


def accuracy_cases(params_of_classes: list[list[list[Any]]]) -> dict[tuple, dict[str, Any]]:
    """Run every case once along the harness's data path (runner.execute_case) and keep
    status and accuracy fields, keyed by (kernel, implementation label, dtype, size)."""
    import itertools

    registry = _harness("registry")
    runner = _harness("runner")
    timing = _harness("timing")
    reg = registry.get_registry()
    backends = probe_backends()
    ctx = runner.RunContext(reg, seed=SEED,
                            timing=timing.TimingOptions(budget_s=1e-3, min_samples=1, max_samples=1))
    out: dict[tuple, dict[str, Any]] = {}
    for params in params_of_classes:
        for kernel, label, dtype, size in itertools.product(*params):
            key = (kernel, label, dtype, size)
            try:
                resolve(backends, kernel, label, dtype, size)
                impl_name, backend = parse_label(label)
                case = runner.Case(kernel, impl_name, backend, backends[backend]["device"], dtype, size)
                rec = runner.execute_case(case, ctx)
            except NotImplementedError as exc:
                out[key] = {"status": "skipped", "message": str(exc)}
                continue
            except Exception as exc:  # the harness API at this commit differs: a failure, kept
                out[key] = {"status": "error", "message": f"{type(exc).__name__}: {exc}"}
                continue
            out[key] = {k: rec.get(k) for k in ("status", "message", "rel_error", "error_ratio", "max_ulp",
                                                 "accuracy_ok", "device")}
    return out
