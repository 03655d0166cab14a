"""PyTorch: the CPU here, plus every CUDA and MPS device present."""
from __future__ import annotations

from typing import Any

import numpy as np

from .base import Backend, BackendUnavailable, Device, PerfCounterTimer, Timer, import_or_unavailable

_TORCH_HINT = "pip install torch==<version> (CPU build) or the CUDA build for GPUs"


class CudaEventTimer(Timer):
    """CUDA events on the current stream: device time, not launch time."""

    name = "cuda_event"

    def __init__(self, events_module, synchronize):
        self._Event = events_module
        self._sync = synchronize

    def start(self) -> None:
        self._sync()
        self._a = self._Event(enable_timing=True)
        self._b = self._Event(enable_timing=True)
        self._a.record()

    def stop(self, last_output=None) -> float:
        self._b.record()
        self._b.synchronize()
        return self._a.elapsed_time(self._b) / 1e3


class TorchDevice(Device):
    backend = "torch"

    def __init__(self, torch, name: str):
        self.torch = torch
        self.name = name
        self.kind = "cpu" if name == "cpu" else "gpu"
        self._dev = torch.device(name)

    def _tdtype(self, dtype: str):
        return getattr(self.torch, dtype)

    def to_device(self, host: np.ndarray, dtype: str):
        """Always a copy, also on the CPU: torch.from_numpy shares the host memory, so a
        kernel writing into its inputs would corrupt the exact inputs the bound and every
        later backend see. The copy is part of the timed transfer (h2d_s)."""
        t = self.torch.from_numpy(np.ascontiguousarray(host))
        target = self._tdtype(dtype) if host.dtype.kind == "f" else t.dtype
        return t.to(device=self._dev, dtype=target, copy=True).contiguous()

    def to_host(self, arr: Any) -> np.ndarray:
        t = arr.detach()
        if t.dtype == self.torch.bfloat16:
            t = t.float()  # exact: every bfloat16 is a float32
        return t.cpu().numpy()

    def synchronize(self, outputs=None) -> None:
        if self.name.startswith("cuda"):
            self.torch.cuda.synchronize(self._dev)
        elif self.name == "mps":
            self.torch.mps.synchronize()

    def flush_cache(self) -> None:
        """`--cache cold`: on CUDA, zero a buffer larger than the GPU's L2 (as triton's
        do_bench does); elsewhere, the host flush."""
        if not self.name.startswith("cuda"):
            from ..cache import flush_host_cache

            flush_host_cache()
            return
        if getattr(self, "_l2_flush", None) is None:
            self._l2_flush = self.torch.empty(256 << 20, dtype=self.torch.int8, device=self._dev)
        self._l2_flush.zero_()

    def timer(self) -> Timer:
        if self.name.startswith("cuda"):
            torch = self.torch

            def ev(enable_timing=True):
                return torch.cuda.Event(enable_timing=enable_timing)

            return CudaEventTimer(ev, self.synchronize)
        return PerfCounterTimer(self.synchronize)

    @property
    def xp(self):
        import array_api_compat.torch as xp

        return xp

    def dtype_unsupported(self, dtype: str) -> str | None:
        if self.name == "mps" and dtype == "float64":
            return "MPS has no float64"
        return None

    def threads(self) -> dict[str, Any]:
        return {"torch_threads": self.torch.get_num_threads(),
                "torch_interop_threads": self.torch.get_num_interop_threads()}

    def divergence_sources(self) -> dict[str, Any]:
        t = self.torch
        d: dict[str, Any] = {
            "float32_matmul_precision": t.get_float32_matmul_precision(),
            "deterministic_algorithms": t.are_deterministic_algorithms_enabled(),
        }
        if self.name.startswith("cuda"):
            d["cuda.matmul.allow_tf32"] = t.backends.cuda.matmul.allow_tf32
            d["cudnn.allow_tf32"] = t.backends.cudnn.allow_tf32
            d["cuda.matmul.allow_fp16_reduced_precision_reduction"] = (
                t.backends.cuda.matmul.allow_fp16_reduced_precision_reduction)
        return d

    def metadata(self) -> dict[str, Any]:
        md = super().metadata()
        t = self.torch
        md["torch"] = t.__version__
        if self.name.startswith("cuda"):
            p = t.cuda.get_device_properties(self._dev)
            md.update(gpu=p.name, compute_capability=f"{p.major}.{p.minor}",
                      multiprocessors=p.multi_processor_count, memory_bytes=p.total_memory,
                      cuda=t.version.cuda, cudnn=t.backends.cudnn.version())
        else:
            md["parallel_info"] = t.__config__.parallel_info().splitlines()[:6]
        return md


class TorchBackend(Backend):
    name = "torch"
    description = "PyTorch tensors: CPU, CUDA and MPS devices"

    def _load(self):
        torch = import_or_unavailable("torch", _TORCH_HINT)
        self.torch = torch
        names = ["cpu"]
        if torch.cuda.is_available():
            names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            names.append("mps")
        return [TorchDevice(torch, n) for n in names]

    def versions(self) -> dict[str, str]:
        return {"torch": self.torch.__version__} if self.available else {}
