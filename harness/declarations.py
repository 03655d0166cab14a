"""Declarations: what kernel modules and plugins say exists, recorded but not yet used.

Kernel modules and plugins declare specs, implementations and backends with
`register_kernel`, `implementation` / `array_api_implementation` and
`register_backend`. Each declaration is only recorded, with the module that made it,
in the current scope: the built-ins, or the load of one plugin (`collecting`). This
module sits below both the registry (which builds itself from the declarations) and
the plugin loader (which collects a plugin's declarations), so neither has to
import the other to share them.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from .backends.base import Backend
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
    generic: declared by `array_api_implementation` (one Array API expression that every
    backend of its list runs), not hand-written for this backend; the report marks it.
    """

    kernel: str
    backend: str
    name: str
    fn: Callable[..., Any]
    dtypes: tuple[str, ...] | None = None
    accumulation: Callable[[str, str], str] | None = None
    notes: str = ""
    origin: str = "builtin"
    generic: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kernel, self.backend, self.name)

    def accumulation_dtype(self, dtype: str, device: str = "cpu") -> str:
        return self.accumulation(dtype, device) if self.accumulation else dtype


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


BUILTIN = Declarations("builtin")
"""The built-in kernels' and backends' declarations (and those of modules imported
outside any plugin load)."""
_SCOPES: list[Declarations] = [BUILTIN]


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
            with device.ctx():  # CuPy: on this device, as its hand-written implementations are
                return fn(device.xp, **inputs)

        run.__name__ = f"{fn.__name__}_array_api"
        run.__doc__ = fn.__doc__
        run.__module__ = fn.__module__
        sc = _scope()
        for b in backends:
            sc._add(sc.impls, Implementation(kernel, b, "array_api", run,
                                             tuple(dtypes) if dtypes else None, accumulation,
                                             notes or "written once against the Array API standard",
                                             origin=sc.origin, generic=True),
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
