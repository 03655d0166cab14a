"""Which kernels, implementations and backends exist.

Kernel modules declare specs, implementations and backends with `register_kernel`,
`implementation` / `array_api_implementation` and `register_backend`. Declarations
are only recorded (with the module that made them); the registry is built from them
on first use, never at `import harness`: the built-in kernels and backends first,
then plugins (entry-point groups `harness.backends` and `harness.kernels`, see
harness.plugins). Whatever a plugin gets wrong becomes a `Failure` with its reason
instead of an exception, so one broken plugin never breaks the harness.
"""
from __future__ import annotations

import importlib
import os
import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from .backends import BUILTIN_BACKENDS, Backend
from .backends.base import BackendUnavailable
from .spec import KernelSpec

ARRAY_API_BACKENDS = ("numpy", "torch", "cupy")


@dataclass(frozen=True)
class Implementation:
    """One kernel written for one backend.

    fn(device, **inputs) -> device output. It must not modify its inputs and must
    leave device work queued or finished (the timer synchronises).
    accumulation(dtype, device_name): a declared accumulation dtype. Kept for plugins
    that pass it, but never recorded: records carry the dtype measured by a probe
    (harness/accumulation.py), because declared ones were found wrong.
    origin: "builtin", or the plugin that declared it.
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
    """A plugin (or part of one) that could not be used: kept with its reason, not raised.

    origin: the plugin, as "distribution:entry-point"; what: the part that failed
    (e.g. "load", "kernel 'sum'", "implementation dot/numba/numba"); reason: why.
    """

    origin: str
    what: str
    reason: str


@dataclass(frozen=True)
class BackendDecl:
    """A backend declared by `register_backend`: built by calling `factory()` on first use."""

    name: str
    factory: Callable[[], Backend]
    description: str = ""


@dataclass
class Declarations:
    """Everything declared in one scope (the built-ins, or the load of one plugin)."""

    origin: str = "builtin"
    kernels: list[KernelSpec] = field(default_factory=list)
    impls: list[Implementation] = field(default_factory=list)
    backends: list[BackendDecl] = field(default_factory=list)
    #: declaring module of each declaration, by id(), to attribute pre-imported plugin code.
    modules: dict[int, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.kernels or self.impls or self.backends)

    def _add(self, bucket: list, item: Any, module: str) -> None:
        bucket.append(item)
        self.modules[id(item)] = module

    def take_modules(self, prefix: str) -> "Declarations":
        """Move out the declarations made by module `prefix` or its submodules."""
        def mine(item):
            mod = self.modules.get(id(item), "")
            return mod == prefix or mod.startswith(prefix + ".")

        out = Declarations()
        for name in ("kernels", "impls", "backends"):
            bucket = getattr(self, name)
            keep = []
            for item in bucket:
                if mine(item):
                    out._add(getattr(out, name), item, self.modules.pop(id(item)))
                else:
                    keep.append(item)
            bucket[:] = keep
        return out


_BUILTIN = Declarations("builtin")
_SCOPES: list[Declarations] = [_BUILTIN]


def _scope() -> Declarations:
    return _SCOPES[-1]


@contextmanager
def collecting(origin: str) -> Iterator[Declarations]:
    """Record the declarations made inside the block (a plugin's load) separately."""
    decls = Declarations(origin)
    _SCOPES.append(decls)
    try:
        yield decls
    finally:
        _SCOPES.remove(decls)


def _caller_module(depth: int = 2) -> str:
    try:
        return sys._getframe(depth).f_globals.get("__name__", "")
    except ValueError:  # pragma: no cover - frames always exist in CPython
        return ""


# --- the declaration API (re-exported by harness.plugin_api) ---------------------------

def register_kernel(spec: KernelSpec) -> KernelSpec:
    """Declare a kernel spec; returns it so modules can keep `SPEC = register_kernel(...)`."""
    if not isinstance(spec, KernelSpec):
        raise TypeError(f"register_kernel expects a KernelSpec, got {type(spec).__name__}")
    _scope()._add(_scope().kernels, spec, _caller_module())
    return spec


def implementation(kernel: str, backend: str, name: str | None = None, *,
                   dtypes: Iterable[str] | None = None,
                   accumulation: Callable[[str, str], str] | None = None, notes: str = ""):
    """Declare fn(device, **inputs) as the `name` implementation of `kernel` on `backend`."""

    def deco(fn):
        sc = _scope()
        sc._add(sc.impls, Implementation(kernel, backend, name or backend, fn,
                                         tuple(dtypes) if dtypes else None, accumulation, notes,
                                         origin=sc.origin),
                getattr(fn, "__module__", None) or _caller_module())
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
        run.__module__ = fn.__module__
        sc = _scope()
        for b in backends:
            sc._add(sc.impls, Implementation(kernel, b, "array_api", run,
                                             tuple(dtypes) if dtypes else None, accumulation,
                                             notes or "written once against the Array API standard",
                                             origin=sc.origin),
                    fn.__module__)
        return fn

    return deco


def register_backend(cls: type[Backend] | None = None, *, name: str | None = None,
                     factory: Callable[[], Backend] | None = None):
    """Declare a backend: `@register_backend` on a Backend subclass (named by its `name`),
    or `register_backend(name=..., factory=...)`. Nothing is instantiated until used."""

    def declare(c: type[Backend]) -> type[Backend]:
        if not (isinstance(c, type) and issubclass(c, Backend)):
            raise TypeError(f"register_backend expects a Backend subclass, got {c!r}")
        bname = name or getattr(c, "name", None)
        if not bname or not isinstance(bname, str):
            raise TypeError(f"backend class {c.__qualname__} needs a class attribute `name`")
        sc = _scope()
        sc._add(sc.backends, BackendDecl(bname, c, getattr(c, "description", "")), c.__module__)
        return c

    if factory is not None:
        if not name:
            raise TypeError("register_backend(factory=...) needs name=")
        sc = _scope()
        sc._add(sc.backends, BackendDecl(name, factory, ""), _caller_module())
        return factory
    if cls is None:
        return declare
    return declare(cls)


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
    from .accuracy import ErrorModel
    from .dtypes import DTYPES

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
    from .dtypes import DTYPES

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
        an exception. An implementation of a kernel or backend that this same origin
        declared but that was rejected is rejected too: it was written for the
        plugin's own definition, not for the one already registered under that name.
        """
        origin = origin or decls.origin

        def attempt(what: str, add: Callable[[], None]) -> None:
            if not isolate:
                add()
                return
            try:
                add()
            except Exception as exc:
                self.failures.append(Failure(origin, what, str(exc) if isinstance(exc, ValueError)
                                             else f"{type(exc).__name__}: {exc}"))

        def checked(problem: str | None, add: Callable[[], None]) -> Callable[[], None]:
            def run() -> None:
                if isolate and problem:
                    raise ValueError(problem)
                add()
            return run

        if only in (None, "kernels"):
            for spec in decls.kernels:
                attempt(f"kernel {spec.name!r}",
                        checked(spec_problem(spec) if isolate else None, lambda s=spec: self.add_kernel(s, origin)))
        if only in (None, "backends"):
            for b in decls.backends:
                attempt(f"backend {b.name!r}",
                        checked(name_problem("backend", b.name),
                                lambda b=b: self.add_backend(b.name, b.factory, origin)))
        if only in (None, "impls"):
            own_kernels = {s.name for s in decls.kernels}
            own_backends = {b.name for b in decls.backends}
            for impl in decls.impls:
                what = f"implementation {impl.kernel}/{impl.backend}/{impl.name}"
                if impl.kernel in own_kernels and self.kernel_origins.get(impl.kernel) != origin:
                    self.failures.append(Failure(origin, what, f"its kernel {impl.kernel!r} was rejected"))
                elif impl.backend in own_backends and self.backend_origins.get(impl.backend) != origin:
                    self.failures.append(Failure(origin, what, f"its backend {impl.backend!r} was rejected"))
                elif isolate and impl.backend not in self.backend_factories:
                    self.failures.append(Failure(origin, what, f"unknown backend {impl.backend!r}; "
                                                               f"known: {', '.join(self.backend_names)}"))
                else:
                    attempt(what, checked(impl_problem(impl) if isolate else None,
                                          lambda i=impl: self.add_implementation(i)))

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
        reg.add_declarations(_BUILTIN)
        return reg
    from . import plugins as _plugins

    loaded = _plugins.load_plugins()  # imports plugin code; may claim pre-imported declarations
    reg.add_declarations(_BUILTIN)
    _plugins.add_to_registry(reg, loaded)
    return reg


def get_registry() -> Registry:
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = build_registry()
    return _REGISTRY


def reset_registry() -> None:
    global _REGISTRY
    _REGISTRY = None
