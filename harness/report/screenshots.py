"""Look at a built report the way a visitor does: headless Chromium at a given width,
screenshots, and checks on the drawn page (legends overlapping plots, maps drawn, the
Pareto points on each map).

Why in the browser: a figure's JSON can be right while the page is wrong (a legend
drawn over the points at 800 px, a map that never rendered). Needs selenium (the `test`
extra) and a Chromium with its chromedriver.

    python -m harness.report.screenshots SITE OUT [--pages index.html,kernel-sum.html] [--widths 1400,800]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

HEIGHT = 1600

# Rectangles of every visible figure: its box, its legend, and what a legend must not
# cover (the plot areas, colour bars and axis titles of the same figure).
_BOXES_JS = """
var out = [];
function box(e) { var r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }
document.querySelectorAll('.js-plotly-plot').forEach(function (g, i) {
  if (!g.offsetParent || g.closest('[hidden]')) return;
  var leg = g.querySelector('g.legend > rect.bg');  // the visible box: a long legend scrolls inside it
  var avoid = [];
  g.querySelectorAll('.draglayer .nsewdrag, g.colorbar, g.g-xtitle, g.g-ytitle').forEach(function (e) {
    var b = box(e); if (b[2] > b[0] && b[3] > b[1]) avoid.push(b);
  });
  out.push({fig: g.getAttribute('data-fig'), title: (g.layout.title && g.layout.title.text) || '',
            box: box(g), legend: leg ? box(leg) : null, avoid: avoid});
});
return out;
"""

# The drawn maps: per figure with a front trace, the keys of its front points and how
# many point markers plotly drew.
_MAPS_JS = """
var out = [];
document.querySelectorAll('.js-plotly-plot').forEach(function (g) {
  var fr = g.data.filter(function (t) { return t.meta && t.meta.role === 'front'; });
  var pts = g.data.filter(function (t) { return t.meta && t.meta.key; });
  if (!pts.length) return;
  out.push({fig: g.getAttribute('data-fig'), title: (g.layout.title && g.layout.title.text) || '',
            front: fr.length ? fr[0].customdata : [], points: pts.map(function (t) { return t.meta.key; }),
            drawn: g.querySelectorAll('.scatterlayer .point').length,
            visible: !!g.offsetParent && !g.closest('[hidden]')});
});
return out;
"""


def start_chromium(profile: Path, width: int = 1400, height: int = HEIGHT) -> webdriver.Chrome:
    """Headless Chromium with its own throwaway profile, no network services."""
    browser = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        raise FileNotFoundError("headless Chromium and chromedriver are needed (Debian: apt-get install chromium "
                                "chromium-driver)")
    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", f"--user-data-dir={profile}"):
        opts.add_argument(arg)
    opts.binary_location = browser
    d = webdriver.Chrome(service=Service(driver), options=opts)
    set_width(d, width)
    return d


def set_width(driver: webdriver.Chrome, width: int, height: int = HEIGHT) -> None:
    """Make the page's viewport (not the window) `width` CSS pixels wide."""
    driver.set_window_size(width, height)
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    driver.set_window_size(2 * width - inner[0], 2 * height - inner[1])


def open_page(driver: webdriver.Chrome, path: Path, timeout: float = 60) -> None:
    """Load a page and wait until report.js has drawn every figure."""
    driver.get(path.resolve().as_uri())
    deadline = time.time() + timeout
    while time.time() < deadline and not driver.execute_script("return document.body.getAttribute('data-ready')"):
        time.sleep(0.1)
    if driver.execute_script("return document.body.getAttribute('data-ready')") != "1":
        raise TimeoutError(f"{path.name}: report.js did not finish within {timeout:.0f} s")
    driver.execute_script("window.dispatchEvent(new Event('resize'))")
    time.sleep(0.5)


def _overlap(a: Sequence[float], b: Sequence[float], slack: float = 1.0) -> bool:
    return min(a[2], b[2]) - max(a[0], b[0]) > slack and min(a[3], b[3]) - max(a[1], b[1]) > slack


def legend_problems(driver: webdriver.Chrome) -> list[str]:
    """Every visible legend that covers a plot area, colour bar or axis title of its own
    figure, or that sticks out of its figure (clipped or over the next one)."""
    problems = []
    for f in driver.execute_script(_BOXES_JS):
        leg = f["legend"]
        if leg is None:
            continue
        hit = [a for a in f["avoid"] if _overlap(leg, a)]
        if hit:
            problems.append(f"{f['fig']} ({f['title']}): legend {leg} overlaps {hit[0]}")
        bx = f["box"]
        if leg[0] < bx[0] - 1 or leg[2] > bx[2] + 1 or leg[1] < bx[1] - 1 or leg[3] > bx[3] + 1:
            problems.append(f"{f['fig']} ({f['title']}): legend {leg} outside its figure {bx}")
    return problems


def drawn_maps(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """The speed–accuracy maps on the page: front keys, point keys, markers drawn."""
    return driver.execute_script(_MAPS_JS)


def shoot(site: Path, pages: Sequence[str], widths: Sequence[int], out: Path) -> list[Path]:
    """A screenshot of the top of each page at each width: OUT/<page>-<width>.png."""
    out.mkdir(parents=True, exist_ok=True)
    shots = []
    with tempfile.TemporaryDirectory(prefix="harness-chrome-") as profile:
        driver = start_chromium(Path(profile))
        try:
            for width in widths:
                set_width(driver, width)
                for name in pages:
                    open_page(driver, site / name)
                    path = out / f"{Path(name).stem}-{width}.png"
                    driver.save_screenshot(str(path))
                    shots.append(path)
        finally:
            driver.quit()
    return shots


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.report.screenshots", description=__doc__.split("\n\n")[0])
    ap.add_argument("site", type=Path, help="a folder built by `harness report`")
    ap.add_argument("out", type=Path, help="where the PNG files go")
    ap.add_argument("--pages", default="index.html,kernel-sum.html")
    ap.add_argument("--widths", default="1400,800")
    args = ap.parse_args(argv)
    pages = [p for p in args.pages.split(",") if p]
    missing = [p for p in pages if not (args.site / p).is_file()]
    if missing:
        print(f"error: not in {args.site}: {', '.join(missing)}; build it with `harness report --out {args.site}`",
              file=sys.stderr)
        return 2
    try:
        widths = [int(w) for w in args.widths.split(",") if w]
    except ValueError:
        print(f"error: --widths takes integers separated by commas, not {args.widths!r}", file=sys.stderr)
        return 2
    for path in shoot(args.site, pages, widths, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
