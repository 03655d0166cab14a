"""The speed–accuracy map: the Pareto front (pure, against paretoset), the points and
their states, the default size, the advice sentence, the units; then the built report in
headless Chromium at 1400 and 800 px: maps drawn, no legend over a plot, and the front
on the page equal to the expected points of a fixed small results fixture."""
import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest

from harness.record import SCHEMA, SCHEMA_VERSION, new_record
from harness.report.data import baseline_times, load
from harness.report.pareto import advice_sentence, default_size, map_points, pareto_front
from harness.report.units import bound_cell, correct_digits, error_cell, fmt_digits, rate_text

U32 = 2.0 ** -24
MODEL = {"metric": "normwise", "kind": "rigorous", "source": "fixture", "growth_slope": 1.0}

# (machine, impl, backend, device, size, time, rel_error, verdict or failure status)
CASES = [
    ("box-a", "numpy", "numpy", "cpu", 1000, 1e-5, 1e-7, "within"),
    ("box-a", "torch", "torch", "cpu", 1000, 2e-5, 1e-7, "within"),
    ("box-a", "numpy", "numpy", "cpu", 1_000_000, 1e-2, 1e-7, "within"),
    ("box-a", "torch", "torch", "cpu", 1_000_000, 4e-3, 1e-6, "within"),
    ("box-a", "numpy", "numpy", "cpu", 100_000, 1e-3, 1e-7, "within"),
    ("box-a", "torch", "torch", "cpu", 100_000, 5e-4, 1e-6, "within"),
    ("box-a", "array_api", "numpy", "cpu", 100_000, 1.2e-3, 1e-7, "within"),      # beaten by numpy
    ("box-a", "opencl", "opencl", "opencl:Fixture CL:cpu", 100_000, 2e-3, 1e-9, "within"),
    ("box-a", "opencl_scalar", "opencl", "opencl:Fixture CL:cpu", 100_000, 4e-3, 0.0, "within"),  # exact
    ("box-a", "array_api", "torch", "cpu", 100_000, 2e-4, 1e-3, "out_of_bound"),  # fastest, but wrong
    ("box-a", "opencl_tree", "opencl", "opencl:Fixture CL:cpu", 100_000, None, None, "crashed"),
    ("box-b", "numpy", "numpy", "cpu", 100_000, 1e-3, 1e-7, "within"),
    ("box-b", "torch", "torch", "cpu", 100_000, 2.5e-4, 1e-7, "within"),
]
# The front at n=100k (the largest size both machines measured), fastest first.
EXPECTED_FRONT = ["torch|torch|cpu|box-b", "opencl|opencl|opencl:Fixture CL:cpu|box-a",
                  "opencl:opencl_scalar|opencl|opencl:Fixture CL:cpu|box-a"]


def write_fixture(folder: Path) -> None:
    """One hand-written run file per machine: known times and errors, so the front is known."""
    for machine in ("box-a", "box-b"):
        header = {"kind": "header", "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "run_id": f"run-{machine}",
                  "machine_id": machine, "commit": "c0ffee00", "started": "2026-01-01T00:00:00+00:00",
                  "machine": {"cpu": "fixture CPU"}}
        lines = [json.dumps(header)]
        for m, impl, backend, device, size, t, err, how in CASES:
            if m != machine:
                continue
            ok = how in ("within", "out_of_bound")
            rec = new_record(kernel="sum", impl=impl, backend=backend, device=device, dtype="float32", size=size,
                             status="ok" if ok else how, message="" if ok else "worker died", machine_id=machine,
                             commit="c0ffee00", run_id=f"run-{machine}", time_median_s=t, time_iqr_s=t and t / 10,
                             time_samples_s=[t] * 3 if t else [], n_samples=3 if t else 0, rel_error=err,
                             error_bound=1e-4 if ok else None, bound_kind="rigorous" if ok else None,
                             error_ratio=err / 1e-4 if ok else None, verdict=how if ok else None,
                             accuracy_ok=how == "within" if ok else None, u=U32, flops=size, bytes=4 * size,
                             error_model=MODEL, roofline_fraction=0.5 if ok else None)
            lines.append(json.dumps({"kind": "record", **rec}))
        (folder / machine).mkdir(parents=True)
        (folder / machine / f"run-{machine}.jsonl").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def fixture_results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pareto-results")
    write_fixture(folder)
    return folder


# ---- the front, pure -------------------------------------------------------------------

def test_front_keeps_only_points_nothing_beats():
    pts = [(1.0, 7.0), (0.5, 6.0), (1.2, 7.0), (2.0, 9.0), (4.0, math.inf), (0.5, 5.0), (2.0, 9.0)]
    assert pareto_front(pts) == [True, True, False, True, True, False, True]  # equal points both stay
    assert pareto_front([]) == []
    assert pareto_front([(1.0, 1.0)]) == [True]
    # same time, fewer digits: beaten; same digits, slower: beaten
    assert pareto_front([(1.0, 8.0), (1.0, 7.0), (3.0, 8.0)]) == [True, False, False]


def test_front_agrees_with_paretoset():
    paretoset = pytest.importorskip("paretoset").paretoset
    import numpy as np

    rng = random.Random(18)
    for _ in range(200):
        n = rng.randint(1, 25)
        pts = [(rng.choice([0.1, 0.5, 1.0, 2.0, rng.random()]), rng.choice([3.0, 7.0, math.inf, 10 * rng.random()]))
               for _ in range(n)]
        want = paretoset(np.array(pts), sense=["min", "max"], distinct=False, use_numba=False)
        assert pareto_front(pts) == list(want), pts


# ---- points, states, default size, advice ---------------------------------------------

def fixture_points(fixture_results, size=100_000):
    recs = load([fixture_results]).records
    return map_points(recs, "sum", "float32", size, baseline_times(recs)), recs


def test_map_points_front_excludes_wrong_and_failed(fixture_results):
    pts, _ = fixture_points(fixture_results)
    by_key = {p["key"]: p for p in pts}
    front = sorted((p for p in pts if p["state"] == "front"), key=lambda p: p["x"])
    assert [p["key"] for p in front] == EXPECTED_FRONT
    wrong = by_key["torch:array_api|torch|cpu|box-a"]
    assert wrong["state"] == "out_of_bound" and wrong["x"] == pytest.approx(0.2) and wrong["y"] == pytest.approx(3)
    failed = by_key["opencl:opencl_tree|opencl|opencl:Fixture CL:cpu|box-a"]
    assert failed["state"] == "failed" and failed["x"] is None and failed["y"] == 0.0
    assert by_key["opencl:opencl_scalar|opencl|opencl:Fixture CL:cpu|box-a"]["y"] == math.inf
    assert by_key["numpy|numpy|cpu|box-a"]["state"] == "accurate"  # beaten by box-b's torch
    # the same wrong point, judged within its bound, would take the front: the check can fail
    recs = [dict(r, verdict="within") if r["impl"] == "array_api" and r["backend"] == "torch" else r
            for r in load([fixture_results]).records]
    moved = map_points(recs, "sum", "float32", 100_000, baseline_times(recs))
    assert "torch:array_api|torch|cpu|box-a" in {p["key"] for p in moved if p["state"] == "front"}


def test_default_size_is_largest_measured_everywhere(fixture_results):
    recs = load([fixture_results]).records
    assert default_size(recs) == 100_000  # box-a alone also has 1M
    assert default_size([r for r in recs if r["machine_id"] == "box-a"]) == 1_000_000
    assert default_size([]) is None


def test_advice_sentence_names_only_accurate_front(fixture_results):
    pts, _ = fixture_points(fixture_results)
    mine = [p for p in pts if p["machine"] == "box-a"]
    text = advice_sentence("sum", "float32", 100_000, mine, {})
    assert text == ("sum, float32, n=100k: torch is 2× faster than NumPy with 6 correct digits; NumPy itself has 7; "
                    "opencl is 2× slower with 9. (2 case(s) out of bound, failed or unjudged left out)")
    other = advice_sentence("sum", "float32", 100_000, [p for p in pts if p["machine"] == "box-b"], {})
    assert other == "sum, float32, n=100k: torch is 4× faster than NumPy with the same 7 correct digits."
    assert "torch:array_api" not in text


def test_units_digits_bound_and_throughput():
    assert correct_digits(1e-7) == pytest.approx(7) and correct_digits(0.0) == math.inf
    assert correct_digits(None) is None and correct_digits(float("nan")) is None
    assert fmt_digits(correct_digits(10.0)) == "0.0"  # an error of 1000%: no correct digit
    assert error_cell(6.5e-8) == "6.5e-08 (7.2 digits)" and error_cell(0.0) == "0 (exact)"
    assert error_cell(1e-3, "mismatch") == "0.001"  # a mismatch fraction has no digits
    assert bound_cell({"error_bound": 6e-5, "bound_kind": "first_order"}) == "6e-05 (≥ 4.2 digits, first order)"
    assert bound_cell({"error_bound": 6e-5, "error_model": {"kind": "rigorous"}}) == "6e-05 (≥ 4.2 digits, rigorous)"
    r = {"time_median_s": 1e-3, "bytes": 4e6, "flops": 1e6, "roofline_fraction": 0.61}
    assert rate_text(r, "gbps") == "4 GB/s, 61% of roofline"
    assert rate_text({"time_median_s": 1e-3, "flops": 2e9}, "gflops") == "2e+03 GFLOP/s"


# ---- in the browser ------------------------------------------------------------------

@pytest.fixture(scope="module")
def fixture_site(fixture_results, tmp_path_factory):
    out = tmp_path_factory.mktemp("pareto-site")
    res = subprocess.run([sys.executable, "-c", "from harness.cli import main; main()", "report", "--results",
                          str(fixture_results), "--out", str(out)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return out


def test_map_and_advice_in_the_html(fixture_site):
    index = (fixture_site / "index.html").read_text()
    assert "box-b: sum, float32, n=100k: torch is 4× faster than NumPy with the same 7 correct digits." in index
    page = (fixture_site / "kernel-sum.html").read_text()
    assert 'id="speed-accuracy"' in page and '<option value="100000" selected>' in page
    assert "0.0001 (≥ 4.0 digits, rigorous)" in page and "50% of roofline" in page  # bound and roofline beside the numbers


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    pytest.importorskip("selenium")
    from harness.report import screenshots

    try:
        d = screenshots.start_chromium(tmp_path_factory.mktemp("chrome-profile"))
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    yield d
    d.quit()


@pytest.mark.parametrize("width", [1400, 800])
def test_pages_in_chromium(fixture_site, browser, width, tmp_path):
    from harness.report import screenshots

    screenshots.set_width(browser, width)
    assert browser.execute_script("return window.innerWidth") == width
    for name in ("index.html", "kernel-sum.html"):
        screenshots.open_page(browser, fixture_site / name)
        assert screenshots.legend_problems(browser) == [], name
        maps = screenshots.drawn_maps(browser)
        shown = [m for m in maps if m["visible"]]
        assert shown and all(m["drawn"] >= len(m["points"]) for m in shown), (name, shown)
        # the index's small map and the kernel page's default (n=100k) map show the expected front
        at_default = [m for m in shown if "n = 1M" not in m["title"] and "n = 1k" not in m["title"]]
        assert at_default and all(m["front"] == EXPECTED_FRONT for m in at_default), (name, at_default)
        browser.save_screenshot(str(tmp_path / f"{Path(name).stem}-{width}.png"))
        assert (tmp_path / f"{Path(name).stem}-{width}.png").stat().st_size > 10_000


def test_legend_check_catches_a_legend_over_the_plot(fixture_site, browser):
    from harness.report import screenshots

    screenshots.set_width(browser, 1400)
    screenshots.open_page(browser, fixture_site / "kernel-sum.html")
    assert screenshots.legend_problems(browser) == []
    browser.execute_script(
        "var g = Array.from(document.querySelectorAll('.js-plotly-plot')).filter(e => e.offsetParent)[0];"
        "return Plotly.relayout(g, {'legend.orientation': 'v', 'legend.x': 0.3, 'legend.y': 0.6});")
    assert screenshots.legend_problems(browser), "a legend moved over the points was not reported"
