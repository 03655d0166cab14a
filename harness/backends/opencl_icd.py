"""Make the OpenCL implementations installed from the package registry visible to pyopencl.

pyopencl's wheel carries the ocl-icd loader and PoCL. A second implementation, Intel's
CPU runtime (`intel-opencl-rt`, with libimf/libsvml/libirng/libintlc from
`intel-cmplr-lib-rt` and libtbb from `tbb`), installs its library into the
environment's `lib/` folder, but the vendor file it ships names a path from Intel's
build machine, so the loader never finds it. This module writes a vendors folder of
its own — the vendor files the loader would read anyway, plus one naming Intel's
library by absolute path — and points `OCL_ICD_VENDORS` at it, before pyopencl talks
to the loader. The libraries Intel's runtime needs are loaded first, from the
distributions that installed them, so it works wherever pip put each of them.

Nobody has to set a variable by hand; a user's own `OCL_ICD_VENDORS` is kept (its
vendor files are copied into the folder), and nothing is done when Intel's runtime
is not installed.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
from importlib import metadata
from pathlib import Path
from typing import Any

#: The distribution that holds Intel's OpenCL CPU driver, and the driver's file name.
INTEL_DIST, INTEL_LIB = "intel-opencl-rt", "libintelocl.so"
#: Libraries the driver links against, by distribution (loaded before the driver).
INTEL_DEPENDENCIES = {"tbb": ("libtbb.so.12",),
                      "intel-cmplr-lib-rt": ("libimf.so", "libsvml.so", "libirng.so", "libintlc.so.5")}
SYSTEM_VENDORS = Path("/etc/OpenCL/vendors")

_prepared: dict[str, Any] | None = None


def installed_file(dist: str, name: str) -> Path | None:
    """Absolute path of file `name` installed by distribution `dist`, if it is there."""
    try:
        distribution = metadata.distribution(dist)
    except metadata.PackageNotFoundError:
        return None
    for f in distribution.files or []:
        if f.name == name:
            path = Path(str(distribution.locate_file(f))).resolve()
            if path.is_file():
                return path
    return None


def existing_vendor_files() -> list[Path]:
    """The vendor files the loader would read without us: the user's OCL_ICD_VENDORS
    (a folder or one file) or the system folder."""
    configured = os.environ.get("OCL_ICD_VENDORS")
    where = Path(configured) if configured else SYSTEM_VENDORS
    if where.is_file():
        return [where]
    if where.is_dir():
        return sorted(p for p in where.iterdir() if p.suffix == ".icd" and p.is_file())
    return []


def write_vendors_folder(entries: dict[str, str], root: Path) -> Path:
    """A folder holding one `<name>.icd` per entry (each the path of a driver library),
    named by the hash of its contents so that concurrent processes agree on it and a
    changed installation gets a new one."""
    digest = hashlib.sha256(repr(sorted(entries.items())).encode()).hexdigest()[:12]
    folder = root / f"opencl-vendors-{digest}"
    folder.mkdir(parents=True, exist_ok=True)
    for name, library in entries.items():
        target = folder / f"{name}.icd"
        if not target.is_file() or target.read_text().strip() != library:
            tmp = folder / f".{name}.{os.getpid()}.tmp"
            tmp.write_text(library + "\n")
            os.replace(tmp, target)
    return folder


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kernel-harness"


def preload_intel_dependencies() -> list[str]:
    """Load the driver's libraries globally, so the driver resolves them even when pip
    put them in another folder than its own. Returns the ones loaded."""
    loaded = []
    for dist, names in INTEL_DEPENDENCIES.items():
        for name in names:
            path = installed_file(dist, name)
            if path is not None:
                ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
                loaded.append(str(path))
    return loaded


def prepare_icd_loader() -> dict[str, Any]:
    """Called once, before pyopencl's first call: what was done (for debugging a
    missing Intel device; it holds this machine's paths, so it is not recorded).

    Returns {"intel_runtime": path or None, "vendors": folder or None, "preloaded": [...],
    "note": why nothing was done}. Errors become the note: OpenCL then simply has one
    implementation fewer, and PoCL still works.
    """
    global _prepared
    if _prepared is not None:
        return _prepared
    info: dict[str, Any] = {"intel_runtime": None, "vendors": None, "preloaded": [], "note": ""}
    intel = installed_file(INTEL_DIST, INTEL_LIB)
    if intel is None:
        info["note"] = f"{INTEL_DIST} is not installed (pip install {INTEL_DIST} intel-cmplr-lib-rt)"
    else:
        try:
            info["preloaded"] = preload_intel_dependencies()
            entries = {p.stem: p.read_text().strip() for p in existing_vendor_files()}
            entries["kernel-harness-intel-cpu"] = str(intel)
            info["vendors"] = str(write_vendors_folder(entries, cache_root()))
            info["intel_runtime"] = str(intel)
            os.environ["OCL_ICD_VENDORS"] = info["vendors"]
        except OSError as exc:
            info["note"] = f"Intel's OpenCL runtime could not be registered: {exc}"
    _prepared = info
    return info
