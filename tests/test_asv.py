"""asv integration: the generated benchmark grid, the asv → harness bridge, and a smoke
run of the real asv (`asv machine --yes`, `asv check`, `asv run --python=same --quick`,
`harness import-asv`) over a one-kernel, one-backend subset in a scratch folder."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]


def _grid(monkeypatch, mode=None, **env):
    """benchmarks._grid as a process of asv's runner in `mode` would see it (None: not asv)."""
    monkeypatch.syspath_prepend(str(REPO))
    for k in ("HARNESS_ASV_PRESET", "ASV_CONF_DIR", "ASV_ENV_DIR"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    from benchmarks import _grid

    monkeypatch.setattr(_grid, "asv_runner_mode", lambda: mode)
    return _grid


def test_grid_follows_registry_and_presets(monkeypatch):
    from harness.asv_bridge import parse_label

    grid_mod = _grid(monkeypatch)
    from harness.registry import get_registry

    reg = get_registry()
    grid = grid_mod.live_grid()
    assert set(grid) == set(reg.kernels)  # every kernel, nothing hand-written
    for kernel, entry in grid.items():
        backends = [parse_label(lab)[1] for lab in entry["implementations"]]
        assert len(backends) == len(set(backends)), "default preset: one implementation per backend"
        assert entry["dtypes"] == ["float32"]
        assert len(entry["sizes"]) == 1 and entry["sizes"][0] in reg.kernels[kernel].sizes["quick"]
        for label in entry["implementations"]:
            impl, backend = parse_label(label)
            assert (kernel, backend, impl) in reg.impls
    monkeypatch.setenv("HARNESS_ASV_PRESET", "quick")
    quick = grid_mod.live_grid()
    assert quick["sum"]["sizes"] == list(reg.kernels["sum"].sizes["quick"])
    assert quick["sum"]["dtypes"] == ["float32", "float64"]
    assert "array_api@numpy" in quick["sum"]["implementations"]


def test_bad_preset_and_preset_in_version(monkeypatch):
    grid_mod = _grid(monkeypatch, HARNESS_ASV_PRESET="quick")
    assert grid_mod.benchmark_version() == f"{grid_mod.GRID_VERSION}-quick"  # presets never share a history
    # the clock change of the time benchmarks starts their history anew, not accuracy's
    assert grid_mod.benchmark_version("time") != grid_mod.benchmark_version("accuracy")
    monkeypatch.setenv("HARNESS_ASV_PRESET", "huge")
    with pytest.raises(grid_mod.GridError, match="huge"):
        grid_mod.preset()


def test_asv_runner_mode_only_in_asvs_benchmark_script(monkeypatch, tmp_path):
    """A frozen grid is read only by asv's own benchmark runner, whatever sys.argv says."""
    import types

    monkeypatch.syspath_prepend(str(REPO))
    from benchmarks import _grid as grid_mod

    monkeypatch.setattr(sys, "argv", ["x", "run"])
    assert grid_mod.asv_runner_mode() is None  # pytest is not asv's runner
    fake = types.ModuleType("__main__")
    fake.__file__ = str(tmp_path / "asv" / "benchmark.py")
    fake.commands = {"run": None, "discover": None}
    monkeypatch.setitem(sys.modules, "__main__", fake)
    assert grid_mod.asv_runner_mode() == "run"
    monkeypatch.setattr(sys, "argv", ["x", "discover"])
    assert grid_mod.asv_runner_mode() == "discover"
    fake.__file__ = str(tmp_path / "other" / "benchmark.py")
    assert grid_mod.asv_runner_mode() is None


def test_frozen_grid_is_the_configs_own(monkeypatch, tmp_path):
    """With two configs, the benchmarks.json is the one of the config whose env_dir holds
    the running environment, not the newest."""
    for name, res, env in (("asv.conf.json", "cpu", ".asv/env"), ("asv.gpu.conf.json", "gpu", ".asv/env-gpu")):
        (tmp_path / name).write_text(json.dumps({"results_dir": res, "env_dir": env}))
        (tmp_path / res).mkdir()
        (tmp_path / res / "benchmarks.json").write_text(json.dumps({
            "time_kernels.SumTime.time_kernel": {"params": [["'sum'"], [f"'{res}'"], ["'float32'"], ["10"]]}}))
    os.utime(tmp_path / "gpu" / "benchmarks.json", (2e9, 2e9))  # the GPU one is newer
    grid_mod = _grid(monkeypatch, "run", ASV_CONF_DIR=str(tmp_path), ASV_ENV_DIR=str(tmp_path / ".asv/env/abc"))
    assert grid_mod.frozen_benchmarks("time_kernels")["SumTime"][1] == ["cpu"]
    monkeypatch.setenv("ASV_ENV_DIR", str(tmp_path / ".asv/env-gpu/abc"))
    assert grid_mod.frozen_benchmarks("time_kernels")["SumTime"][1] == ["gpu"]


def test_labels_and_class_names(monkeypatch):
    """One label parser, harness.asv_bridge's, for the grid and the importer; it reads back
    every label the grid writes."""
    from harness.asv_bridge import parse_label

    grid_mod = _grid(monkeypatch)
    impl_label = grid_mod.impl_label
    assert not hasattr(grid_mod, "parse_label")
    for impl, backend in (("array_api", "torch"), ("numpy", "numpy"), ("opencl_local", "opencl")):
        assert parse_label(impl_label(impl, backend)) == (impl, backend)
    assert parse_label("array_api@torch") == ("array_api", "torch")
    assert parse_label("numpy") == ("numpy", "numpy")
    assert impl_label("opencl", "opencl") == "opencl"
    assert grid_mod.class_stem("chroma_key") == "ChromaKey"


def test_frozen_grid_keeps_discovered_indices(monkeypatch, tmp_path):
    """A benchmark process reads the parameter lists asv discovered, not the installed
    commit's registry, so indices never shift between commits."""
    (tmp_path / "asv.conf.json").write_text(json.dumps({"results_dir": "res"}))
    (tmp_path / "res").mkdir()
    params = [["'sum'"], ["'numpy'", "'gone@numpy'"], ["'float32'"], ["1000"]]
    (tmp_path / "res" / "benchmarks.json").write_text(json.dumps({
        "time_kernels.SumTime.time_kernel": {"params": params}, "version": 2}))
    grid_mod = _grid(monkeypatch, "run", ASV_CONF_DIR=str(tmp_path))
    frozen = grid_mod.frozen_benchmarks("time_kernels")
    assert frozen == {"SumTime": [["sum"], ["numpy", "gone@numpy"], ["float32"], [1000]]}
    monkeypatch.setattr(grid_mod, "asv_runner_mode", lambda: "discover")
    assert grid_mod.frozen_benchmarks("time_kernels") is None  # discovery always uses the registry


def test_unavailable_case_skips_without_import(monkeypatch):
    _grid(monkeypatch)
    from benchmarks import _cases

    backends = {"cupy": {"ok": False, "reason": "no GPU"}, "numpy": {"ok": True, "reason": "", "device": "cpu",
                                                                     "dtype_unsupported": {}}}
    with pytest.raises(NotImplementedError, match="no GPU"):
        _cases.resolve(backends, "sum", "cupy", "float32", 1000)
    with pytest.raises(NotImplementedError, match="not in the harness at this commit"):
        _cases.resolve(backends, "no_such_kernel", "numpy", "float32", 1000)
    with pytest.raises(NotImplementedError, match="not in the harness"):
        _cases.resolve(backends, "sum", "opencl", "float32", 1000)  # backend absent from the probe


def test_benchmark_import_loads_no_backend_library():
    code = ("import sys; sys.path.insert(0, %r);"
            "import benchmarks.time_kernels, benchmarks.accuracy, benchmarks.peakmem;"
            "bad=[m for m in ('torch','pyopencl','cupy','numba') if m in sys.modules]; print(bad); assert not bad"
            % str(REPO))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_import_asv_usage_errors(tmp_path):
    from harness.cli import main

    runner = CliRunner()
    res = runner.invoke(main, ["import-asv", "--asv-results", str(tmp_path / "missing")])
    assert res.exit_code == 2 and "asv run" in res.output
    empty = tmp_path / "empty"
    empty.mkdir()
    res = runner.invoke(main, ["import-asv", "--asv-results", str(empty), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "no asv results" in res.output
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").rglob("*.jsonl"))


# -- the real asv ------------------------------------------------------------------------
def _asv_env(home: Path) -> dict:
    env = dict(os.environ)
    # ASV_PYTHONPATH: asv's benchmark processes drop PYTHONPATH and import this checkout's harness only so
    env.update(HOME=str(home), HARNESS_ASV_PRESET="default", PYTHONPATH=str(REPO), ASV_PYTHONPATH=str(REPO))
    env.pop("ASV_CONF_DIR", None)
    return env


@pytest.fixture(scope="module")
def asv_smoke(tmp_path_factory):
    """asv machine --yes, asv check and a quick asv run, in a scratch folder (the
    repository's results/asv is never touched); a fresh HOME stands for a fresh machine."""
    pytest.importorskip("asv")
    if shutil.which("git") is None:
        pytest.skip("git is needed by asv")
    work = tmp_path_factory.mktemp("asv")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
    if commit.returncode != 0:
        pytest.skip("not a git checkout")
    conf = json.loads((REPO / "asv.conf.json").read_text())
    conf.update(repo=str(REPO), benchmark_dir=str(REPO / "benchmarks"), results_dir="results",
                html_dir="html", env_dir="env", branches=["HEAD"])
    (work / "asv.conf.json").write_text(json.dumps(conf, indent=2))
    env = _asv_env(work)
    asv = [sys.executable, "-m", "asv"]
    steps = {}
    for name, args, limit in (
            ("machine", ["machine", "--yes", "--machine", "smoke"], 60),
            ("check", ["check", "--python=same"], 120),
            ("run", ["run", "--python=same", "--quick", "--machine", "smoke", "--record-samples",
                     "--set-commit-hash", commit.stdout.strip(), "--show-stderr",
                     "-b", r"^(time_kernels\.SaxpyTime|accuracy\.SaxpyAccuracy).*\('saxpy', 'array_api@numpy'"], 240)):
        steps[name] = subprocess.run(asv + args, cwd=work, env=env, capture_output=True, text=True, timeout=limit)
    return work, commit.stdout.strip(), steps


@pytest.mark.slow
def test_asv_machine_and_check(asv_smoke):
    work, _, steps = asv_smoke
    assert steps["machine"].returncode == 0, steps["machine"].stdout + steps["machine"].stderr
    assert (work / ".asv-machine.json").is_file()
    chk = steps["check"]
    assert chk.returncode == 0 and "No problems found" in chk.stdout, chk.stdout + chk.stderr


@pytest.mark.slow
def test_asv_quick_run_and_import(asv_smoke, tmp_path):
    work, commit, steps = asv_smoke
    run = steps["run"]
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    files = [p for p in (work / "results" / "smoke").glob("*.json") if p.name != "machine.json"]
    assert files, run.stdout[-4000:]
    from harness.asv_bridge import import_asv
    from harness.store import read_run

    written = import_asv(work / "results", tmp_path / "out", machine="smoke")
    assert len(written) == 1
    header, records = read_run(written[0][0])
    assert header["commit"] == commit and header["machine_id"] == "smoke" and header["source"] == "asv"
    rec = {r["case_id"]: r for r in records}["saxpy.array_api.numpy.default.float32.100000"]
    assert rec["status"] == "ok" and rec["source"] == "asv" and rec["commit"] == commit
    assert rec["time_median_s"] > 0 and rec["time_samples_s"] and all(s > 0 for s in rec["time_samples_s"])
    # the accuracy tracked by asv is the harness's own: compare with runner.execute_case
    from harness.registry import get_registry
    from harness.runner import Case, RunContext, execute_case

    direct = execute_case(Case("saxpy", "array_api", "numpy", "cpu", "float32", 100000), RunContext(get_registry()))
    for field in ("rel_error", "error_ratio", "max_ulp"):
        assert rec[field] == pytest.approx(direct[field], rel=1e-12), field
    assert rec["accuracy_ok"] is True
    # importing again replaces the file instead of appending to it
    again = import_asv(work / "results", tmp_path / "out", machine="smoke")
    assert again[0][0] == written[0][0] and len(read_run(again[0][0])[1]) == len(records)


def test_asv_time_benchmarks_use_the_harness_protocol(monkeypatch):
    """setup runs the harness's steady-state warm-up and calibration; the body is one
    block of the calibrated loops; the clock waits on the block's last output and
    divides by loops, so samples are per call."""
    import futures_backend as fb
    from harness.backends.numpy_backend import NumpyDevice

    for preset in ("default", "quick", "full"):
        grid_mod = _grid(monkeypatch, HARNESS_ASV_PRESET=preset)
        assert grid_mod.timing_attrs()["rounds"] >= 2
    from benchmarks import _cases

    x = np.ones(10)
    calls = []

    def fast():
        calls.append(1)
        return x + 1

    monkeypatch.setattr(_cases, "prepare_call", lambda *a: (NumpyDevice(), fast))
    monkeypatch.setattr(_cases, "_PREPARED", {})
    block, loops = _cases.prepare_timed({}, "vadd", "numpy", "float32", 10)
    assert loops > 10 and _cases.CLOCK.loops == loops  # blocks of many calls, as in `harness run`
    before = len(calls)
    assert before > loops  # warm-up and calibration ran before any asv sample
    block()
    assert len(calls) - before == loops

    dev = fb.WaitDevice()
    monkeypatch.setattr(_cases, "prepare_call", lambda *a: (dev, lambda: dev.submit(lambda: x)))
    block, loops = _cases.prepare_timed({}, "vadd", "futures", "float32", 11)
    clock = _cases.CLOCK
    t0 = clock()
    block()
    per_call = clock() - t0
    assert per_call >= 0.9 * fb.WORK_S  # waited for the queued calls, divided by loops


def test_asv_clock_reads_the_devices_own_timer(monkeypatch):
    """asv's samples come from the Timer `harness run` samples with (OpenCL profiling
    events, CUDA events), not from a host clock: a device whose timer reports 3 s of
    device time per block gives asv 3 s / loops per call, whatever the wall clock
    says. A host-clock DeviceClock (the one before) reads microseconds here and fails."""
    monkeypatch.syspath_prepend(str(REPO))
    from benchmarks import _cases
    from harness.backends.base import Timer
    from harness.backends.numpy_backend import NumpyDevice

    seen = []

    class DeviceTimeTimer(Timer):
        name = "fixed_device_time"

        def start(self):
            seen.append("start")

        def stop(self, last_output=None):
            seen.append(last_output)
            return 3.0

    class EventDevice(NumpyDevice):
        def timer(self):
            return DeviceTimeTimer()

    dev, out = EventDevice(), np.arange(3.0)
    monkeypatch.setattr(_cases, "prepare_call", lambda *a: (dev, lambda: out))
    monkeypatch.setattr(_cases, "_PREPARED", {})
    monkeypatch.setattr(_cases.CLOCK, "device", None)
    block, loops = _cases.prepare_timed({}, "vadd", "events", "float32", 10)
    clock = _cases.CLOCK
    seen.clear()
    t0 = clock()
    block()
    per_call = clock() - t0
    assert per_call == pytest.approx(3.0 / loops)
    assert seen[0] == "start" and seen[1] is out  # stopped on the block's last output
    clock()  # a pair left half-read by a failing sample ...
    _cases.prepare_timed({}, "vadd", "events", "float32", 10)
    assert clock() == 0.0  # ... is reset by the next setup: a new pair starts


def test_time_benchmark_body_is_the_prepared_block(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    from benchmarks import _cases, time_kernels

    ran = []
    monkeypatch.setattr(_cases, "prepare_timed", lambda *a: ((lambda: ran.append(1)), 1234))
    bench = time_kernels._KernelTime()
    assert bench.number == 1 and bench.warmup_time == 0
    bench.setup({}, "sum", "numpy", "float32", 1000)
    bench.time_kernel({}, "sum", "numpy", "float32", 1000)
    assert ran == [1] and bench.loops == 1234
