"""Which kernels, implementations and backends exist.

The registry is built from the declarations (harness.declarations) on first use,
never at `import harness`: the built-in kernels and backends first, then plugins
(entry-point groups `harness.backends` and `harness.kernels`, loaded by
harness.plugins). Whatever a plugin gets wrong becomes a `Failure` with its reason
instead of an exception, so one broken plugin never breaks the harness.
"""
from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from .accuracy import ErrorModel
from .backends import BUILTIN_BACKENDS, Backend
from .backends.base import BackendUnavailable
from .declarations import BUILTIN, Declarations, Implementation
from .dtypes import DTYPES
from .plugins import LoadedPlugin, load_plugins
from .spec import KernelSpec


@dataclass
class Failure:
    """A plugin (or part of one) that could not be used: kept with its reason, not raised.

    origin: the plugin, as "distribution:entry-point"; what: the part that failed
    (e.g. "load", "kernel 'sum'", "implementation dot/numba/numba"); reason: why.
    """

    origin: str
    what: str
    reason: str


# --- validation of plugin declarations ----------------------------------------------------

_NAME = re.compile(r"\A[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")  # \Z: "$" would let a final newline in
REQUIRED_PRESETS = ("quick", "full", "test")


def refuse_hidden_characters(kind: str, name: Any) -> None:
    """Every name, built-in or from HARNESS_EXTRA_MODULES too (plugins' names are held to
    `_NAME`): a bidi override (U+202E) or another invisible character shows one name as
    another in every table and report, so such a name is refused when it is registered."""
    from .record_schema import hidden_character

    if isinstance(name, str) and (ch := hidden_character(name)):
        raise ValueError(f"{kind} name {ascii(name)} holds the invisible or control character {ch}: "
                         f"names must read as what they are")


def name_problem(kind: str, name: Any) -> str | None:
    """Names are typed in comma-separated CLI lists and used in case ids: keep them plain."""
    if not isinstance(name, str) or not _NAME.match(name):
        return f"{kind} name {name!r} must be letters, digits, '_', '-' or '.'"
    return None


def spec_problem(spec: KernelSpec) -> str | None:
    """What makes a (plugin's) kernel spec unusable by the runner, or None."""
    if (p := name_problem("kernel", spec.name)):
        return p
    missing = [p for p in REQUIRED_PRESETS if p not in spec.sizes]
    if missing:
        return f"kernel {spec.name!r} has no sizes for preset(s) {', '.join(missing)}"
    for preset, sizes in spec.sizes.items():
        if not sizes or not all(isinstance(n, int) and n > 0 for n in sizes):
            return f"kernel {spec.name!r}: sizes of preset {preset!r} must be positive ints, got {sizes!r}"
    bad = [d for d in spec.dtypes if d not in DTYPES]
    if bad or not spec.dtypes:
        return f"kernel {spec.name!r}: dtypes {list(spec.dtypes)!r} must be among {', '.join(DTYPES)}"
    if not isinstance(spec.error_model, ErrorModel):
        return f"kernel {spec.name!r}: error_model must be an ErrorModel"
    for f in ("generate", "reference", "flops", "bytes_moved"):
        if not callable(getattr(spec, f)):
            return f"kernel {spec.name!r}: {f} must be callable"
    return None


def impl_problem(impl: Implementation) -> str | None:
    """What makes a (plugin's) implementation unusable by the runner, or None."""
    if (p := name_problem("implementation", impl.name)):
        return p
    if not callable(impl.fn):
        return f"implementation {impl.name!r} is not callable"
    if impl.dtypes is not None and any(d not in DTYPES for d in impl.dtypes):
        return f"implementation {impl.name!r}: dtypes {list(impl.dtypes)!r} must be among {', '.join(DTYPES)}"
    return None


# --- the registry ------------------------------------------------------------------------

class UnavailableBackend(Backend):
    """Placeholder for a backend that could not even be constructed (a broken plugin):
    it is listed, probes as unavailable with the reason, and its cases are skipped."""

    name = "unavailable"
    description = "placeholder for a backend that failed to load"

    def __init__(self, name: str, reason: str) -> None:
        super().__init__()
        self.name = name  # type: ignore[misc]
        self.reason = reason

    def _load(self):
        raise BackendUnavailable(self.reason)


@dataclass
class Registry:
    kernels: dict[str, KernelSpec] = field(default_factory=dict)
    impls: dict[tuple[str, str, str], Implementation] = field(default_factory=dict)
    backend_factories: dict[str, Callable[[], Backend]] = field(default_factory=dict)
    backend_origins: dict[str, str] = field(default_factory=dict)
    kernel_origins: dict[str, str] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    _backends: dict[str, Backend] = field(default_factory=dict)

    # -- building -----------------------------------------------------------------
    def add_kernel(self, spec: KernelSpec, origin: str = "builtin") -> None:
        refuse_hidden_characters("kernel", spec.name)
        if spec.name in self.kernels:
            raise ValueError(f"kernel {spec.name!r} is already registered "
                             f"(by {self.kernel_origins.get(spec.name, 'builtin')})")
        self.kernels[spec.name] = spec
        self.kernel_origins[spec.name] = origin

    def add_implementation(self, impl: Implementation) -> None:
        refuse_hidden_characters("implementation", impl.name)
        if impl.kernel not in self.kernels:
            raise ValueError(f"implementation {impl.name!r} is for unknown kernel {impl.kernel!r}")
        if impl.key in self.impls:
            raise ValueError(f"implementation {impl.key} is already registered "
                             f"(by {self.impls[impl.key].origin})")
        self.impls[impl.key] = impl

    def add_backend(self, name: str, factory: Callable[[], Backend], origin: str = "builtin") -> None:
        refuse_hidden_characters("backend", name)
        if name in self.backend_factories:
            raise ValueError(f"backend {name!r} is already registered "
                             f"(by {self.backend_origins.get(name, 'builtin')})")
        self.backend_factories[name] = factory
        self.backend_origins[name] = origin

    def add_declarations(self, decls: Declarations, origin: str | None = None,
                         isolate: bool = False, only: str | None = None) -> None:
        """Add kernels, then backends, then implementations (`only` picks one phase).

        With `isolate` (plugins), each rejected declaration becomes a Failure instead of
        an exception, so the rest of the plugin still works.
        """
        origin = origin or decls.origin
        if only in (None, "kernels"):
            for spec in decls.kernels:
                self._attempt(origin, isolate, f"kernel {spec.name!r}", spec_problem(spec) if isolate else None,
                              lambda s=spec: self.add_kernel(s, origin))
        if only in (None, "backends"):
            for b in decls.backends:
                self._attempt(origin, isolate, f"backend {b.name!r}",
                              name_problem("backend", b.name) if isolate else None,
                              lambda b=b: self.add_backend(b.name, b.factory, origin))
        if only in (None, "impls"):
            for impl in decls.impls:
                what = f"implementation {impl.kernel}/{impl.backend}/{impl.name}"
                problem = self._orphan_problem(impl, decls, origin, isolate)
                if problem:
                    self.failures.append(Failure(origin, what, problem))
                else:
                    self._attempt(origin, isolate, what, impl_problem(impl) if isolate else None,
                                  lambda i=impl: self.add_implementation(i))

    def _attempt(self, origin: str, isolate: bool, what: str, problem: str | None,
                 add: Callable[[], None]) -> None:
        """Run `add`; with `isolate`, a known `problem` or an exception becomes a Failure."""
        if not isolate:
            add()
            return
        if problem:
            self.failures.append(Failure(origin, what, problem))
            return
        try:
            add()
        except Exception as exc:
            self.failures.append(Failure(origin, what, str(exc) if isinstance(exc, ValueError)
                                         else f"{type(exc).__name__}: {exc}"))

    def _orphan_problem(self, impl: Implementation, decls: Declarations, origin: str,
                        isolate: bool) -> str | None:
        """Why `impl` has nothing to attach to, or None.

        An implementation of a kernel or backend that this same origin declared but that
        was rejected is rejected too: it was written for the plugin's own definition, not
        for the one already registered under that name.
        """
        if impl.kernel in {s.name for s in decls.kernels} and self.kernel_origins.get(impl.kernel) != origin:
            return f"its kernel {impl.kernel!r} was rejected"
        if impl.backend in {b.name for b in decls.backends} and self.backend_origins.get(impl.backend) != origin:
            return f"its backend {impl.backend!r} was rejected"
        if isolate and impl.backend not in self.backend_factories:
            return f"unknown backend {impl.backend!r}; known: {', '.join(self.backend_names)}"
        return None

    def add_plugins(self, loaded: list[LoadedPlugin]) -> None:
        """All plugins' kernels, then backends, then implementations, each with isolation;
        placeholders for failed backend plugins last, so a working one keeps its name."""
        ok = [p for p in loaded if p.decls is not None]
        for phase in ("kernels", "backends", "impls"):
            for p in ok:
                self.add_declarations(p.decls, p.origin, isolate=True, only=phase)
        for p in loaded:
            if p.error is None:
                continue
            self.failures.append(Failure(p.origin, f"load of {p.group} entry point {p.value!r}", p.error))
            if p.group == "harness.backends" and p.name not in self.backend_factories:
                reason = f"plugin {p.origin} failed to load: {p.error}"
                self.add_backend(p.name, lambda n=p.name, r=reason: UnavailableBackend(n, r), p.origin)

    # -- queries --------------------------------------------------------------------
    @property
    def backend_names(self) -> list[str]:
        return list(self.backend_factories)

    def backend(self, name: str) -> Backend:
        if name not in self.backend_factories:
            raise KeyError(f"unknown backend {name!r}; valid backends: {', '.join(self.backend_names)}")
        if name not in self._backends:
            try:
                backend = self.backend_factories[name]()
                if not isinstance(backend, Backend):
                    raise TypeError(f"factory returned {type(backend).__name__}, not a Backend")
            except Exception as exc:  # a plugin's constructor must not take the harness down
                backend = UnavailableBackend(name, f"backend could not be created "
                                                   f"({self.backend_origins.get(name)}): "
                                                   f"{type(exc).__name__}: {exc}")
            self._backends[name] = backend
        return self._backends[name]

    def implementations(self, kernel: str | None = None, backend: str | None = None) -> list[Implementation]:
        return [i for i in self.impls.values()
                if (kernel is None or i.kernel == kernel) and (backend is None or i.backend == backend)]


def _factory(path: str) -> Callable[[], Backend]:
    def make() -> Backend:
        mod, cls = path.split(":")
        return getattr(importlib.import_module(mod), cls)()

    return make


def extra_modules() -> list[str]:
    """HARNESS_EXTRA_MODULES: modules that declare kernels or implementations (tests, local
    experiments), named in the environment so that spawned worker processes see them too."""
    return [m for m in (m.strip() for m in os.environ.get("HARNESS_EXTRA_MODULES", "").split(",")) if m]


_REGISTRY: Registry | None = None


def build_registry(plugins: bool = True) -> Registry:
    """A fresh registry: built-ins, then plugins (whose failures become `Failure`s)."""
    importlib.import_module("harness.kernels")  # declares the built-in kernels
    for mod in extra_modules():
        importlib.import_module(mod)
    reg = Registry()
    for name, path in BUILTIN_BACKENDS.items():
        reg.add_backend(name, _factory(path))
    if not plugins:
        reg.add_declarations(BUILTIN)
        return reg
    loaded = load_plugins()  # imports plugin code; may claim pre-imported declarations
    reg.add_declarations(BUILTIN)
    reg.add_plugins(loaded)
    return reg


def get_registry() -> Registry:
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = build_registry()
    return _REGISTRY


def reset_registry() -> None:
    global _REGISTRY
    _REGISTRY = None
