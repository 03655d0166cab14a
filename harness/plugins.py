"""Plugin discovery: entry-point groups `harness.kernels` and `harness.backends`.

Plugins are found when the registry is built (first use), never at `import harness`.
An entry point names a module, a function, or a Backend subclass:

- a module: importing it runs its declarations (`register_kernel`, `implementation`,
  `register_backend`, ... from `harness.plugin_api`);
- a function: it is called with no arguments after its module is imported, and the
  declarations it makes count too;
- a Backend subclass: it is declared as a backend (if its module did not already).

Everything declared while an entry point loads belongs to that plugin (its origin is
"distribution:entry-point"). Each entry point loads once per process and its
declarations are cached, so rebuilding the registry (tests, worker processes) is
cheap and gives the same result. Entry points load in a fixed order (group, name,
distribution).

Isolation: an entry point that fails to load (ImportError, an exception in its code,
SystemExit) contributes nothing and becomes a `Failure`; a failed `harness.backends`
entry point also leaves an unavailable placeholder backend under its name. Each
declaration that conflicts (duplicate kernel, backend or implementation, unknown
kernel or backend) becomes a `Failure` on its own, and the rest of the plugin works.

Set HARNESS_NO_PLUGINS=1 to load no plugins (to tell whether a problem comes from one).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .backends.base import Backend
from .declarations import BUILTIN, BackendDecl, Declarations, Implementation, collecting

#: kernel plugins first: a backend plugin may implement a kernel plugin's kernels,
#: but every kernel and backend is registered before any implementation anyway.
GROUPS = ("harness.kernels", "harness.backends")


@dataclass
class LoadedPlugin:
    """One entry point after loading: its declarations, or the reason it failed."""

    group: str
    name: str
    value: str
    dist: str
    decls: Declarations | None
    error: str | None = None

    @property
    def origin(self) -> str:
        return f"{self.dist}:{self.name}"


_CACHE: dict[tuple[str, str, str, str], LoadedPlugin] = {}


def disabled() -> bool:
    return os.environ.get("HARNESS_NO_PLUGINS", "").strip().lower() not in ("", "0", "false", "no")


def discover() -> list[Any]:
    """The entry points of both groups, in load order."""
    from importlib.metadata import entry_points

    found = []
    for gi, group in enumerate(GROUPS):
        for ep in entry_points(group=group):
            dist = getattr(getattr(ep, "dist", None), "name", None) or "?"
            found.append(((gi, ep.name, dist, ep.value), ep, dist))
    found.sort(key=lambda t: t[0])
    return [(ep, dist) for _, ep, dist in found]


def _load(ep: Any, dist: str) -> LoadedPlugin:
    origin = f"{dist}:{ep.name}"
    module = ep.value.split(":", 1)[0].strip()
    obj: Any = None
    try:
        with collecting(origin) as decls:
            obj = ep.load()
            if isinstance(obj, type):
                if not issubclass(obj, Backend):
                    raise TypeError(f"entry point names class {obj.__qualname__}, which is not a "
                                    f"harness Backend subclass")
            elif not isinstance(obj, ModuleType):
                if not callable(obj):
                    raise TypeError(f"entry point names a {type(obj).__name__}; it must name a "
                                    f"module, a function or a Backend subclass")
                obj()
    except (Exception, SystemExit) as exc:
        return LoadedPlugin(ep.group, ep.name, ep.value, dist, None, _reason(exc))
    # Declarations made before this load (its module imported earlier by user code)
    # belong to the plugin too, not to the built-ins.
    if module and not (module == "harness" or module.startswith("harness.")):
        early = BUILTIN.take_modules(module)
        for bucket in ("kernels", "impls", "backends"):
            for item in getattr(early, bucket):
                mod = early.modules.get(id(item), module)
                if isinstance(item, Implementation):
                    item = dataclasses.replace(item, origin=origin)
                decls._add(getattr(decls, bucket), item, mod)
    if isinstance(obj, type) and not any(b.factory is obj for b in decls.backends):
        name = getattr(obj, "name", None)
        if not isinstance(name, str) or not name:
            return LoadedPlugin(ep.group, ep.name, ep.value, dist, None,
                                f"TypeError: backend class {obj.__qualname__} has no `name`")
        decls.backends.append(BackendDecl(name, obj, getattr(obj, "description", "")))
    if not decls:
        return LoadedPlugin(ep.group, ep.name, ep.value, dist, None,
                            "the entry point declared no kernels, backends or implementations")
    return LoadedPlugin(ep.group, ep.name, ep.value, dist, decls)


def _reason(exc: BaseException) -> str:
    import traceback

    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"[:1000]


def load_plugins() -> list[LoadedPlugin]:
    """Load (or take from the cache) every entry point, in a fixed order."""
    global _LOADING
    if disabled() or _LOADING:  # a plugin that builds the registry while loading gets none
        return []
    _LOADING = True
    try:
        return _load_all()
    finally:
        _LOADING = False


_LOADING = False


def _load_all() -> list[LoadedPlugin]:
    out = []
    for ep, dist in discover():
        key = (ep.group, ep.name, ep.value, dist)
        if key not in _CACHE:
            _CACHE[key] = _load(ep, dist)
        out.append(_CACHE[key])
    return out
