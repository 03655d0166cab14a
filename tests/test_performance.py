"""harness machine (ceilings cache), roofline fields on records, and harness selftest.
Structure and sanity only: the machine is shared, so no speed targets here."""
import json
import math

import pytest
from click.testing import CliRunner

from harness import ceilings, roofline
from harness.cli import main
from harness.registry import get_registry
from harness.runner import Case, RunContext, execute_case
from harness.timing import TimingOptions


def _pos(v):
    return isinstance(v, (int, float)) and math.isfinite(v) and v > 0


@pytest.fixture(scope="module")
def machine_dir(tmp_path_factory):
    """A results folder with quick ceilings measured on this machine."""
    d = tmp_path_factory.mktemp("results")
    res = CliRunner().invoke(main, ["machine", "--quick", "--json", "--results", str(d)])
    assert res.exit_code == 0, res.output
    return d, json.loads(res.stdout)


@pytest.fixture
def use_dir(monkeypatch):
    def use(d):
        monkeypatch.setenv("HARNESS_RESULTS_DIR", str(d))
        ceilings.reset_machine_cache()
    yield use
    ceilings.reset_machine_cache()


@pytest.mark.opencl
def test_machine_json_structure(machine_dir):
    d, data = machine_dir
    from harness.machine import machine_info

    mid = machine_info()["machine_id"]
    assert data["machine_id"] == mid and data["mode"] == "quick" and data["measured_at"]
    assert data["machine"]["machine_id"] == mid
    c = data["ceilings"]
    assert "numpy/cpu" in c
    for key, e in c.items():
        assert key == f"{e['backend']}/{e['device']}"
        assert e["kind"] in ("cpu", "gpu")
        if e["backend"] in ("numpy", "torch", "opencl"):
            assert _pos(e["copy_gbps"]) and _pos(e["triad_gbps"]), (key, e)
            assert _pos(e["peak_gflops"]["float32"]) and _pos(e["peak_gflops"]["float64"]), (key, e)
            assert e["copy_gbps"] < 1e4 and e["peak_gflops"]["float32"] < 1e6  # GB/s and GFLOP/s, not B/s
    roof = data["roofline"]["numpy/cpu"]
    assert _pos(roof["bandwidth_gbps"]) and _pos(roof["peak_gflops"]["float64"])
    # CPU devices are judged against the best CPU limits of the machine
    cpu = [e for e in c.values() if e["kind"] == "cpu" and e.get("copy_gbps")]
    assert roof["bandwidth_gbps"] == max(max(e["copy_gbps"], e["triad_gbps"]) for e in cpu)
    stored = json.loads((d / mid / "machine.json").read_text())
    assert stored["measured_at"] == data["measured_at"]


def test_machine_cache_is_reused(machine_dir):
    d, data = machine_dir
    res = CliRunner().invoke(main, ["machine", "--json", "--quick", "--results", str(d)])
    assert res.exit_code == 0, res.output
    again = json.loads(res.stdout)
    assert again["measured_at"] == data["measured_at"] and again["measure_s"] == data["measure_s"]
    res = CliRunner().invoke(main, ["machine", "--results", str(d), "--quick"])
    assert res.exit_code == 0 and "cached" in res.output


def test_machine_bad_backend_is_usage_error(tmp_path):
    res = CliRunner().invoke(main, ["machine", "--backends", "nope", "--results", str(tmp_path)])
    assert res.exit_code == 2 and "nope" in res.output
    assert not any(tmp_path.iterdir())


def _run(kernel, size, dtype="float64", backend="numpy", impl=None):
    reg = get_registry()
    dev = reg.backend(backend).devices()[0]
    ctx = RunContext(reg, seed=0, timing=TimingOptions(budget_s=0.02, min_samples=3, max_samples=5))
    impl = impl or (backend if (kernel, backend, backend) in reg.impls else "array_api")
    return execute_case(Case(kernel, impl, backend, dev.name, dtype, size), ctx)


@pytest.mark.opencl
def test_roofline_fields_on_records(machine_dir, use_dir):
    d, data = machine_dir
    use_dir(d)
    recs = [_run("saxpy", 1000), _run("matmul", 64)]
    if get_registry().backend("opencl").probe()[0]:
        recs.append(_run("saxpy", 1000, "float32", "opencl"))
    for r in recs:
        assert r["status"] == "ok", r["message"]
        for f in roofline.FIELDS:
            assert f in r
        assert _pos(r["roofline_fraction"]) and _pos(r["arithmetic_intensity"]) and _pos(r["roofline_gflops"])
        lim = data["roofline"][r["roofline_ceiling"]]
        expected = min(lim["peak_gflops"][r["dtype"]], r["flops"] / r["bytes"] * lim["bandwidth_gbps"])
        assert r["roofline_gflops"] == pytest.approx(expected)
        assert r["roofline_fraction"] == pytest.approx(r["gflops"] / expected)
    saxpy = recs[0]
    assert saxpy["roofline_limit"] == "memory" and saxpy["roofline_ceiling"] == "numpy/cpu"
    assert saxpy["roofline_fraction"] < 1.5  # 24 kB, dominated by the call overhead
    assert recs[1]["roofline_limit"] == "compute"


def test_no_ceilings_no_roofline(tmp_path, use_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./results here either
    use_dir(tmp_path / "empty")
    r = _run("saxpy", 100)
    assert r["status"] == "ok"
    assert all(r[f] is None for f in roofline.FIELDS)
    assert not (tmp_path / "empty").exists()  # nothing measured implicitly


def test_roofline_formula():
    lim = {"bandwidth_gbps": 10.0, "peak_gflops": {"float32": 100.0}}
    mem = roofline.roofline(flops=2e9, bytes_moved=12e9, median_s=2.0, dtype="float32", limits=lim)
    assert mem["roofline_limit"] == "memory"
    assert mem["roofline_gflops"] == pytest.approx(2 / 12 * 10)
    assert mem["roofline_fraction"] == pytest.approx((12e9 / 2.0 / 1e9) / 10)  # = achieved GB/s over bandwidth
    comp = roofline.roofline(flops=2e9, bytes_moved=1e6, median_s=0.1, dtype="float32", limits=lim)
    assert comp["roofline_limit"] == "compute" and comp["roofline_fraction"] == pytest.approx(0.2)
    # no peak for the dtype: the memory roof alone
    half = roofline.roofline(flops=2e9, bytes_moved=12e9, median_s=2.0, dtype="float16", limits=lim)
    assert half["roofline_limit"] == "memory"
    assert roofline.roofline(1.0, 1.0, 0.0, "float32", lim)["roofline_fraction"] is None


def test_selftest_reduced(tmp_path):
    out = tmp_path / "selftest.json"
    res = CliRunner().invoke(main, ["selftest", "--reduced", "--json", "--out", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["mode"] == "reduced"
    floor = data["timer_floor"]["numpy/cpu"]
    assert _pos(floor["per_call_s"]) and floor["per_call_s"] < 1e-3 and _pos(floor["timer_overhead_s"])
    ocl = [v for k, v in data["timer_floor"].items() if k.startswith("opencl/")]
    assert ocl and all(_pos(v["per_call_s"]) for v in ocl if "per_call_s" in v)
    rows = [r for r in data["agreement"] if "harness" in r]
    assert len(rows) == 2
    for r in rows:
        for m in ("harness", "torch_benchmark", "timeit"):
            assert _pos(r[m]["median_s"]) and r[m]["iqr_over_median"] >= 0
        assert math.isfinite(r["vs_timeit"]) and isinstance(r["within_tolerance"], bool)
    q = data["quick_run"]
    assert q["returncode"] == 0, q.get("stderr_tail")
    assert q["n_cases"] >= 1 and _pos(q["wall_s"]) and q["timed_s_per_case_max"] is not None


def test_agreement_summary_flags_outliers_and_fails_below_threshold():
    from harness.selftest import summarize_agreement

    def row(case, vs, tol=0.10):
        return {"case": case, "vs_timeit": vs, "tolerance": tol, "within_tolerance": abs(vs) <= tol}

    rows = [row(f"c{i}", 0.02) for i in range(9)] + [row("bad", -0.995), {"case": "x", "skipped": "n/a"}]
    s = summarize_agreement(rows, threshold=0.9)
    assert s["n_compared"] == 10 and s["share_within"] == 0.9 and s["passed"]
    assert [o["case"] for o in s["outliers"]] == ["bad"]
    s = summarize_agreement(rows + [row("worse", 77.97)], threshold=0.9)
    assert not s["passed"] and {o["case"] for o in s["outliers"]} == {"bad", "worse"}
    assert not summarize_agreement([], 0.9)["passed"]


def test_selftest_cases_cover_every_cpu_backend_and_decades():
    from harness.selftest import REFERENCE_CASES

    assert len(REFERENCE_CASES) >= 20
    assert {c[1] for c in REFERENCE_CASES} >= {"numpy", "torch", "opencl"}


def test_selftest_exits_non_zero_below_the_agreement_threshold(tmp_path):
    out = tmp_path / "selftest.json"
    res = CliRunner().invoke(main, ["selftest", "--reduced", "--no-run", "--min-agreement", "1.01",
                                    "--out", str(out)])
    assert res.exit_code == 1, res.output  # no share can reach 101%
    data = json.loads(out.read_text())
    assert data["agreement_gated"] and not data["agreement_summary"]["passed"]
    assert "agreement:" in res.output and "threshold 101%" in res.output


def test_selftest_references_wait_on_the_last_output():
    """The references must time what the harness times: their clock waits on the last
    output of a block, so a runtime that only waits on outputs (futures here, JAX in real
    life) is timed at its real speed, and the same clock on a device that never waits
    reads only the queueing: the check can tell the two apart."""
    import timeit

    from futures_backend import WORK_S, NoWaitDevice, WaitDevice

    from harness import selftest

    for device_cls, waits in ((WaitDevice, True), (NoWaitDevice, False)):
        device = device_cls()
        clock = selftest._SyncedClock(device)
        t = timeit.Timer(selftest._REFERENCE_STMT, timer=clock,
                         globals={"fn": lambda: device.submit(lambda: 1.0), "last": clock.last})
        took = t.timeit(number=10)
        if waits:
            assert took >= 0.9 * 10 * WORK_S, took
        else:
            assert took < 3 * WORK_S, took
        device.pool.shutdown(wait=True)
    device = WaitDevice()
    med, _ = selftest._timeit(lambda: device.submit(lambda: 1.0), device, budget_s=0.05)
    assert med >= 0.9 * WORK_S, med
    device.pool.shutdown(wait=True)
