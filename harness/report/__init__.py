"""Static HTML reports: an index and one page per kernel, readable offline from disk.

plotly.js is copied once into `<out>/assets/` from the installed plotly package and
every page loads it with a relative <script src>, so nothing is fetched from the
network. Pages carry their data as JSON blocks; assets/report.js draws the figures and
runs the filters in the browser.
"""
from __future__ import annotations

import filecmp
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

ASSETS = Path(__file__).parent / "assets"


@dataclass
class Site:
    out: Path
    index: Path
    pages: dict[str, Path] = field(default_factory=dict)
    n_records: int = 0
    machines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: kernels whose page was (re)built this time; the others were unchanged.
    rebuilt: list[str] = field(default_factory=list)


def plotly_js_path() -> Path:
    """plotly's own minified bundle, shipped inside the plotly Python package."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"plotly.min.js not found in the installed plotly package ({path}); "
                                "reinstall plotly")
    return path


def _copy_if_changed(src: Path, dst: Path) -> None:
    if not dst.exists() or not filecmp.cmp(src, dst, shallow=False):
        shutil.copyfile(src, dst)


def write_assets(out: Path) -> None:
    assets = out / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    _copy_if_changed(plotly_js_path(), assets / "plotly.min.js")
    for name in ("report.js", "report.css"):
        _copy_if_changed(ASSETS / name, assets / name)


def build_report(results: Sequence[str | Path], out: str | Path = "reports") -> Site:
    """Build the site from every results file under `results` into `out`; returns what was
    written. Kernel pages whose inputs are unchanged since the last build are kept."""
    from .data import impl_label, load
    from .html import page_file
    from .implementations import declarations_signature
    from .index_page import build_index
    from .kernel_page import KernelPage
    from .rebuild import code_signature, fingerprint, read_state, write_state
    from .style import Style

    rs = load(results)
    if not rs.records:
        where = ", ".join(str(p) for p in results)
        raise ValueError(f"no result records found under {where}; run `harness run` first"
                         + (f" ({'; '.join(rs.warnings)})" if rs.warnings else ""))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_assets(out)
    style = Style((impl_label(r) for r in [*rs.records, *rs.history]), rs.machines)
    site = Site(out=out, index=out / "index.html", n_records=rs.n_records, machines=rs.machines,
                warnings=rs.warnings)
    built, code = read_state(out), code_signature() + declarations_signature()
    state: dict[str, str] = {}
    for kernel in rs.kernels:
        recs = [r for r in rs.records if r["kernel"] == kernel]
        history = [r for r in rs.history if r["kernel"] == kernel]
        path = out / page_file(kernel)
        state[path.name] = fingerprint(code, style, recs, history)
        if built.get(path.name) != state[path.name] or not path.is_file():
            path.write_text(KernelPage(kernel, recs, history, style).build(), encoding="utf-8")
            site.rebuilt.append(kernel)
        site.pages[kernel] = path
    site.index.write_text(build_index(rs), encoding="utf-8")
    write_state(out, state)
    return site
