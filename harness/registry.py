"""Which kernels, implementations and backends exist.

Kernel modules declare specs and implementations with `register_kernel` and the
`implementation` / `array_api_implementation` decorators. The registry is built on
first use (never at `import harness`), from the built-in kernels and backends and
then from plugins (entry-point groups `harness.backends` and `harness.kernels`).
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from .backends import BUILTIN_BACKENDS, Backend
from .spec import KernelSpec

ARRAY_API_BACKENDS = ("numpy", "torch", "cupy")


@dataclass(frozen=True)
class Implementation:
    """One kernel written for one backend.

    fn(device, **inputs) -> device output. It must not modify its inputs and must
    leave device work queued or finished (the timer synchronises).
    accumulation(dtype, device_name) -> the dtype the implementation accumulates in,
    where it differs from the data dtype (e.g. fp16 sums accumulated in fp32).
    """

    kernel: str
    backend: str
    name: str
    fn: Callable[..., Any]
    dtypes: tuple[str, ...] | None = None
    accumulation: Callable[[str, str], str] | None = None
    notes: str = ""
    origin: str = "builtin"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kernel, self.backend, self.name)

    def accumulation_dtype(self, dtype: str, device: str = "cpu") -> str:
        return self.accumulation(dtype, device) if self.accumulation else dtype


@dataclass
class Failure:
    """A plugin or backend that could not be loaded: kept with its reason, not raised."""

    origin: str
    what: str
    reason: str


_DECLARED_KERNELS: list[KernelSpec] = []
_DECLARED_IMPLS: list[Implementation] = []


def register_kernel(spec: KernelSpec) -> KernelSpec:
    _DECLARED_KERNELS.append(spec)
    return spec


def implementation(kernel: str, backend: str, name: str | None = None, *,
                   dtypes: Iterable[str] | None = None,
                   accumulation: Callable[[str, str], str] | None = None, notes: str = ""):
    """Declare fn(device, **inputs) as the `name` implementation of `kernel` on `backend`."""

    def deco(fn):
        _DECLARED_IMPLS.append(Implementation(kernel, backend, name or backend, fn,
                                              tuple(dtypes) if dtypes else None, accumulation, notes))
        return fn

    return deco


def array_api_implementation(kernel: str, backends: Iterable[str] = ARRAY_API_BACKENDS, *,
                             dtypes: Iterable[str] | None = None,
                             accumulation: Callable[[str, str], str] | None = None, notes: str = ""):
    """Declare fn(xp, **inputs), written once against the Array API standard.

    It is registered as implementation `array_api` on every backend in `backends`;
    `xp` is the array-api-compat namespace of the device's arrays.
    """

    def deco(fn):
        def run(device, **inputs):
            return fn(device.xp, **inputs)

        run.__name__ = f"{fn.__name__}_array_api"
        run.__doc__ = fn.__doc__
        for b in backends:
            _DECLARED_IMPLS.append(Implementation(kernel, b, "array_api", run,
                                                  tuple(dtypes) if dtypes else None, accumulation,
                                                  notes or "written once against the Array API standard"))
        return fn

    return deco


@dataclass
class Registry:
    kernels: dict[str, KernelSpec] = field(default_factory=dict)
    impls: dict[tuple[str, str, str], Implementation] = field(default_factory=dict)
    backend_factories: dict[str, Callable[[], Backend]] = field(default_factory=dict)
    backend_origins: dict[str, str] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    _backends: dict[str, Backend] = field(default_factory=dict)

    # -- building -----------------------------------------------------------------
    def add_kernel(self, spec: KernelSpec, origin: str = "builtin") -> None:
        if spec.name in self.kernels:
            raise ValueError(f"kernel {spec.name!r} is already registered")
        self.kernels[spec.name] = spec

    def add_implementation(self, impl: Implementation) -> None:
        if impl.kernel not in self.kernels:
            raise ValueError(f"implementation {impl.name!r} is for unknown kernel {impl.kernel!r}")
        if impl.key in self.impls:
            raise ValueError(f"implementation {impl.key} is already registered")
        self.impls[impl.key] = impl

    def add_backend(self, name: str, factory: Callable[[], Backend], origin: str = "builtin") -> None:
        if name in self.backend_factories:
            raise ValueError(f"backend {name!r} is already registered")
        self.backend_factories[name] = factory
        self.backend_origins[name] = origin

    # -- queries --------------------------------------------------------------------
    @property
    def backend_names(self) -> list[str]:
        return list(self.backend_factories)

    def backend(self, name: str) -> Backend:
        if name not in self.backend_factories:
            raise KeyError(f"unknown backend {name!r}; valid backends: {', '.join(self.backend_names)}")
        if name not in self._backends:
            self._backends[name] = self.backend_factories[name]()
        return self._backends[name]

    def implementations(self, kernel: str | None = None, backend: str | None = None) -> list[Implementation]:
        return [i for i in self.impls.values()
                if (kernel is None or i.kernel == kernel) and (backend is None or i.backend == backend)]


def _factory(path: str) -> Callable[[], Backend]:
    def make() -> Backend:
        mod, cls = path.split(":")
        return getattr(importlib.import_module(mod), cls)()

    return make


_REGISTRY: Registry | None = None


def build_registry(plugins: bool = True) -> Registry:
    """A fresh registry: built-ins, then plugins (whose failures become `Failure`s)."""
    importlib.import_module("harness.kernels")  # declares the built-in kernels
    # Extra modules that declare kernels or implementations (tests, local experiments);
    # named in the environment so that spawned worker processes see them too.
    for mod in filter(None, (m.strip() for m in os.environ.get("HARNESS_EXTRA_MODULES", "").split(","))):
        importlib.import_module(mod)
    reg = Registry()
    for name, path in BUILTIN_BACKENDS.items():
        reg.add_backend(name, _factory(path))
    for spec in _DECLARED_KERNELS:
        reg.add_kernel(spec)
    for impl in _DECLARED_IMPLS:
        reg.add_implementation(impl)
    if plugins:
        from . import plugins as _plugins

        _plugins.load_plugins(reg)
    return reg


def get_registry() -> Registry:
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = build_registry()
    return _REGISTRY


def reset_registry() -> None:
    global _REGISTRY
    _REGISTRY = None
