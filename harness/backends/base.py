"""The backend interface: the few things the harness needs from an array runtime.

Modelled on KernelTuner's backend: move data, synchronise, time device work,
compile. Everything backend-specific stays behind it, so the timing and accuracy
stages are literally the same code for every backend.

Contract (plugins must honour it, `harness check-backend` verifies it):
- `to_device(host)` returns a device array holding exactly the host values;
  `to_host(dev)` returns a NumPy array (bfloat16 comes back as float32).
- `synchronize(outputs=None)` returns only when all work queued on the device has
  finished; `outputs`, when given, is the last output of the calls just made (an array,
  or a tuple of them), so that a runtime with no device-wide barrier (JAX, MLX, lazy
  tensors) can wait on it. Runtimes with a barrier may ignore it.
- `timer().start()/stop(last_output=None)` measure device time between the two calls,
  including all work queued in between; `stop()` blocks until that work is done, and
  receives the last output of the block for the same reason.

The timing loop keeps only the last output of each block (every other output is
dropped as it is produced, as in real use) and hands it to `Timer.stop`, and from
there to `synchronize`. Plugins written against the older signatures without these
arguments keep working: the harness passes the output only where it is accepted
(`synchronize_device`, `stop_timer`).
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np


class BackendUnavailable(RuntimeError):
    """Raised when a backend's library or device cannot be used; the text is the reason."""


class Timer(ABC):
    """Measures device time between start() and stop()."""

    name: ClassVar[str] = "timer"

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self, last_output: Any = None) -> float:
        """Seconds since start(), after all device work in between has completed;
        `last_output` is the last output produced in between, for runtimes that can
        only wait on arrays."""


@functools.lru_cache(maxsize=256)
def _takes_argument(fn: Any) -> bool:
    """Whether a (plain) function accepts one positional argument besides self."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    params = [p for p in sig.parameters.values() if p.name != "self"]
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params)


def _call_with(method: Any, value: Any) -> Any:
    """method(value) when the method accepts it, else method(): plugins written before
    output-aware synchronisation keep working."""
    fn = getattr(method, "__func__", method)
    try:
        takes = _takes_argument(fn)
    except TypeError:  # unhashable callable
        takes = False
    return method(value) if takes else method()


def synchronize_device(device: "Device", outputs: Any = None) -> None:
    """device.synchronize(outputs), or device.synchronize() for older plugins."""
    _call_with(device.synchronize, outputs)


def stop_timer(timer: "Timer", last_output: Any = None) -> float:
    """timer.stop(last_output), or timer.stop() for older plugins."""
    return _call_with(timer.stop, last_output)


class PerfCounterTimer(Timer):
    """Host wall clock around a synchronised region: right for CPU devices, and for any
    runtime whose `synchronize(outputs)` waits on the outputs it is given."""

    name = "perf_counter"

    def __init__(self, synchronize=lambda outputs=None: None):
        self._sync = synchronize
        self._t0 = 0.0

    def start(self) -> None:
        _call_with(self._sync, None)
        self._t0 = time.perf_counter()

    def stop(self, last_output: Any = None) -> float:
        _call_with(self._sync, last_output)
        return time.perf_counter() - self._t0


class Device(ABC):
    """One place a backend runs. Also the handle implementations receive."""

    backend: str
    name: str
    kind: str = "cpu"  # "cpu" or "gpu"

    # --- data movement -------------------------------------------------------------
    @abstractmethod
    def to_device(self, host: np.ndarray, dtype: str) -> Any:
        """Copy a host array of format `dtype` to the device."""

    @abstractmethod
    def to_host(self, arr: Any) -> np.ndarray: ...

    def inputs_to_device(self, values: dict[str, Any], dtype: str) -> dict[str, Any]:
        """Arrays move; scalars become the backend's scalar of the case dtype."""
        out = {}
        for k, v in values.items():
            if isinstance(v, np.ndarray):
                out[k] = self.to_device(v, dtype if v.dtype.kind == "f" else str(v.dtype))
            else:
                out[k] = self.scalar(v, dtype)
        return out

    def scalar(self, value: Any, dtype: str) -> Any:
        return value

    def outputs_to_host(self, out: Any) -> Any:
        if isinstance(out, (tuple, list)):
            return tuple(self.to_host(o) for o in out)
        return self.to_host(out)

    # --- execution ----------------------------------------------------------------
    @abstractmethod
    def synchronize(self, outputs: Any = None) -> None:
        """Return once all queued work has finished; `outputs` (the last output of the
        calls just made, or None) is what a runtime without a device barrier waits on."""

    def timer(self) -> Timer:
        return PerfCounterTimer(self.synchronize)

    def compile(self, source: str, **options: Any) -> Any:
        """Build (and cache) a device program; only for backends with a compiler."""
        raise NotImplementedError(f"backend {self.backend} does not compile programs")

    # --- capabilities and metadata ---------------------------------------------------
    def dtype_unsupported(self, dtype: str) -> str | None:
        """None if the device computes in `dtype`, else the reason it cannot."""
        return None

    @property
    def xp(self) -> Any:
        """Array API namespace for write-once implementations, or None."""
        return None

    def ctx(self) -> Any:
        """The context in which work for this device is issued (CuPy: its CUDA device,
        since CuPy runs on the current device); nothing to enter by default."""
        return contextlib.nullcontext()

    def metadata(self) -> dict[str, Any]:
        return {"backend": self.backend, "device": self.name, "kind": self.kind}

    def divergence_sources(self) -> dict[str, Any]:
        """Settings of this device that change rounding (TF32, build options, ...)."""
        return {}

    def threads(self) -> dict[str, Any]:
        return {}

    # --- proof of work ------------------------------------------------------------
    def self_test(self) -> None:
        """Do the smallest piece of real work and check its answer; raise if it fails.

        A device is *available* only after this has passed: a runtime that lists a
        device it cannot compile for or compute on (PoCL on a CPU its LLVM does not
        know, a CUDA driver older than the runtime) must be skipped with its reason,
        not discovered case by case as errors. The default moves a small array to the
        device, adds it to itself there and brings the sum back; backends with a compiler
        override it to build and run a program.
        """
        host = np.arange(1.0, 9.0, dtype=np.float32)
        arr = self.to_device(host, "float32")
        back = self.to_host(arr + arr)
        self.synchronize()
        check_self_test_result(back, 2 * host)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.backend}:{self.name}>"


class Backend(ABC):
    """An array runtime. Its library is imported by `probe()`, never at harness import."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    def __init__(self) -> None:
        self._probed: tuple[bool, str] | None = None
        self._devices: list[Device] | None = None
        #: devices the library lists but that failed their self-test: name -> reason
        self._unusable: dict[str, str] = {}

    @abstractmethod
    def _load(self) -> list[Device]:
        """Import the library and enumerate devices; raise BackendUnavailable with the reason."""

    def probe(self) -> tuple[bool, str]:
        """(available, reason). Cached: the library is imported, and every device it lists
        is made to do real work (`Device.self_test`), at most once per process. The
        backend is available when at least one device passed."""
        if self._probed is None:
            try:
                listed = self._load()
                if not listed:
                    raise BackendUnavailable("no devices found")
                self._devices, self._unusable = self._self_tested(listed)
                if not self._devices:
                    raise BackendUnavailable("no device passed its self-test: " + "; ".join(
                        f"{name}: {why}" for name, why in self._unusable.items()))
                self._probed = (True, "")
            except BackendUnavailable as exc:
                self._probed = (False, str(exc))
            except Exception as exc:  # an import that crashes is a reason, not a failure
                self._probed = (False, f"{type(exc).__name__}: {exc}")
        return self._probed

    def _self_tested(self, listed: list[Device]) -> tuple[list[Device], dict[str, str]]:
        """Split the listed devices into those that computed right and those that did not,
        with the reason (the runtime's full message, then a remedy where one is known)."""
        usable, unusable = [], {}
        for dev in listed:
            try:
                dev.self_test()
            except Exception as exc:
                unusable[dev.name] = self.unusable_reason(dev, exc)
            else:
                usable.append(dev)
        return usable, unusable

    def unusable_reason(self, device: Device, exc: BaseException) -> str:
        """The message stored for a device whose self-test raised `exc`. Backends that know
        a remedy for their runtime's failures add it here."""
        return f"self-test failed: {type(exc).__name__}: {exc}"

    def unusable_devices(self) -> dict[str, str]:
        """Devices listed by the library that failed their self-test: name -> reason."""
        self.probe()
        return dict(self._unusable)

    @property
    def available(self) -> bool:
        return self.probe()[0]

    def devices(self) -> list[Device]:
        ok, reason = self.probe()
        if not ok:
            raise BackendUnavailable(reason)
        return list(self._devices or [])

    def versions(self) -> dict[str, str]:
        return {}


def check_self_test_result(got: Any, expected: np.ndarray) -> None:
    """Raise when a self-test's output is not exactly what was asked for (small integers in
    float32: every runtime computes them exactly, so any difference is a broken device)."""
    got = np.asarray(got, dtype=np.float64).ravel()
    if got.shape != expected.shape or not np.array_equal(got, expected.astype(np.float64)):
        raise RuntimeError(f"self-test computed {got.tolist()[:8]}, expected {expected.tolist()[:8]}")


def import_or_unavailable(module: str, hint: str):
    """Import a backend library, turning ImportError into a reason with an install hint."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendUnavailable(f"{module} is not installed ({exc}); {hint}") from exc
