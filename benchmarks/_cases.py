"""Taking one benchmark case to the point where asv can measure it, with the harness.

Backend libraries are imported only for a case that will run: availability is
probed once per commit in a setup_cache process, and a benchmark process whose
backend is unavailable skips (NotImplementedError in setup) before any import.
Everything the installed harness might lack at an older commit is reached through
`_harness`, which turns a missing piece into a skip with the reason.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

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
    out: dict[str, dict[str, Any]] = {}
    for name in reg.backend_names:
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


def parse_label(label: str) -> tuple[str, str]:
    """(impl, backend) of a label, by the installed harness's asv_bridge (the importer's
    own definition); a commit without it skips."""
    return _harness("asv_bridge").parse_label(label)


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
    """asv's `timer`: the device's own Timer (the one `harness run` samples with), read
    as a pair around each sample and divided by the calls per block.

    timeit reads the clock once before and once after `number` executions of the
    benchmark body; the body is one block of `loops` kernel calls, the block the
    harness's calibration chose. So the first reading of a pair starts the device's
    Timer and reads 0, and the second stops it on the block's last output
    (`stop_timer(timer, last)`, the output-aware contract) and reads the block's time
    divided by `loops`: every asv sample is a per-call time over exactly the harness's
    block, measured as `harness run` measures it (profiling events on an OpenCL queue,
    a synchronised perf_counter on a CPU device), not by a host clock of asv's own.
    """

    def __init__(self) -> None:
        self.timer: Any = None
        self.stop: Callable[[Any, Any], float] = lambda timer, last: 0.0
        self.device: Any = None
        self.last: Any = None
        self.loops = 1
        self.running = False

    def set_device(self, device: Any) -> None:
        """The device's Timer, made once: a clock reading must cost as little as possible."""
        self.timer = device.timer()
        stop = getattr(_harness("backends.base"), "stop_timer", None)
        # a commit before output-aware timers: Timer.stop() takes no output
        self.stop = stop if stop is not None else (lambda timer, last: timer.stop())

    def __call__(self) -> float:
        if not self.running:
            self.running = True
            self.timer.start()
            return 0.0
        self.running = False
        seconds = self.stop(self.timer, self.last)
        self.last = None
        return seconds / self.loops


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
    CLOCK.running = False  # a sample that raised leaves no half-read pair behind
    return block, loops


def _accuracy_path(key: tuple) -> Path:
    """Where a case's accuracy is kept for the other tracks of the same commit: asv runs
    every benchmark of a setup_cache in that cache's folder (the working directory),
    which lives until the last of them has run."""
    digest = hashlib.sha256(json.dumps([str(k) for k in key]).encode()).hexdigest()[:24]
    return Path.cwd() / f"harness-accuracy-{digest}.json"


def accuracy_case(backends: dict[str, dict[str, Any]], kernel: str, label: str, dtype: str,
                  size: int) -> dict[str, Any]:
    """Status and accuracy fields of one case, along the harness's data path
    (runner.execute_case), computed by the first of its tracks that runs and read back
    by the others: only cases asv selected (`-b`) are ever computed."""
    key = (kernel, label, dtype, size)
    path = _accuracy_path(key)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    try:
        resolve(backends, kernel, label, dtype, size)
        impl_name, backend = parse_label(label)
        runner, timing = _harness("runner"), _harness("timing")
        ctx = runner.RunContext(_harness("registry").get_registry(), seed=SEED,
                                timing=timing.TimingOptions(budget_s=1e-3, min_samples=1, max_samples=1))
        rec = runner.execute_case(runner.Case(kernel, impl_name, backend, backends[backend]["device"], dtype, size), ctx)
        entry = {k: rec.get(k) for k in ACCURACY_FIELDS}
    except NotImplementedError as exc:
        entry = {"status": "skipped", "message": str(exc)}
    except Exception as exc:  # the harness API at this commit differs: a failure, kept with its reason
        entry = {"status": "error", "message": f"{type(exc).__name__}: {exc}"}
    if entry.get("status") not in ("ok", "skipped"):
        record_failure("accuracy", key, f"{entry.get('status')}: {entry.get('message')}")
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(entry, default=str), encoding="utf-8")
    os.replace(tmp, path)
    return entry


ACCURACY_FIELDS = ("status", "message", "rel_error", "error_ratio", "max_ulp", "accuracy_ok", "device")
#: Where benchmark processes leave the reason of a failure, relative to ASV_CONF_DIR:
#: asv keeps no stderr in its results, and `harness import-asv` reads the reasons here.
FAILURES_FILE = Path(".asv") / "harness-failures.jsonl"


def record_failure(kind: str, key: tuple, reason: str) -> None:
    """Append why a case failed, keyed by commit, environment, benchmark kind and case.
    One short line per append, so concurrent processes never interleave a line."""
    conf_dir = os.environ.get("ASV_CONF_DIR")
    if not conf_dir:
        return
    line = json.dumps({"commit": os.environ.get("ASV_COMMIT"), "env": os.environ.get("ASV_ENV_NAME"),
                       "kind": kind, "case": [str(k) for k in key], "reason": reason[:1500], "at": time.time()})
    try:
        path = Path(conf_dir) / FAILURES_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as out:
            out.write(line + "\n")
    except OSError:
        pass  # the reason is lost, the failure itself is still asv's


def failing(kind: str, prepare: Callable[..., Any], *case) -> Any:
    """prepare(*case), recording the reason of any failure but a skip, then re-raising."""
    try:
        return prepare(*case)
    except NotImplementedError:
        raise
    except Exception as exc:
        record_failure(kind, case[1:], f"{type(exc).__name__}: {exc}")
        raise
