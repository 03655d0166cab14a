"""Issue 12, items 1 and 8 in the reports: unbounded cases are grey with their own
count (never green), and the speed advice leaves out out-of-bound cases and says so."""
import json
from types import SimpleNamespace

from harness.record import new_record
from harness.report.html import Figures
from harness.report.index_page import UNBOUNDED_GREY, error_heatmaps, kernel_list
from harness.report.kernel_page import KernelPage
from harness.report.style import Style


def rec(backend, size, t, verdict, ratio):
    return new_record(kernel="sum", impl=backend, backend=backend, device="cpu", dtype="float32", size=size,
                      status="ok", machine_id="m", commit="c", run_id="r", time_median_s=t, time_iqr_s=t / 10,
                      time_samples_s=[t] * 3, n_samples=3, transfer_s=0.0, rel_error=1e-7,
                      error_bound=None if ratio is None else 1e-7 / ratio, error_ratio=ratio,
                      accuracy_ok=verdict == "within", verdict=verdict, verdict_reason="test",
                      bound_kind="rigorous", u=2**-24, flops=size, bytes=4 * size)


RECS = [rec("numpy", 1000, 1e-3, "within", 0.1), rec("numpy", 10000, 1e-2, "within", 0.1),
        rec("jax", 1000, 1e-5, "out_of_bound", 1e5), rec("jax", 10000, 1e-4, "out_of_bound", 1e5),
        rec("torch", 1000, 1e-3, "unbounded", None), rec("torch", 10000, 1e-2, "unbounded", None)]


def _figures(html_figs):
    return [json.loads(b.split(">", 1)[1].rsplit("<", 1)[0]) for b in html_figs.blocks]


def test_unbounded_cells_are_grey_not_green():
    figs = Figures()
    error_heatmaps(RECS, figs)
    (fig,) = _figures(figs)
    grey, main = fig["data"]
    assert grey["colorscale"][0][1] == UNBOUNDED_GREY
    col = main["x"].index("torch")
    assert main["z"][0][col] is None and grey["z"][0][col] == 1  # not on the green scale
    assert "∅" in main["text"][0][col]


def test_index_fastest_leaves_out_out_of_bound_and_counts_unbounded():
    html = kernel_list(SimpleNamespace(kernels=["sum"], machines=["m"]), RECS)
    fastest = html.split("fastest at the largest size", 1)[1]
    assert "jax" not in fastest and "leaving out 0 failed and 2 out-of-bound" in fastest
    assert "2 unbounded" in html and "2 over bound" in html


def test_kernel_page_advice_leaves_out_out_of_bound():
    page = KernelPage("sum", RECS, RECS, Style(["numpy", "jax", "torch"], ["m"]))
    adv = page.advice()
    assert "<b>jax</b>" not in adv and "Left out of this advice" in adv and "2 case(s) out of their" in adv
    assert "2 unbounded" in page.header()
