"""The machine's ceilings: memory bandwidth and peak FLOP/s per backend device.

Measured once by `harness machine` and cached in results/<machine_id>/machine.json,
beside the machine's results, so the ceilings travel with the committed records they
judge. Format (version 1):

    {"kind": "machine", "version": 1, "machine_id": ..., "measured_at": ISO time,
     "mode": "full" | "quick", "machine": {machine_info()},
     "ceilings": {"<backend>/<device>": {
         "backend", "device", "kind": "cpu" | "gpu",
         "copy_gbps", "triad_gbps",                   # STREAM copy b=a, triad a=b+s*c
         "peak_gflops": {"float32": x, "float64": y},  # best large matmul
         "matmul_n": {dtype: n}, "stream_elements": n, "error": text (only if failed)}},
     "roofline": {"<backend>/<device>": {"bandwidth_gbps", "peak_gflops": {dtype: x},
                                         "bandwidth_from", "peak_from": {dtype: key}}}}

Keys are "<backend>/<device>" with the device named exactly as records name it
("numpy/cpu", "torch/cpu", "opencl/opencl:Portable Computing Language:pthread-AMD EPYC",
"torch/cuda:0", "cupy/cuda:0"); "/" never occurs in a backend name.

`ceilings` holds what each backend itself reaches. `roofline` holds the limits a
record is judged against: for a GPU its own ceilings, for a CPU device the best over
all CPU devices of the machine (NumPy, torch and PoCL share the same cores and memory,
so the hardware's limit is the best any of them reaches, not what a slow runtime gets).

Bandwidth is STREAM-style (McCalpin): the nominal bytes of copy (2 arrays) and triad
(3 arrays) over the best of several runs on arrays far larger than the last-level
cache. NumPy has no fused triad, so its triad is two passes counted at STREAM's
nominal bytes, as other STREAM ports do. Peak FLOP/s is 2n³ over the best time of the
backend's own matmul (BLAS for NumPy and torch, the tuned kernel for OpenCL), with n
grown until one call lasts long enough to reach steady state.
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

VERSION = 1
CACHE_NAME = "machine.json"
DTYPES = ("float32", "float64")


def ceiling_key(backend: str, device: str) -> str:
    return f"{backend}/{device}"


def results_dir(path: str | os.PathLike | None = None) -> Path:
    """Where results (and so the ceilings) live: the argument, else $HARNESS_RESULTS_DIR,
    else ./results."""
    return Path(path if path is not None else os.environ.get("HARNESS_RESULTS_DIR") or "results")


def cache_path(path: str | os.PathLike | None = None, machine_id: str | None = None) -> Path:
    if machine_id is None:
        from .machine import machine_info

        machine_id = machine_info()["machine_id"]
    return results_dir(path) / machine_id / CACHE_NAME


def read_machine_file(p: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("ceilings"), dict):
        return None
    return data


def load_machine(path: str | os.PathLike | None = None, machine_id: str | None = None) -> dict[str, Any] | None:
    """The cached machine.json, or None if there is none (or it is unreadable). Without a
    `machine_id` it is this machine's, and a file measured on other hardware (another
    fingerprint, e.g. a second CPU under the same HARNESS_MACHINE_ID) is not used: its
    ceilings would put another CPU's roofline on this one's cases."""
    data = read_machine_file(cache_path(path, machine_id))
    if data is not None and machine_id is None and foreign_fingerprint(data) is not None:
        return None
    return data


def foreign_fingerprint(data: dict[str, Any]) -> str | None:
    """The fingerprint recorded in a machine.json when it is not this machine's, else None.
    Files from before fingerprints were recorded count as another machine's."""
    from .machine import machine_info

    theirs = (data.get("machine") or {}).get("fingerprint")
    return None if theirs == machine_info()["fingerprint"] else str(theirs or "none recorded")


#: machine.json per results folder, loaded once per process (machine_ceilings).
_machine_cache: dict[str, dict[str, Any] | None] = {}


def set_results_dir(path: str | os.PathLike) -> None:
    """Look for the ceilings under this results folder (`harness run --out`). Set in the
    environment so spawned worker processes look there too."""
    os.environ["HARNESS_RESULTS_DIR"] = str(path)
    reset_machine_cache()


def reset_machine_cache() -> None:
    """Forget the loaded ceilings: after a re-measure the next case reads the new file."""
    _machine_cache.clear()


def machine_ceilings() -> dict[str, Any] | None:
    """The cached machine.json of this machine, loaded once per process: from
    $HARNESS_RESULTS_DIR (set_results_dir) if it has one, else from ./results."""
    where = os.environ.get("HARNESS_RESULTS_DIR") or ""
    if where not in _machine_cache:
        found = None
        for folder in dict.fromkeys([where or "results", "results"]):
            try:
                found = load_machine(folder)
            except Exception:  # e.g. a bad HARNESS_MACHINE_ID: no roofline rather than a failed case
                found = None
            if found is not None:
                break
        _machine_cache[where] = found
    return _machine_cache[where]


class ForeignMachineFile(ValueError):
    """A command was about to write into results that belong to other hardware."""


def check_folder_owner(folder: Path) -> None:
    """Raise ForeignMachineFile when `folder` (results/<machine_id>) holds a machine.json
    measured on other hardware: no command writes into another machine's results."""
    data = read_machine_file(folder / CACHE_NAME)
    theirs = foreign_fingerprint(data) if data is not None else None
    if theirs is not None:
        from .machine import machine_info

        raise ForeignMachineFile(
            f"{folder} belongs to another machine (fingerprint {theirs}, this one is "
            f"{machine_info()['fingerprint']}); set HARNESS_MACHINE_ID to a name of this machine's own")


# --- measuring ---------------------------------------------------------------------------


def _best(fn: Callable[[], Any], device: Any, reps: int) -> float:
    """Best device time of `reps` synchronised calls after one warm-up."""
    fn()
    device.synchronize()
    timer = device.timer()
    best = math.inf
    for _ in range(reps):
        timer.start()
        fn()
        best = min(best, timer.stop())
    return best


def _stream_ops(device: Any, n: int, dtype: str):
    """(copy, triad) closures on three device arrays of n elements, in the backend's own
    idiom: the fastest way that backend has to do each (OpenCL: also the element count
    actually streamed, whole work-groups only)."""
    rng = np.random.default_rng(0)
    host = [rng.standard_normal(n).astype(dtype) for _ in range(3)]
    ops = _STREAM_OPS.get(device.backend)
    if ops is None:
        raise NotImplementedError(f"no STREAM kernels for backend {device.backend!r}")
    return ops(device, host, 3.0)


def _numpy_stream(device: Any, host: list[np.ndarray], s: float):
    a, b, c = (h.copy() for h in host)

    def copy():
        np.copyto(b, a)

    def triad():  # two passes; counted at STREAM's nominal 3 arrays
        np.multiply(c, s, out=a)
        np.add(a, b, out=a)

    return copy, triad


def _torch_stream(device: Any, host: list[np.ndarray], s: float):
    a, b, c = (device.to_device(h, str(h.dtype)) for h in host)
    torch = device.torch

    def copy():
        b.copy_(a)

    def triad():
        torch.add(b, c, alpha=s, out=a)

    return copy, triad


def _cupy_stream(device: Any, host: list[np.ndarray], s: float):
    cp = device.cp
    with device.ctx():
        a, b, c = (cp.asarray(h) for h in host)
        kern = cp.ElementwiseKernel("T b, T c, T s", "T a", "a = b + s * c", "harness_triad")

    def copy():
        with device.ctx():
            cp.copyto(b, a)

    def triad():
        with device.ctx():
            kern(b, c, a.dtype.type(s), a)

    return copy, triad


def _opencl_stream(device: Any, host: list[np.ndarray], s: float):
    """Vector copy and triad kernels: a cache line per work-item, work-groups sized from
    the device as the harness's own streaming kernels are."""
    from .kernels._common import vector_width, work_group_1d

    dtype = str(host[0].dtype)
    vw = vector_width(dtype)
    prg = device.compile("stream.cl", dtype=dtype, VW=vw)
    k_copy, k_triad = prg.stream_copy, prg.stream_triad
    a, b, c = (device.to_device(h, dtype) for h in host)
    items = host[0].size // vw
    local = work_group_1d(device, items, k_copy)
    items -= items % local  # whole groups only: no bounds test in the kernels
    scalar = np.dtype(dtype).type(s)

    def copy():
        k_copy(device.queue, (items,), (local,), a.data, b.data)

    def triad():
        k_triad(device.queue, (items,), (local,), scalar, a.data, b.data, c.data)

    return copy, triad, items * vw


#: STREAM copy and triad per backend: (device, three host arrays, triad scalar) -> ops.
_STREAM_OPS = {"numpy": _numpy_stream, "torch": _torch_stream, "opencl": _opencl_stream, "cupy": _cupy_stream}


def measure_bandwidth(device: Any, quick: bool = False) -> dict[str, Any]:
    n = (1 << 20) if quick else ((1 << 25) if device.kind == "gpu" else (1 << 23))
    reps = 2 if quick else 5
    dtype = "float64" if not device.dtype_unsupported("float64") else "float32"
    ops = _stream_ops(device, n, dtype)
    if len(ops) == 3:
        copy, triad, n = ops
    else:
        copy, triad = ops
    item = np.dtype(dtype).itemsize
    t_copy = _best(copy, device, reps)
    t_triad = _best(triad, device, reps)
    return {"copy_gbps": 2 * n * item / t_copy / 1e9, "triad_gbps": 3 * n * item / t_triad / 1e9,
            "stream_elements": n, "stream_dtype": dtype}


def _matmul_impl(registry: Any, backend: str):
    impls = {i.name: i for i in registry.implementations("matmul", backend)}
    impl = impls.get(backend) or impls.get("array_api")
    if impl is None:
        raise ValueError(f"no matmul implementation for backend {backend!r}")
    return impl


def measure_peak(device: Any, registry: Any, dtype: str, quick: bool = False) -> tuple[float, int]:
    """(GFLOP/s, n) of the backend's matmul at its fastest n, n doubled from 256 until a
    call takes ≥ 50 ms (steady state) or n reaches its cap. The best n, not the last:
    a kernel blocked for one cache level can fall off at the largest n (Intel's OpenCL
    runs the tuned matmul at 77 GFLOP/s at n=1024 and 25 at n=2048), and a ceiling
    below what a case reaches would give roofline fractions above 1."""
    impl = _matmul_impl(registry, device.backend)
    cap = 256 if quick else (8192 if device.kind == "gpu" else 2048)
    reps = 2 if quick else 3
    rng = np.random.default_rng(0)
    n, best = 256, (0.0, 256)
    while True:
        A = device.to_device(rng.standard_normal((n, n)).astype(dtype), dtype)
        B = device.to_device(rng.standard_normal((n, n)).astype(dtype), dtype)
        impl.fn(device, A=A, B=B)  # untimed: a JIT runtime (Intel's OpenCL) compiles on the first call
        device.synchronize()
        t = _best(lambda: impl.fn(device, A=A, B=B), device, reps)
        best = max(best, (2.0 * n ** 3 / t / 1e9, n))
        if t >= 0.05 or n >= cap:
            return best
        n *= 2


def measure_device(device: Any, registry: Any, quick: bool = False) -> dict[str, Any]:
    entry: dict[str, Any] = {"backend": device.backend, "device": device.name, "kind": device.kind,
                             "copy_gbps": None, "triad_gbps": None, "peak_gflops": {}, "matmul_n": {}}
    errors = []
    try:
        entry.update(measure_bandwidth(device, quick))
    except NotImplementedError as exc:  # a plugin backend: not an error
        entry["note"] = f"{exc}" + ("; its roofline uses the best CPU bandwidth" if device.kind == "cpu" else "")
    except Exception as exc:  # a device that cannot stream still gets its peak measured
        errors.append(f"bandwidth: {type(exc).__name__}: {exc}")
    for dtype in DTYPES:
        if device.dtype_unsupported(dtype):
            continue
        try:
            gflops, n = measure_peak(device, registry, dtype, quick)
            entry["peak_gflops"][dtype] = gflops
            entry["matmul_n"][dtype] = n
        except Exception as exc:
            errors.append(f"peak {dtype}: {type(exc).__name__}: {exc}")
    if errors:
        entry["error"] = "; ".join(errors)[:2000]
    return entry


def roofline_limits(ceilings: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per device, the limits records are judged against (see the module docstring)."""
    def best_of(keys, get):
        vals = [(get(ceilings[k]), k) for k in keys]
        vals = [(v, k) for v, k in vals if isinstance(v, (int, float)) and math.isfinite(v) and v > 0]
        return max(vals) if vals else (None, None)

    cpu_keys = [k for k, c in ceilings.items() if c.get("kind") == "cpu"]
    out = {}
    for key, c in ceilings.items():
        pool = cpu_keys if c.get("kind") == "cpu" else [key]
        bw, bw_from = best_of(pool, lambda e: max([v for v in (e.get("copy_gbps"), e.get("triad_gbps"))
                                                   if isinstance(v, (int, float))], default=None))
        peaks, peak_from = {}, {}
        for dtype in DTYPES:
            p, src = best_of(pool, lambda e: (e.get("peak_gflops") or {}).get(dtype))
            if p is not None:
                peaks[dtype], peak_from[dtype] = p, src
        out[key] = {"bandwidth_gbps": bw, "bandwidth_from": bw_from, "peak_gflops": peaks, "peak_from": peak_from}
    return out


def measure_ceilings(registry: Any = None, backends: list[str] | None = None, quick: bool = False,
                     progress: Callable[[str], None] | None = None) -> dict[str, dict[str, Any]]:
    """Measure every available device of the given backends (default: all)."""
    from .registry import get_registry

    registry = registry or get_registry()
    out = {}
    for b in backends or registry.backend_names:
        backend = registry.backend(b)
        if not backend.probe()[0]:
            continue
        for device in backend.devices():
            if progress:
                progress(f"{b}/{device.name}")
            out[ceiling_key(b, device.name)] = measure_device(device, registry, quick)
    return out


def measure_machine(path: str | os.PathLike | None = None, refresh: bool = False, quick: bool = False,
                    backends: list[str] | None = None,
                    progress: Callable[[str], None] | None = None) -> tuple[dict[str, Any], bool]:
    """(machine.json contents, whether they were measured now). The cache is reused
    unless `refresh`; a quick measurement never replaces a full one silently."""
    from .machine import machine_info
    from .record import now_iso, to_json_safe

    info = machine_info()
    p = cache_path(path, info["machine_id"])
    check_folder_owner(p.parent)
    cached = load_machine(path)
    if cached is not None and not refresh and (quick or cached.get("mode") != "quick"):
        return cached, False
    t0 = time.perf_counter()
    ceilings = measure_ceilings(backends=backends, quick=quick, progress=progress)
    data = {"kind": "machine", "version": VERSION, "machine_id": info["machine_id"], "measured_at": now_iso(),
            "mode": "quick" if quick else "full", "measure_s": round(time.perf_counter() - t0, 2),
            "machine": info, "ceilings": ceilings, "roofline": roofline_limits(ceilings)}
    data = to_json_safe(data)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, p)  # atomic: a reader never sees half a file
    reset_machine_cache()
    return data, True


def header_fields(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """What a run header's "machine" gets from the cache: {"ceilings", "roofline",
    "ceilings_measured_at", "ceilings_mode"}, or {} when `harness machine` has not run.
    Looks in `path` (the run's --out), then ./results."""
    for folder in dict.fromkeys([str(results_dir(path)), "results"]):
        try:
            data = load_machine(folder)
        except ValueError:
            data = None
        if data is not None:
            return {"ceilings": data["ceilings"], "roofline": data.get("roofline") or roofline_limits(data["ceilings"]),
                    "ceilings_measured_at": data.get("measured_at"), "ceilings_mode": data.get("mode")}
    return {}
