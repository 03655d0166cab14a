"""`harness report`: a site built from real runs on two "machines", checked in headless
Chromium (rendered plots, no console errors, working filters, no remote scripts, XSS)."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.record import SCHEMA, SCHEMA_VERSION, new_record

XSS = "<script>alert(1)</script>"
MACHINES = ("machine-a", "machine-b")


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-c", "from harness.cli import main; main()", *args],
                          capture_output=True, text=True, env=env)


def write_xss_run(folder: Path) -> None:
    """A hand-written results file whose names and metadata are all markup."""
    folder.mkdir(parents=True)
    header = {"kind": "header", "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "run_id": XSS,
              "machine_id": XSS, "commit": "feedc0de", "started": "2025-01-01T00:00:00+00:00",
              "machine": {"cpu": '<img src=x onerror="alert(2)">', "os": XSS, "gpus": [{"name": XSS}],
                          "devices": {XSS: [{"device": XSS}]}}}
    lines = [json.dumps(header)]
    for backend, t in (("numpy", 1e-3), ('"><img src=x onerror=alert(3)>', 5e-4)):
        for size in (10, 100):
            rec = new_record(kernel=XSS, impl=backend, backend=backend, device=XSS, dtype="float32", size=size,
                             status="ok", message=XSS, machine_id=XSS, commit="feedc0de", run_id=XSS,
                             time_median_s=t * size, time_iqr_s=t, time_samples_s=[t * size] * 3, n_samples=3,
                             transfer_s=t, rel_error=1e-7, error_bound=1e-6, error_ratio=0.1, accuracy_ok=True,
                             deterministic=True, output_sha256=XSS, u=2**-24, flops=size, bytes=size * 4,
                             divergence={XSS: XSS, "build_options": {XSS: [XSS]}}, accumulation_dtype=XSS,
                             error_model={"metric": "normwise", "source": XSS, "growth_slope": 0.5},
                             profile={"x_label": XSS, "x": [1, 2, 3], "error": [1e-7, 2e-7, 3e-7]})
            lines.append(json.dumps({"kind": "record", **rec}))
    (folder / "run.jsonl").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    procs = []
    for machine in MACHINES:  # two machines' folders, run side by side on the 2 cores
        env = {**os.environ, "HARNESS_MACHINE_ID": machine}
        procs.append(subprocess.Popen(
            [sys.executable, "-c", "from harness.cli import main; main()", "run", "--kernels", "saxpy,sum",
             "--sizes", "100,1000", "--budget", "0.01", "--backends", "numpy,torch,opencl", "--out", str(results),
             "--quiet"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    write_xss_run(results / "xss")
    out = tmp_path_factory.mktemp("site")
    res = run_cli("report", "--results", str(results), "--out", str(out))
    assert res.returncode == 0, res.stderr
    return results, out


def pages(out: Path):
    return sorted(out.glob("*.html"))


def test_site_has_every_kernel_page_and_one_plotly_bundle(site):
    results, out = site
    names = {p.name for p in pages(out)}
    assert {"index.html", "kernel-saxpy.html", "kernel-sum.html"} <= names
    assert len(names) == 4  # plus the XSS kernel, under a safe file name
    assert (out / "assets" / "plotly.min.js").stat().st_size > 1_000_000
    assert len(list(out.rglob("plotly*.js"))) == 1
    index = (out / "index.html").read_text()
    for m in MACHINES:
        assert m in index
    for p in pages(out):
        assert p.name in index or p.name == "index.html"


def test_no_remote_scripts_and_markup_escaped(site):
    _, out = site
    for p in pages(out):
        text = p.read_text()
        srcs = re.findall(r"<script[^>]*\bsrc\s*=\s*[\"']?([^\"' >]+)", text, flags=re.I)
        assert srcs == ["assets/plotly.min.js", "assets/report.js"], (p.name, srcs)
        assert not re.search(r"<script[^>]*src\s*=\s*[\"']?\s*(https?:)?//", text, flags=re.I)
        assert "<script>alert" not in text and "<img src=x" not in text
        # every <script> is either one of ours or a JSON data block
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert 'type="application/json"' in tag or "src=" in tag, tag


def test_report_usage_errors(tmp_path):
    res = run_cli("report", "--results", str(tmp_path / "missing"), "--out", str(tmp_path / "site"))
    assert res.returncode == 2 and "no results" in res.stderr
    (tmp_path / "empty").mkdir()
    res = run_cli("report", "--results", str(tmp_path / "empty"), "--out", str(tmp_path / "site"))
    assert res.returncode == 2 and "no result records" in res.stderr


def test_advice_and_slopes_from_data():
    from harness.report.data import crossover, fit_slope

    assert fit_slope([10, 100, 1000], [1e-8, 1e-7, 1e-6]) == pytest.approx(1.0)
    assert fit_slope([10, 100], [0.0, 1e-7]) is None
    c = crossover([100, 1000, 10000], [4.0, 2.0, 0.5])
    assert c["kind"] == "from" and c["from"] == 10000 and 1000 < c["estimate"] < 10000
    assert crossover([100, 1000], [0.5, 0.9])["kind"] == "always"
    assert crossover([100, 1000], [2.0, 1.5])["kind"] == "never"


# ---- the browser ----------------------------------------------------------------------

def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    browser, chromedriver = _chromium(), shutil.which("chromedriver")
    if not browser or not chromedriver:
        pytest.skip("headless Chromium not installed (Debian: apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", f"--user-data-dir={tmp_path_factory.mktemp('chrome-profile')}"):
        opts.add_argument(arg)
    opts.binary_location = browser
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(chromedriver), options=opts)
    d.set_window_size(1400, 1600)
    yield d
    d.quit()


def load(driver, path: Path):
    from selenium.common.exceptions import NoAlertPresentException

    driver.get_log("browser")  # drop earlier pages' messages
    driver.get(path.resolve().as_uri())
    deadline = time.time() + 30
    while time.time() < deadline and not driver.execute_script("return document.body.getAttribute('data-ready')"):
        time.sleep(0.1)
    assert driver.execute_script("return document.body.getAttribute('data-ready')") == "1", "report.js did not finish"
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors


def plots_rendered(driver) -> tuple[int, int]:
    return driver.execute_script(
        "var d = document.querySelectorAll('div[data-fig]');"
        "var r = Array.from(d).filter(e => e.classList.contains('js-plotly-plot') && e.querySelector('svg.main-svg'));"
        "return [d.length, r.length];")


def visible_traces(driver, title_part: str) -> list[dict]:
    return driver.execute_script(
        "var q = arguments[0], out = [];"
        "document.querySelectorAll('.js-plotly-plot').forEach(function (g) {"
        "  var t = (g.layout && g.layout.title && g.layout.title.text) || '';"
        "  if (t.indexOf(q) < 0) return;"
        "  g.data.forEach(function (tr) { if (tr.visible !== false) out.push(tr.meta || {}); });"
        "});"
        "return out;", title_part)


def test_index_in_chromium(site, driver, tmp_path):
    _, out = site
    load(driver, out / "index.html")
    total, rendered = plots_rendered(driver)
    assert total >= 4 and rendered == total
    driver.save_screenshot(str(tmp_path / "index.png"))
    assert (tmp_path / "index.png").stat().st_size > 10_000
    body = driver.find_element("tag name", "body").text
    assert XSS in body  # shown as text
    # machine filter: unticking machine-b hides its heatmap panels and its machine row
    shown = "return Array.from(document.querySelectorAll('[data-f-machine=\"machine-b\"]')).filter(e => e.offsetParent !== null).length"
    assert driver.execute_script(shown) > 0
    driver.find_element("css selector", 'input[data-dim="machine"][value="machine-b"]').click()
    assert driver.execute_script(shown) == 0
    # backend filter: unticking torch drops the torch column from the heatmaps
    cols = "return Array.from(document.querySelectorAll('.js-plotly-plot')).map(g => g.data[0].x.length)"
    before = driver.execute_script(cols)
    driver.find_element("css selector", 'input[data-dim="backend"][value="torch"]').click()
    after = driver.execute_script(cols)
    assert sum(after) < sum(before)


def test_kernel_page_in_chromium(site, driver, tmp_path):
    _, out = site
    load(driver, out / "kernel-sum.html")
    total, rendered = plots_rendered(driver)
    assert total >= 5 and rendered == total
    driver.save_screenshot(str(tmp_path / "kernel-sum.png"))
    traces = visible_traces(driver, "Time per call")
    assert {t.get("backend") for t in traces} >= {"numpy", "torch"}
    assert {t.get("machine") for t in traces} == set(MACHINES)
    rows = "return document.querySelectorAll('tr[data-f-backend=\"torch\"]:not(.filtered-out)').length"
    assert driver.execute_script(rows) > 0
    driver.find_element("css selector", 'input[data-dim="backend"][value="torch"]').click()
    after = visible_traces(driver, "Time per call")
    assert 0 < len(after) < len(traces)
    assert "torch" not in {t.get("backend") for t in after}
    assert driver.execute_script(rows) == 0
    # dtype filter on the error plot keeps only float64 lines and guides
    driver.find_element("css selector", 'input[data-dim="dtype"][value="float32"]').click()
    assert {t.get("dtype") for t in visible_traces(driver, "Error against size")} <= {"float64", None}


def test_xss_kernel_page_in_chromium(site, driver, tmp_path):
    _, out = site
    from harness.report.html import page_file

    path = out / page_file(XSS)
    load(driver, path)
    assert driver.title.startswith(XSS)
    body = driver.find_element("tag name", "body").text
    assert XSS in body
    assert driver.execute_script("return document.querySelectorAll('img[src=\"x\"]').length") == 0
    # only the two site scripts and JSON blocks exist in the live DOM
    scripts = driver.execute_script(
        "return Array.from(document.scripts).map(s => s.type === 'application/json' ? 'json' : s.getAttribute('src'))")
    assert set(scripts) == {"json", "assets/plotly.min.js", "assets/report.js"}
    driver.save_screenshot(str(tmp_path / "xss.png"))
