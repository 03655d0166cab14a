"""CuPy: CUDA devices only. Where there is no usable CUDA device, the reason says so
first ("no CUDA device") when the machine has no NVIDIA GPU at all, then gives the error
CUDA itself gives (without a driver, CUDA reports "CUDA driver version is insufficient",
which reads like an upgrade would help)."""
from __future__ import annotations

import glob
from typing import Any

import numpy as np

from .base import Backend, BackendUnavailable, Device, Timer, import_or_unavailable
from .kernel_source import expand


class CupyEventTimer(Timer):
    name = "cuda_event"

    def __init__(self, cupy, device: "CupyDevice"):
        self.cp = cupy
        self.device = device

    def start(self) -> None:
        self.device.synchronize()
        with self.device.ctx():
            self._a = self.cp.cuda.Event()
            self._b = self.cp.cuda.Event()
            self._a.record()

    def stop(self, last_output=None) -> float:
        with self.device.ctx():
            self._b.record()
            self._b.synchronize()
        return self.cp.cuda.get_elapsed_time(self._a, self._b) / 1e3


class CupyDevice(Device):
    backend = "cupy"
    kind = "gpu"

    def __init__(self, cupy, index: int):
        self.cp = cupy
        self.index = index
        self.name = f"cuda:{index}"
        self._programs: dict[tuple, Any] = {}

    def ctx(self):
        return self.cp.cuda.Device(self.index)

    def to_device(self, host: np.ndarray, dtype: str):
        with self.ctx():
            return self.cp.asarray(host)

    def to_host(self, arr: Any) -> np.ndarray:
        with self.ctx():
            return self.cp.asnumpy(arr)

    def scalar(self, value: Any, dtype: str) -> Any:
        if isinstance(value, float):
            return np.dtype(dtype).type(value)
        return value

    def synchronize(self, outputs=None) -> None:
        with self.ctx():
            self.cp.cuda.Device(self.index).synchronize()

    def flush_cache(self) -> None:
        """`--cache cold`: zero a device buffer larger than the GPU's L2."""
        with self.ctx():
            if getattr(self, "_l2_flush", None) is None:
                self._l2_flush = self.cp.empty(256 << 20, dtype=self.cp.int8)
            self._l2_flush.fill(0)

    def timer(self) -> Timer:
        return CupyEventTimer(self.cp, self)

    def compile(self, source: str, **options: Any):
        """A RawModule from harness/kernels/cuda/<source>, compiled once per device and options.
        The includes are spliced in here (kernel_source.expand), not left to NVRTC: CuPy's
        kernel cache keys on the code it is given, so a header edited behind an include
        would otherwise load the stale binary."""
        key = (source, tuple(sorted(options.items())))
        if key not in self._programs:
            code = expand(f"cuda/{source}").text
            opts = tuple(f"-D{k}={v}" for k, v in sorted(options.items()))
            with self.ctx():
                self._programs[key] = self.cp.RawModule(code=code, options=opts)
        return self._programs[key]

    def dtype_unsupported(self, dtype: str) -> str | None:
        if dtype == "bfloat16":
            return "CuPy has no bfloat16 dtype"
        return None

    @property
    def xp(self):
        import array_api_compat.cupy as xp

        return xp

    def divergence_sources(self) -> dict[str, Any]:
        import os

        return {"CUPY_TF32": os.environ.get("CUPY_TF32", "0"),
                "CUPY_ACCELERATORS": os.environ.get("CUPY_ACCELERATORS", "")}

    def metadata(self) -> dict[str, Any]:
        md = super().metadata()
        rt = self.cp.cuda.runtime
        props = rt.getDeviceProperties(self.index)
        name = props["name"]
        md.update(cupy=self.cp.__version__, gpu=name.decode() if isinstance(name, bytes) else name,
                  compute_capability=f"{props['major']}.{props['minor']}",
                  multiprocessors=props["multiProcessorCount"], memory_bytes=props["totalGlobalMem"],
                  cuda_runtime=rt.runtimeGetVersion(), cuda_driver=rt.driverGetVersion())
        return md


#: CUDA runtime status for "no CUDA-capable device is detected".
CUDA_ERROR_NO_DEVICE = 100


def nvidia_device_present() -> bool:
    """Whether the kernel shows an NVIDIA GPU (its device nodes or the driver's GPU list);
    no CUDA library is loaded to find out."""
    return bool(glob.glob("/dev/nvidia[0-9]*") or glob.glob("/proc/driver/nvidia/gpus/*"))


def cuda_failure_reason(exc: BaseException) -> str:
    """The reason CuPy is unavailable: "no CUDA device" first where there is none, and
    CUDA's own message after it; CUDA's message alone where a GPU is there (then the
    driver or runtime really is the problem)."""
    cuda_says = f"{type(exc).__name__}: {exc}"
    if getattr(exc, "status", None) == CUDA_ERROR_NO_DEVICE or not nvidia_device_present():
        return f"no CUDA device (no NVIDIA GPU or driver on this machine); CUDA says: {cuda_says}"
    return cuda_says


class CupyBackend(Backend):
    name = "cupy"
    description = "CuPy arrays and RawKernels on CUDA devices"

    def _load(self):
        cp = import_or_unavailable("cupy", "pip install cupy-cuda12x (needs an NVIDIA GPU and driver)")
        try:
            n = cp.cuda.runtime.getDeviceCount()
        except Exception as exc:  # CUDARuntimeError carries CUDA's own message
            raise BackendUnavailable(cuda_failure_reason(exc)) from exc
        if n == 0:
            raise BackendUnavailable("no CUDA device found")
        self.cp = cp
        return [CupyDevice(cp, i) for i in range(n)]

    def versions(self) -> dict[str, str]:
        return {"cupy": self.cp.__version__} if self.available else {}
