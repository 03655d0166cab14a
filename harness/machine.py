"""Machine fingerprint: what the numbers were measured on.

A free-form, nested dict (GPUs, OpenCL platforms and library versions are lists and
maps) so that new hardware never needs a schema change. `machine_id` names the
results folder; set HARNESS_MACHINE_ID to choose it yourself.
"""
from __future__ import annotations

import functools
import hashlib
import os
import platform
import re
import shutil
import subprocess
from importlib import metadata
from typing import Any

LIBRARIES = ("numpy", "scipy", "pandas", "torch", "pyopencl", "pocl-binary-distribution",
             "intel-opencl-rt", "intel-cmplr-lib-rt", "tbb",
             "cupy-cuda12x", "cupy-cuda11x", "cupy", "array-api-compat", "asv", "kernel-harness")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        import cpuinfo

        return cpuinfo.get_cpu_info().get("brand_raw", "") or platform.processor()
    except Exception:
        return platform.processor() or platform.machine()


def _gpus() -> list[dict[str, Any]]:
    """NVIDIA GPUs from nvidia-smi, if present (no CUDA library is imported)."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    try:
        out = subprocess.run([smi, "--query-gpu=name,driver_version,memory.total,compute_cap",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=20).stdout
    except Exception:
        return []
    gpus = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 3:
            gpus.append({"name": parts[0], "driver": parts[1], "memory": parts[2],
                         "compute_capability": parts[3] if len(parts) > 3 else None})
    return gpus


def library_versions() -> dict[str, str]:
    """Installed versions, read from package metadata so nothing gets imported."""
    out = {}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            pass
    return out


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "machine"


@functools.lru_cache(maxsize=1)
def machine_info() -> dict[str, Any]:
    import psutil

    cpu = _cpu_model()
    info: dict[str, Any] = {
        "hostname": platform.node(),
        "cpu": cpu,
        "arch": platform.machine(),
        "cores_physical": psutil.cpu_count(logical=False),
        "cores_logical": psutil.cpu_count(logical=True),
        "affinity_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_bytes": psutil.virtual_memory().total,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "libraries": library_versions(),
        "gpus": _gpus(),
    }
    info["machine_id"] = machine_id(info)
    return info


def machine_id(info: dict[str, Any] | None = None) -> str:
    env = os.environ.get("HARNESS_MACHINE_ID")
    if env:
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,80}", env) or env in {".", ".."}:
            raise ValueError(f"HARNESS_MACHINE_ID={env!r} is not a safe folder name "
                             "(letters, digits, '.', '_', '-'; at most 80 characters)")
        return env
    info = info or machine_info()
    key = "|".join(str(info.get(k)) for k in ("cpu", "cores_logical", "arch")) + "|" + \
        str(round(info.get("memory_bytes", 0) / 2**30)) + "|" + ",".join(g["name"] for g in info.get("gpus", []))
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    return f"{slug(info.get('cpu', 'cpu'))}-{info.get('cores_logical')}c-{digest}"


def git_commit(cwd: str | None = None) -> str | None:
    """The commit of the checkout being measured (HARNESS_COMMIT overrides)."""
    env = os.environ.get("HARNESS_COMMIT")
    if env:
        return env
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=cwd, timeout=10)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except Exception:
        return None
