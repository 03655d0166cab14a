"""Portability: a device is available only after real work, unusable devices are skipped
with their reason, and the machine identity tells two CPUs of the same name apart."""
import json
import subprocess
import sys

import numpy as np
import pytest

from harness.backends.base import Backend, Device
from harness.backends.opencl_selftest import build_failure_summary, verdict_of
from harness.registry import Registry, get_registry
from harness.runner import Case, Skip, plan


class _HostDevice(Device):
    """A host device whose addition can be told to go wrong (its arrays are NumPy's)."""

    backend = "selftest-probe"
    kind = "cpu"

    def __init__(self, name, wrong=False):
        self.name, self.wrong = name, wrong

    def to_device(self, host, dtype):
        return host + 1 if self.wrong else host.copy()

    def to_host(self, arr):
        return np.asarray(arr)

    def synchronize(self):
        pass


class _TwoDeviceBackend(Backend):
    name = "selftest-probe"

    def _load(self):
        return [_HostDevice("good"), _HostDevice("bad", wrong=True)]


def test_a_device_that_computes_wrong_is_unusable_with_its_reason():
    backend = _TwoDeviceBackend()
    assert backend.probe() == (True, "")
    assert [d.name for d in backend.devices()] == ["good"]
    reason = backend.unusable_devices()["bad"]
    assert "self-test" in reason and "expected" in reason


def test_a_backend_whose_every_device_fails_is_unavailable_naming_each():
    class AllBad(_TwoDeviceBackend):
        def _load(self):
            return [_HostDevice("bad", wrong=True)]

    ok, reason = AllBad().probe()
    assert not ok and "bad:" in reason and "no device passed its self-test" in reason


def test_plan_skips_an_unusable_device_with_its_reason(registry):
    import dataclasses

    reg = Registry()
    reg.add_kernel(registry.kernels["saxpy"])
    reg.add_backend("selftest-probe", _TwoDeviceBackend)
    impl = next(i for i in registry.implementations("saxpy", "numpy") if i.name == "array_api")
    reg.add_implementation(dataclasses.replace(impl, backend="selftest-probe"))
    cases = plan(reg, ["saxpy"], ["selftest-probe"], ["float32"], [100])
    skips = [c for c in cases if isinstance(c, Skip)]
    runs = [c for c in cases if isinstance(c, Case)]
    assert [s.case.device for s in skips] == ["bad"] and "unusable" in skips[0].reason
    assert [c.device for c in runs] == ["good"]


def test_build_failure_summary_keeps_the_compiler_error_line():
    message = ("clBuildProgram failed: BUILD_PROGRAM_FAILURE - clBuildProgram failed: BUILD_PROGRAM_FAILURE\n\n"
               "Build on <pyopencl.Device 'cpu-znver5' on 'Portable Computing Language'>:\n\n"
               "error: unknown target CPU 'generic'\nnote: valid target CPU values are: x86-64\n")
    summary = build_failure_summary(message)
    assert summary.startswith("clBuildProgram failed: BUILD_PROGRAM_FAILURE:")
    assert "unknown target CPU 'generic'" in summary and summary.count("BUILD_PROGRAM_FAILURE") == 1


@pytest.mark.opencl
def test_real_opencl_build_error_reaches_the_summary(registry):
    """A broken program on a real, usable OpenCL device: the compiler's message survives."""
    backend = registry.backend("opencl")
    if not backend.probe()[0]:
        pytest.skip(f"opencl unavailable: {backend.probe()[1]}")
    import pyopencl as cl

    dev = backend.devices()[0]
    with pytest.raises(cl.RuntimeError) as info:
        cl.Program(dev.context, "__kernel void k(__global float *x) { x[0] = undefined_name; }").build()
    assert "undefined_name" in build_failure_summary(str(info.value))


@pytest.mark.parametrize("code, expected", [
    ("import os; os.abort()", "killed by SIGABRT while running"),
    ("print('{\"ok\": true}', flush=True); import os; os.abort()", "after passing"),
    ("print('{\"ok\": false, \"reason\": \"no kernels\"}')", "no kernels"),
    ("pass", "printed no verdict"),
])
def test_a_self_test_process_that_crashes_or_says_nothing_is_a_failure(code, expected):
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert expected in verdict_of(proc, timeout_s=60)


def test_a_clean_pass_is_a_pass():
    proc = subprocess.Popen([sys.executable, "-c", "print('{\"ok\": true}')"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert verdict_of(proc, timeout_s=60) is None


def test_list_json_shows_unusable_devices_with_reasons():
    out = subprocess.run([sys.executable, "-m", "harness.cli", "list", "--json"], capture_output=True, text=True,
                         timeout=300)
    if out.returncode != 0:  # `python -m harness.cli` may not be runnable: use the entry point
        out = subprocess.run(["harness", "list", "--json"], capture_output=True, text=True, timeout=300)
    inv = json.loads(out.stdout)
    for b in inv["backends"]:
        assert isinstance(b["unusable_devices"], list)
        for d in b["unusable_devices"]:
            assert d["reason"] and d["name"] not in [x["name"] for x in b["devices"]]


# --- machine identity ------------------------------------------------------------------

ZEN3 = {"vendor_id": "AuthenticAMD", "model name": "AMD EPYC", "cpu family": "25", "model": "1", "stepping": "1",
        "flags": "fpu sse4_2 avx avx2 fma f16c"}
ZEN5 = {**ZEN3, "cpu family": "26", "model": "2", "stepping": "0",
        "flags": "fpu sse4_2 avx avx2 fma f16c avx512f avx512dq avx512bw avx512vl avx512_bf16"}


def _identity(monkeypatch, fields):
    from harness import machine

    monkeypatch.setattr(machine, "_cpuinfo_fields", lambda: dict(fields))
    monkeypatch.delenv("HARNESS_MACHINE_ID", raising=False)
    info = {"memory_bytes": 24 * 2**30, "cores_logical": 2, "arch": "x86_64", "gpus": [], **machine.cpu_identity()}
    info["fingerprint"] = machine.fingerprint(info)
    return info, machine.machine_id(info)


def test_two_cpus_of_the_same_name_get_different_ids(monkeypatch):
    zen3, id3 = _identity(monkeypatch, ZEN3)
    zen5, id5 = _identity(monkeypatch, ZEN5)
    assert zen3["cpu"] == zen5["cpu"] == "AMD EPYC"
    assert (zen3["microarchitecture"], zen5["microarchitecture"]) == ("zen3", "zen5")
    assert "avx512f" in zen5["isa"] and "avx512f" not in zen3["isa"]
    assert id3 != id5 and "zen3" in id3 and "zen5" in id5


def test_the_id_is_stable_and_changes_with_a_gpu_driver(monkeypatch):
    info, mid = _identity(monkeypatch, ZEN3)
    from harness import machine

    assert machine.machine_id(dict(info)) == mid
    with_gpu = {**info, "gpus": [{"name": "H200", "driver": "570.1"}]}
    newer = {**info, "gpus": [{"name": "H200", "driver": "580.2"}]}
    assert machine.fingerprint(with_gpu) != machine.fingerprint(newer) != info["fingerprint"]


def test_another_machines_ceilings_are_neither_used_nor_overwritten(tmp_path):
    from harness.ceilings import ForeignMachineFile, check_folder_owner, load_machine, measure_machine
    from harness.machine import machine_info

    folder = tmp_path / machine_info()["machine_id"]
    folder.mkdir()
    foreign = {"kind": "machine", "ceilings": {"numpy/cpu": {"copy_gbps": 1.0}},
               "machine": {"fingerprint": "0123456789abcdef"}}
    (folder / "machine.json").write_text(json.dumps(foreign))
    before = (folder / "machine.json").read_bytes()
    assert load_machine(tmp_path) is None
    with pytest.raises(ForeignMachineFile, match="belongs to another machine"):
        check_folder_owner(folder)
    with pytest.raises(ForeignMachineFile):
        measure_machine(tmp_path, refresh=True, quick=True, backends=["numpy"])
    assert (folder / "machine.json").read_bytes() == before


def test_run_refuses_a_folder_of_another_machine(tmp_path):
    mid = "test-machine"
    (tmp_path / mid).mkdir()
    (tmp_path / mid / "machine.json").write_text(json.dumps(
        {"kind": "machine", "ceilings": {}, "machine": {"fingerprint": "0123456789abcdef"}}))
    out = subprocess.run(["harness", "run", "--kernels", "saxpy", "--backends", "numpy", "--sizes", "100",
                          "--dtypes", "float32", "--out", str(tmp_path)], capture_output=True, text=True,
                         timeout=300, env={**__import__("os").environ, "HARNESS_MACHINE_ID": mid})
    assert out.returncode == 2 and "belongs to another machine" in out.stderr
    assert sorted(p.name for p in (tmp_path / mid).iterdir()) == ["machine.json"]


def test_registry_backends_report_unusable_devices_as_a_dict():
    for name in get_registry().backend_names:
        assert isinstance(get_registry().backend(name).unusable_devices(), dict)


def test_build_log_messages_lose_their_temporary_file_names():
    from harness.backends.opencl_selftest import distinct_messages

    log = ("warning: /tmp/x/kcache/tempfile_AB.cl:18:21 <Spelling=<scratch space>:10:1>: AVX vector return\n"
           "warning: /tmp/x/kcache/tempfile_AB.cl:22:21 <Spelling=<scratch space>:12:1>: AVX vector return\n"
           "2 warnings generated.\n")
    assert distinct_messages(log) == ["warning: AVX vector return", "2 warnings generated."]


def test_a_build_without_kernels_is_an_error_not_a_cached_program(registry):
    """The silent PoCL failure (a program with no kernels) must not pass as a build: the
    prelude alone compiles to exactly such a program on any working device."""
    backend = registry.backend("opencl")
    if not backend.probe()[0]:
        pytest.skip(f"opencl unavailable: {backend.probe()[1]}")
    dev = backend.devices()[0]
    with pytest.raises(RuntimeError, match="program without kernels"):
        dev.compile("_prelude.cl", "float32")
    dev.compile("vadd.cl", "float32")  # a real kernel file still builds
