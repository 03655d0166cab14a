"""The OpenCL self-test, run in a child process per device.

Why a child process: an OpenCL driver that cannot generate code for the CPU does not
always say so. PoCL 3.0's LLVM, on a CPU it does not know, either refuses every build
("unknown target CPU 'generic'"), or returns a program with no kernels in it, or
segfaults at the first launch, or aborts when the process exits. Any of these in the
harness's own process would end `harness list`, a sweep or a test session. So each
device is made to build and run the test program — scalar and vector loads and stores,
as the tuned kernels use them, in float32 and in float64 where the device has it — in
a process of its own, and only a device whose process printed a pass *and* exited
cleanly counts as available.

Run as `python -m harness.backends.opencl_selftest PLATFORM_INDEX DEVICE_INDEX`; it
prints one JSON line, {"ok": true} or {"ok": false, "reason": ...}.
"""
from __future__ import annotations

import json
import os
import re
import sys

import numpy as np

#: (OpenCL C type, numpy dtype, vector width, extra build options) per test build.
BUILDS = (("float", np.float32, 16, ()), ("double", np.float64, 8, ("-DREAL_IS_DOUBLE=1",)))
ITEMS = 4


def run_one(cl, context, queue, source: str, real: str, dtype, width: int, extra: tuple) -> None:
    """Build the test program for one type and check both kernels' answers; raise if wrong."""
    import pyopencl.array as cla

    from .base import check_self_test_result

    program = cl.Program(context, source).build(options=[f"-DREAL={real}", f"-DVW={width}", *extra])
    names = kernel_names(program)
    if names != {"twice_plus_one", "twice_plus_one_vec"}:
        log = " | ".join(distinct_messages(build_log(cl, program)))
        raise RuntimeError(f"the {real} build returned kernels {sorted(names)} instead of "
                           f"twice_plus_one, twice_plus_one_vec, without a build error; build log: {log or 'empty'}")
    host = np.arange(1.0, ITEMS * width + 1, dtype=dtype)
    x = cla.to_device(queue, host)
    for kernel, items in ((program.twice_plus_one, host.size), (program.twice_plus_one_vec, ITEMS)):
        y = cla.empty_like(x)
        kernel(queue, (items,), None, x.data, y.data)
        check_self_test_result(y.get(queue=queue), 2 * host + 1)


def kernel_names(program) -> set[str]:
    """The kernels a built program holds; empty for a program without any (PoCL returns
    "", Intel's runtime refuses the query with INVALID_PROGRAM_EXECUTABLE)."""
    try:
        return set(filter(None, program.kernel_names.split(";")))
    except Exception:
        return set()


def distinct_messages(log: str, most: int = 3) -> list[str]:
    """The build log's messages without their temporary-file locations, each once: PoCL
    repeats one warning per call site, under a file name that changes every build."""
    seen: dict[str, None] = {}
    for line in log.splitlines():
        text = re.sub(r"\S+\.cl:\d+:\d+(?: <Spelling=<[^>]*>:\d+:\d+>)?:\s*", "", line.strip())
        if text and text not in seen:
            seen[text] = None
    return list(seen)[:most]


def build_log(cl, program) -> str:
    return "\n".join(str(program.get_build_info(d, cl.program_build_info.LOG)) for d in program.devices)


def self_test(platform_index: int, device_index: int) -> dict:
    """Build and run the test program on one device: {"ok": True} or the reason it failed."""
    from importlib.resources import files

    import pyopencl as cl

    device = cl.get_platforms()[platform_index].get_devices()[device_index]
    cl_dir = files("harness.kernels") / "cl"
    source = (cl_dir / "_prelude.cl").read_text() + "#line 1\n" + (cl_dir / "_selftest.cl").read_text()
    context = cl.Context([device])
    queue = cl.CommandQueue(context)
    fp64 = "cl_khr_fp64" in device.extensions.split()
    try:
        for real, dtype, width, extra in BUILDS:
            if real == "double" and not fp64:
                continue
            run_one(cl, context, queue, source, real, dtype, width, extra)
    except Exception as exc:
        report({"ok": False, "reason": build_failure_summary(f"{type(exc).__name__}: {exc}")})
        os._exit(0)  # PoCL aborts when a failed program is released: the verdict is out first
    return {"ok": True}


def report(verdict: dict) -> None:
    print(json.dumps(verdict), flush=True)


def build_failure_summary(message: str, limit: int = 1500) -> str:
    """One line from pyopencl's build-failure text: the status once, then the build log's
    `error:` lines (the cause, e.g. "unknown target CPU 'generic'"), else the whole log."""
    message = message.replace(os.path.expanduser("~"), "~")  # no home folder in stored records
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    if not lines:
        return "self-test failed with no message"
    status = lines[0].split(" - ")[0]
    errors = [ln for ln in lines[1:] if "error" in ln.lower() and not ln.startswith("Build on")]
    detail = " | ".join(errors or lines[1:])
    text = f"{status}: {detail}" if detail else status
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run_in_child(indices: list[tuple[int, int]], timeout_s: float = 120.0) -> list[str | None]:
    """Start one self-test process per (platform, device) index, concurrently; per device
    None when it passed, else the reason (its JSON verdict, its crash, or its exit)."""
    import subprocess

    procs = [subprocess.Popen([sys.executable, "-m", __name__, str(p), str(d)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for p, d in indices]
    return [verdict_of(proc, timeout_s) for proc in procs]


def verdict_of(proc, timeout_s: float) -> str | None:
    """None for a pass printed by a process that exited with status 0, else why not."""
    import signal
    import subprocess

    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return f"the self-test did not finish within {timeout_s:.0f} s"
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    verdict = json.loads(lines[-1]) if lines else None
    tail = " | ".join(ln.strip() for ln in err.splitlines()[-3:] if ln.strip())
    if verdict is not None and not verdict["ok"]:
        return verdict["reason"]
    if proc.returncode != 0:
        how = (f"was killed by {signal.Signals(-proc.returncode).name}" if proc.returncode < 0
               else f"exited with status {proc.returncode}")
        when = "after passing (the driver crashes at exit)" if verdict else "while running"
        return f"the self-test process {how} {when}" + (f": {tail}" if tail else "")
    return None if verdict else f"the self-test printed no verdict{': ' + tail if tail else ''}"


def main(argv: list[str]) -> int:
    import warnings

    warnings.simplefilter("ignore")  # compiler notes on success are not a failure
    report(self_test(int(argv[0]), int(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
