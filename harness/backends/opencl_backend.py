"""OpenCL through pyopencl: every platform and device found (PoCL on a CPU-only machine).

Programs are OpenCL C files under harness/kernels/cl/, compiled once per context and
build options. The element type is a build option (-DREAL=float), so one source
serves every dtype, and the options are recorded as a divergence source.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np

from .base import Backend, BackendUnavailable, Device, Timer, import_or_unavailable
from .kernel_source import Source, expand


def program_source(source: str, root: Any = None) -> Source:
    """What is compiled for `source`: the shared prelude, then harness/kernels/cl/<source>
    with its includes spliced in (kernel_source.expand: `#include "_reductions.cl"`, or
    `#include "../shared/x.h"` for device code shared with the CUDA sources)."""
    line = Source(f'#line 1 "cl/{source}"\n', ())
    return expand("cl/_prelude.cl", root) + line + expand(f"cl/{source}", root)


#: OpenCL C type per harness dtype.
CL_TYPES = {"float16": "half", "float32": "float", "float64": "double",
            "int32": "int", "int64": "long", "uint8": "uchar"}


class OpenCLEventTimer(Timer):
    """Profiling events on marker commands around the work: device time from the queue."""

    name = "opencl_event"

    def __init__(self, cl, queue):
        self.cl = cl
        self.queue = queue

    def start(self) -> None:
        self.queue.finish()
        self._a = self.cl.enqueue_marker(self.queue)

    def stop(self, last_output=None) -> float:
        b = self.cl.enqueue_marker(self.queue)
        b.wait()
        self._a.wait()
        return (b.profile.end - self._a.profile.end) * 1e-9


class Program:
    """A built program whose kernels are created once and reused (pyopencl makes a new
    kernel object on every attribute access of a Program)."""

    def __init__(self, cl, program):
        self._cl = cl
        self.program = program
        self._kernels: dict[str, Any] = {}

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        k = self._kernels.get(name)
        if k is None:
            k = self._kernels[name] = self._cl.Kernel(self.program, name)
        return k


def _slug(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


class OpenCLDevice(Device):
    backend = "opencl"

    def __init__(self, cl, platform, device, index: tuple[int, int] = (0, 0)):
        self.cl = cl
        self.index = index  # (platform, device) position, for the self-test process
        self.platform = platform
        self.device = device
        self.name = f"opencl:{_slug(platform.name)}:{_slug(device.name)}"
        self.kind = "gpu" if device.type & cl.device_type.GPU else "cpu"
        self.context = cl.Context([device])
        self.queue = cl.CommandQueue(self.context, properties=cl.command_queue_properties.PROFILING_ENABLE)
        self._programs: dict[tuple, tuple[Program, list[str], list[str]]] = {}
        #: where the kernel files are read from (None: the package's harness/kernels/)
        self.kernel_root: Any = None
        self.extensions = set(device.extensions.split())
        self.build_options: dict[str, list[str]] = {}
        self.build_notes: dict[str, list[str]] = {}

    # -- data ---------------------------------------------------------------------
    def to_device(self, host: np.ndarray, dtype: str):
        import pyopencl.array as cla

        return cla.to_device(self.queue, np.ascontiguousarray(host))

    def to_host(self, arr: Any) -> np.ndarray:
        return arr.get(queue=self.queue)

    def scalar(self, value: Any, dtype: str) -> Any:
        if isinstance(value, float):
            return np.dtype(dtype).type(value)
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            return np.int32(value)
        return value

    def empty(self, shape, dtype) -> Any:
        import pyopencl.array as cla

        return cla.empty(self.queue, shape, np.dtype(dtype))

    def synchronize(self, outputs=None) -> None:
        self.queue.finish()

    def timer(self) -> Timer:
        return OpenCLEventTimer(self.cl, self.queue)

    # -- programs -------------------------------------------------------------------
    def compile(self, source: str, dtype: str = "float32", options: tuple[str, ...] = (), **defines: Any):
        """Build harness/kernels/cl/<source> for `dtype`; cached per context, dtype and options."""
        key = (source, dtype, tuple(options), tuple(sorted(defines.items())))
        cached = self._programs.get(key)
        if cached is None:
            text = program_source(source, self.kernel_root).text
            opts = [f"-DREAL={CL_TYPES[dtype]}", *options]
            if dtype == "float64":
                opts.append("-DREAL_IS_DOUBLE=1")
            if dtype == "float16":
                opts.append("-DREAL_IS_HALF=1")
            opts += [f"-D{k}={v}" for k, v in sorted(defines.items())]
            import warnings

            # PoCL prints harmless notes on success; keep them as data, not console noise.
            with warnings.catch_warnings(record=True) as notes:
                warnings.simplefilter("always", self.cl.CompilerWarning)
                built = self.cl.Program(self.context, text).build(options=opts)
            from .opencl_selftest import kernel_names

            if not kernel_names(built):  # a compiler that fails silently (PoCL on an unknown CPU)
                raise RuntimeError(f"building {source} with {' '.join(opts)} on {self.name} gave a "
                                   "program without kernels")
            cached = self._programs[key] = (Program(self.cl, built), opts,
                                            [str(n.message)[:500] for n in notes])
        prg, opts, notes = cached
        # A cache hit too: the case being run now is the one these fields describe.
        self.build_options[source] = opts
        if notes:
            self.build_notes[source] = notes
        else:
            self.build_notes.pop(source, None)
        return prg

    def launch(self, kernel, global_size: tuple[int, ...], local_size: tuple[int, ...] | None, *args):
        """Enqueue with the global size rounded up to a multiple of the local size."""
        if local_size is not None:
            global_size = tuple(-(-g // l) * l for g, l in zip(global_size, local_size))
        return kernel(self.queue, global_size, local_size, *args)

    @property
    def max_work_group_size(self) -> int:
        return int(self.device.max_work_group_size)

    def dtype_unsupported(self, dtype: str) -> str | None:
        if dtype == "bfloat16":
            return "OpenCL C has no bfloat16 type"
        if dtype == "float64" and "cl_khr_fp64" not in self.extensions:
            return f"{self.device.name} lacks cl_khr_fp64"
        if dtype == "float16" and "cl_khr_fp16" not in self.extensions:
            return f"{self.device.name} lacks cl_khr_fp16"
        return None

    def divergence_sources(self) -> dict[str, Any]:
        return {"build_options": dict(self.build_options), "build_notes": dict(self.build_notes),
                "fp_contract": "OpenCL default (FP_CONTRACT on)"}

    def metadata(self) -> dict[str, Any]:
        md = super().metadata()
        d = self.device
        md.update(platform=self.platform.name, platform_version=self.platform.version,
                  device_name=d.name, device_version=d.version, driver_version=d.driver_version,
                  compute_units=d.max_compute_units, max_work_group_size=d.max_work_group_size,
                  local_mem_bytes=d.local_mem_size, global_mem_bytes=d.global_mem_size,
                  max_clock_mhz=d.max_clock_frequency,
                  fp64="cl_khr_fp64" in self.extensions, fp16="cl_khr_fp16" in self.extensions)
        return md


class OpenCLBackend(Backend):
    name = "opencl"
    description = "OpenCL C kernels through pyopencl: PoCL and Intel's CPU runtime, and any driver installed"

    def _load(self):
        from .opencl_icd import prepare_icd_loader

        prepare_icd_loader()  # before pyopencl's first call to the loader
        cl = import_or_unavailable("pyopencl", "pip install pyopencl pocl-binary-distribution intel-opencl-rt")
        try:
            platforms = cl.get_platforms()
        except Exception as exc:
            raise BackendUnavailable(f"no OpenCL platform: {exc}") from exc
        self.cl = cl
        devices = []
        for pi, p in enumerate(platforms):
            try:
                devs = p.get_devices()
            except Exception:
                continue
            devices += [OpenCLDevice(cl, p, d, index=(pi, di)) for di, d in enumerate(devs)]
        if not devices:
            raise BackendUnavailable("OpenCL platforms found but no devices")
        return devices

    def _self_tested(self, listed: list[Device]) -> tuple[list[Device], dict[str, str]]:
        """Every device's self-test in a child process of its own, all at once (see
        opencl_selftest: a driver that cannot build for this CPU may crash instead of
        failing). Only a pass from a process that exited cleanly counts."""
        from .opencl_selftest import run_in_child

        verdicts = run_in_child([d.index for d in listed])
        usable = [d for d, v in zip(listed, verdicts) if v is None]
        working = [d.name for d in usable]
        unusable = {d.name: f"self-test failed: {v}; {self._remedy(d, working)}"
                    for d, v in zip(listed, verdicts) if v is not None}
        return usable, unusable

    def _remedy(self, device: Device, working: list[str]) -> str:
        """What to do about an unusable device, naming the OpenCL devices that do work."""
        platform = getattr(device, "platform", None)
        pocl = platform is not None and "Portable Computing Language" in platform.name
        if pocl:
            llvm = re.search(r"LLVM [0-9.]+", platform.version)
            why = (f"{platform.version.split(' Linux')[0].strip()}"
                   f"{' (' + llvm.group(0) + ')' if llvm else ''} cannot generate code for this CPU, "
                   "which its LLVM predates")
        else:
            why = "this OpenCL driver cannot build or run programs here"
        if working:
            return f"remedy: {why}; the other OpenCL device(s) work: {', '.join(working)}"
        return (f"remedy: {why}; install Intel's CPU runtime (pip install intel-opencl-rt "
                "intel-cmplr-lib-rt, part of .[opencl]) or a newer OpenCL driver")

    def versions(self) -> dict[str, str]:
        if not self.available:
            return {}
        return {"pyopencl": self.cl.VERSION_TEXT,
                "platforms": "; ".join(f"{p.name} {p.version}" for p in self.cl.get_platforms())}
