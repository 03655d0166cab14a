"""The asv benchmark grid, generated from the harness registry.

One asv class per kernel and benchmark kind; its parameters are
kernel × implementation × dtype × size, where an implementation is labelled
"impl@backend" ("array_api@torch"), or just the backend's name when the
implementation is named after its backend ("numpy"); labels are parsed by
harness.asv_bridge.parse_label, the one parser the importer shares. A new kernel, backend or
implementation therefore shows up in asv without touching benchmarks/.

Why the grid can be "frozen": asv discovers the benchmarks once (at the newest
commit of a range) and then names every parameter combination by its index in
the product of the parameter lists. A benchmark process for an older commit
imports that commit's harness, whose registry may lack a kernel or an
implementation; rebuilding the lists from it would shift the indices and file
numbers under the wrong case. So when asv runs a benchmark, the lists are read
back from the benchmarks.json that asv wrote at discovery, and a case that does
not exist at the installed commit is skipped, not misplaced. Reading the frozen
grid needs no harness import, which keeps skipped and accuracy benchmarks cheap.

Presets (environment variable HARNESS_ASV_PRESET) choose the suite; the preset's name
is part of every benchmark's asv `version`, so results of two presets never share a
history:
  default  every kernel on every backend, with one implementation per backend (the
           one named after it), float32, the middle "quick" size: bounded, because
           asv starts a process per case and a torch process alone takes seconds
  quick    every implementation, float32 and float64, every "quick" size
  full     every implementation and dtype of the kernel, every "full" size
Narrowing a run is asv's own: `asv run -b REGEX` matches "name(kernel, impl, dtype,
size)" per parameter combination and leaves benchmarks.json whole (docs/asv.md).

A backend whose library is not installed in the benchmark environment (cupy in the
CPU matrix) is left out of the grid, found with importlib.util.find_spec without
importing anything; one whose library is installed but unusable (cupy without a
GPU) stays in the grid and is skipped through asv's skip mechanism.
"""
from __future__ import annotations

import ast
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable

PRESETS = ("default", "quick", "full")
PRESET_DTYPES = {"default": ("float32",), "quick": ("float32", "float64")}
#: The Python package a backend needs, where it is not the backend's own name.
BACKEND_LIBRARIES = {"opencl": "pyopencl"}
#: Backends whose arrays live in host memory, where a process's peak RSS measures
#: the kernel's footprint (device memory is invisible to RSS, and torch's or an
#: OpenCL driver's import dwarfs the arrays).
PEAKMEM_BACKENDS = ("numpy",)
#: Bumped when what a benchmark measures changes; asv starts a new history then.
GRID_VERSION = "2"
#: Bumped when what one kind measures changes, leaving the other kinds' histories
#: whole: time ".1" is the device's own Timer as asv's clock (DeviceClock).
KIND_VERSIONS = {"time": ".1"}


class GridError(ValueError):
    """A bad HARNESS_ASV_* setting: raised at import so asv reports it at discovery."""


def preset() -> str:
    name = os.environ.get("HARNESS_ASV_PRESET", "default").strip() or "default"
    if name not in PRESETS:
        raise GridError(f"HARNESS_ASV_PRESET={name!r} is not a preset; valid presets: {', '.join(PRESETS)}")
    return name


def impl_label(impl: str, backend: str) -> str:
    """The parameter naming an implementation; harness.asv_bridge.parse_label reads it
    back (kept here because discovery may run at a commit whose harness predates it)."""
    return impl if impl == backend else f"{impl}@{backend}"


def benchmark_version(kind: str = "") -> str:
    """asv's `version` of every benchmark of a kind: what is measured (GRID_VERSION, and
    the kind's own bumps) and the suite (the preset), so that switching presets starts a
    new history instead of mixing grids."""
    return f"{GRID_VERSION}{KIND_VERSIONS.get(kind, '')}-{preset()}"


def class_stem(kernel: str) -> str:
    """CamelCase class-name stem of a kernel name: "nbody_energy" -> "NbodyEnergy"."""
    stem = "".join(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]+", kernel) if p)
    return stem if stem and not stem[0].isdigit() else f"K{stem}"


def library_missing(backend: str) -> bool:
    """True when the backend's library is certainly not installed (nothing is imported)."""
    import importlib.util

    from harness.backends import BUILTIN_BACKENDS

    if backend not in BUILTIN_BACKENDS and backend not in BACKEND_LIBRARIES:
        return False  # a plugin's library is unknown here: let its probe decide
    library = BACKEND_LIBRARIES.get(backend, backend)
    try:
        return importlib.util.find_spec(library) is None
    except (ImportError, ValueError):
        return True


def _one_per_backend(impls) -> list:
    """The implementation named after its backend, else the first by name."""
    chosen: dict[str, object] = {}
    for impl in sorted(impls, key=lambda i: (i.name != i.backend, i.name)):
        chosen.setdefault(impl.backend, impl)
    return list(chosen.values())


def _sizes(spec, name: str) -> list[int]:
    sizes = spec.sizes
    if name == "full":
        chosen = list(sizes.get("full") or sizes.get("quick") or ())
    else:
        chosen = list(sizes.get("quick") or sizes.get("full") or ())
        if name == "default" and chosen:
            chosen = [chosen[len(chosen) // 2]]
    return [int(s) for s in chosen if int(s) >= getattr(spec, "min_size", 1)]


def live_grid() -> dict[str, dict[str, list]]:
    """kernel -> {"implementations", "dtypes", "sizes"} from the installed harness."""
    from harness.registry import get_registry

    reg = get_registry()
    name = preset()
    missing = {b for b in reg.backend_names if library_missing(b)}
    grid: dict[str, dict[str, list]] = {}
    for kernel in sorted(reg.kernels):
        spec = reg.kernels[kernel]
        impls = [i for i in reg.implementations(kernel) if i.backend not in missing]
        if name == "default":
            impls = _one_per_backend(impls)
        labels = sorted(impl_label(i.name, i.backend) for i in impls)
        dtypes = list(spec.dtypes) if name == "full" else [d for d in PRESET_DTYPES[name] if d in spec.dtypes]
        sizes = _sizes(spec, name)
        if labels and dtypes and sizes:
            grid[kernel] = {"implementations": labels, "dtypes": dtypes, "sizes": sizes}
    stems = [class_stem(k) for k in grid]
    if len(set(stems)) != len(stems):
        raise GridError(f"kernel names {sorted(grid)} give clashing asv class names {stems}")
    return grid


# -- the grid asv discovered -----------------------------------------------------------
#: asv_runner commands that run benchmarks (discover and check must see the live grid).
RUN_MODES = ("run", "setup_cache", "run_server")


def asv_runner_mode() -> str | None:
    """The command of asv's benchmark runner when this process is one, else None.

    asv starts every benchmark process as `python <asv>/benchmark.py MODE ...`, a script
    whose `commands` table maps the modes to asv_runner; only such a process is taken as
    asv's, so nothing else that imports benchmarks/ (tests, tools) ever reads a frozen grid.
    """
    main = sys.modules.get("__main__")
    path = Path(getattr(main, "__file__", None) or "")
    commands = getattr(main, "commands", None)
    if path.name != "benchmark.py" or path.parent.name != "asv" or not isinstance(commands, dict):
        return None
    return sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] in commands else None


def _read_conf(conf: Path) -> dict[str, Any]:
    text = "\n".join(line for line in conf.read_text(encoding="utf-8").splitlines()
                     if not line.lstrip().startswith("//"))
    data = json.loads(text)
    return data if isinstance(data, dict) else {}


def _benchmarks_json() -> Path | None:
    """The benchmarks.json of the asv config this run uses.

    asv tells a benchmark process its working directory (ASV_CONF_DIR) and its
    environment's folder (ASV_ENV_DIR, under the config's env_dir), not the config
    file: the config is the asv*.conf.json whose env_dir holds ASV_ENV_DIR, else the
    only one there. Only with several configs and an existing environment
    (--python=same, no ASV_ENV_DIR) is the benchmarks.json written last taken (asv
    writes it right after discovery, before running anything).
    """
    conf_dir = os.environ.get("ASV_CONF_DIR")
    if not conf_dir:
        return None
    env_dir = os.environ.get("ASV_ENV_DIR")
    found: list[tuple[bool, Path]] = []
    for conf in sorted(Path(conf_dir).glob("asv*.conf.json")):
        try:
            data = _read_conf(conf)
        except (OSError, ValueError):
            continue
        path = Path(conf_dir) / str(data.get("results_dir", "results")) / "benchmarks.json"
        envs = (Path(conf_dir) / str(data.get("env_dir", "env"))).resolve()
        owns = bool(env_dir) and envs in Path(env_dir).resolve().parents
        if path.is_file():
            found.append((owns, path))
    mine = [p for owns, p in found if owns]
    if mine or len(found) == 1:
        return (mine or [found[0][1]])[0]
    return max((p for _, p in found), key=lambda p: p.stat().st_mtime) if found else None


def frozen_benchmarks(module: str) -> dict[str, list[list[Any]]] | None:
    """{class name: params} of `module` as asv discovered them, when asv is running
    benchmarks (not discovering or checking them); None otherwise."""
    if asv_runner_mode() not in RUN_MODES:
        return None
    path = _benchmarks_json()
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    out: dict[str, list[list[Any]]] = {}
    for name, bench in data.items():
        if not isinstance(bench, dict) or not name.startswith(module + "."):
            continue
        parts = name.split(".")
        if len(parts) != 3:
            continue
        try:
            out[parts[1]] = [[ast.literal_eval(v) for v in values] for values in bench.get("params", [])]
        except (ValueError, SyntaxError):
            continue
    return out or None


# -- building the classes ----------------------------------------------------------------
PARAM_NAMES = ["kernel", "implementation", "dtype", "size"]


def make_classes(module: str, base: type, suffix: str,
                 select: Callable[[str, dict[str, list]], dict[str, list] | None] = lambda k, g: g) -> dict[str, type]:
    """One subclass of `base` per kernel, named <Kernel><suffix>, with its parameters.

    `select(kernel, grid_entry)` may narrow an entry (peak memory keeps host-memory
    backends and the largest size) or drop the kernel by returning None.
    """
    relative = module.split(".", 1)[-1]  # asv names benchmarks relative to benchmark_dir
    frozen = frozen_benchmarks(relative)
    classes: dict[str, type] = {}
    if frozen is not None:
        for cls_name, params in frozen.items():
            if cls_name.endswith(suffix) and len(params) == len(PARAM_NAMES):
                classes[cls_name] = type(cls_name, (base,), {"params": params, "param_names": list(PARAM_NAMES),
                                                             "__module__": module})
        return classes
    for kernel, entry in live_grid().items():
        entry = select(kernel, entry)
        if not entry or not all(entry.values()):
            continue
        cls_name = class_stem(kernel) + suffix
        params = [[kernel], list(entry["implementations"]), list(entry["dtypes"]), list(entry["sizes"])]
        classes[cls_name] = type(cls_name, (base,), {
            "params": params, "param_names": list(PARAM_NAMES),
            "__doc__": f"{base.__doc__.strip().splitlines()[0]} Kernel: {kernel}.",
            "__module__": module})
    return classes


def host_memory_only(kernel: str, entry: dict[str, list]) -> dict[str, list] | None:
    from harness.asv_bridge import parse_label

    labels = [lab for lab in entry["implementations"] if parse_label(lab)[1] in PEAKMEM_BACKENDS]
    if not labels:
        return None
    return {"implementations": labels, "dtypes": entry["dtypes"], "sizes": [max(entry["sizes"])]}


def timing_attrs() -> dict[str, Any]:
    """asv's sampling settings per preset. Two rounds at least: asv interleaves the
    rounds of different benchmarks, so drift in machine load is spread over all."""
    if preset() == "full":
        return {"rounds": 3, "repeat": (10, 100, 2.0), "timeout": 900}
    return {"rounds": 2, "repeat": (5, 25, 0.5), "timeout": 300}
