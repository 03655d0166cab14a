"""Machine fingerprint: what the numbers were measured on.

A free-form, nested dict (GPUs, OpenCL platforms and library versions are lists and
maps) so that new hardware never needs a schema change. `fingerprint` hashes what
makes the hardware different (CPU vendor, family/model/stepping, microarchitecture,
ISA features, cores, memory, GPUs and drivers): two CPUs that both call themselves
"AMD EPYC" get different ids. `machine_id` names the results folder and the cached
ceilings; set HARNESS_MACHINE_ID to choose it yourself.
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


#: ISA features that change speed or rounding (vector width, fused multiply-add,
#: matrix units, narrow float formats), by their /proc/cpuinfo flag names.
ISA_FEATURES = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512dq", "avx512bw", "avx512vl",
                "avx512_bf16", "avx512_fp16", "avx512_vnni", "amx_tile", "amx_bf16", "amx_int8", "amx_fp16",
                "asimd", "asimdhp", "sve", "sve2", "bf16", "i8mm")

#: AMD families and model ranges -> microarchitecture (AMD's published family/model numbers).
AMD_MICROARCH = {
    23: ((0x00, 0x2f, "zen"), (0x30, 0xff, "zen2")),
    25: ((0x00, 0x0f, "zen3"), (0x10, 0x1f, "zen4"), (0x20, 0x5f, "zen3"), (0x60, 0xaf, "zen4")),
    26: ((0x00, 0xff, "zen5"),),
}


def _cpuinfo_fields() -> dict[str, str]:
    """The first processor's block of /proc/cpuinfo (empty off Linux)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    if fields:
                        break
                    continue
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def microarchitecture(vendor: str, family: int | None, model: int | None) -> str | None:
    """A name for the core design where the family/model numbers are known, else None."""
    if vendor == "AuthenticAMD" and family in AMD_MICROARCH and model is not None:
        for lo, hi, name in AMD_MICROARCH[family]:
            if lo <= model <= hi:
                return name
    return None


def cpu_identity() -> dict[str, Any]:
    """Vendor, family/model/stepping, microarchitecture and ISA features of the CPU: what
    tells a Zen 3 from a Zen 5 when both call themselves "AMD EPYC"."""
    f = _cpuinfo_fields()
    flags = set((f.get("flags") or f.get("Features") or "").split())
    if not f:
        try:
            import cpuinfo

            ci = cpuinfo.get_cpu_info()
            f = {"model name": ci.get("brand_raw", ""), "vendor_id": ci.get("vendor_id_raw", ""),
                 "cpu family": str(ci.get("family", "")), "model": str(ci.get("model", "")),
                 "stepping": str(ci.get("stepping", ""))}
            flags = set(ci.get("flags", []))
        except Exception:
            pass

    def number(key: str) -> int | None:
        value = f.get(key, "")
        return int(value, 0) if value.strip().isdigit() or value.startswith("0x") else None

    vendor = f.get("vendor_id") or f.get("CPU implementer") or ""
    family, model = number("cpu family"), number("model")
    return {"cpu": f.get("model name") or platform.processor() or platform.machine(),
            "vendor": vendor, "family": family, "model": model, "stepping": number("stepping"),
            "microarchitecture": microarchitecture(vendor, family, model),
            "isa": [x for x in ISA_FEATURES if x in flags]}


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

    info: dict[str, Any] = {
        "hostname": platform.node(),
        **cpu_identity(),
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
    info["fingerprint"] = fingerprint(info)
    info["machine_id"] = machine_id(info)
    return info


#: The fields of machine_info that make two machines different machines.
HARDWARE_KEYS = ("vendor", "family", "model", "stepping", "microarchitecture", "isa", "arch", "cores_logical")


def hardware(info: dict[str, Any]) -> dict[str, Any]:
    """What identifies the hardware: CPU identity and ISA, cores, memory (GiB), GPUs and
    their drivers. Library versions and the hostname are not part of it."""
    hw = {k: info.get(k) for k in HARDWARE_KEYS}
    hw["memory_gib"] = round((info.get("memory_bytes") or 0) / 2**30)
    hw["gpus"] = [{"name": g.get("name"), "driver": g.get("driver")} for g in info.get("gpus", [])]
    return hw


def fingerprint(info: dict[str, Any]) -> str:
    """sha256 (16 hex digits) of `hardware(info)`: equal exactly when the hardware is."""
    import json

    return hashlib.sha256(json.dumps(hardware(info), sort_keys=True).encode()).hexdigest()[:16]


def machine_id(info: dict[str, Any] | None = None) -> str:
    env = os.environ.get("HARNESS_MACHINE_ID")
    if env:
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,80}", env) or env in {".", ".."}:
            raise ValueError(f"HARNESS_MACHINE_ID={env!r} is not a safe folder name "
                             "(letters, digits, '.', '_', '-'; at most 80 characters)")
        return env
    info = info or machine_info()
    core = info.get("microarchitecture") or (
        f"fam{info.get('family')}-model{info.get('model')}" if info.get("family") is not None else None)
    digest = info.get("fingerprint") or fingerprint(info)
    parts = [slug(info.get("cpu") or "cpu"), core, f"{info.get('cores_logical')}c", digest[:8]]
    return "-".join(p for p in parts if p)


def git_commit(cwd: str | None = None) -> str | None:
    """The commit of the checkout being measured (HARNESS_COMMIT overrides).

    The commit names the run file (OUT/<machine>/<stamp>-<commit[:8]>-<tag>.jsonl), so
    HARNESS_COMMIT must be a hash or a plain name: ValueError otherwise ('ab/cd' would
    name a folder that does not exist)."""
    env = os.environ.get("HARNESS_COMMIT")
    if env:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}", env):
            raise ValueError(f"HARNESS_COMMIT={env!r} is not a commit: give a hash (e.g. the output of "
                             f"`git rev-parse HEAD`) or a plain name of letters, digits, '.', '_', '+' or '-'")
        return env
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=cwd, timeout=10)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except Exception:
        return None
