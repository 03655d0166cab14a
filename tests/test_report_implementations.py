"""Issue 17, item 3: the kernel page says which implementations are generic (one Array
API expression, declared with `array_api_implementation`) and which are hand-written,
with the declared notes as the reason; the declaration decides, not the name."""
import re
from types import SimpleNamespace

from harness.declarations import array_api_implementation, collecting, implementation
from harness.record import new_record
from harness.report.implementations import declared_implementations
from harness.report.index_page import kernel_list
from harness.report.kernel_page import KernelPage
from harness.report.style import Style


def rec(kernel, backend, impl):
    return new_record(kernel=kernel, impl=impl, backend=backend, device="cpu", dtype="float32", size=100,
                      status="ok", machine_id="m", commit="c", run_id="r", time_median_s=1e-3, time_iqr_s=1e-4,
                      time_samples_s=[1e-3] * 3, n_samples=3, transfer_s=0.0, rel_error=1e-7, error_bound=1e-6,
                      error_ratio=0.1, accuracy_ok=True, verdict="within", verdict_reason="", bound_kind="rigorous",
                      u=2**-24, flops=100, bytes=400)


def rows(html):
    """{implementation cell: (kind cell, reason cell)} of the Implementations table, as text."""
    section = html.split("<h2>Implementations</h2>", 1)[1].split("</table>", 1)[0]
    out = {}
    for tr in re.findall(r"<tr >(.*?)</tr>", section):
        cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td>(.*?)</td>", tr)]
        out[cells[0]] = (cells[1], cells[2])
    return out


def toy_declarations():
    with collecting("test:kinds") as sc:
        @array_api_implementation("toy", ["numpy", "torch"])
        def toy(xp, x):
            return x + 1

        @implementation("toy", "torch", notes="torch.add, its own routine")
        def toy_torch(device, x):
            return x + 1

        # hand-written, though named as the generic ones are: its declaration decides
        @implementation("toy", "opencl", "array_api")
        def toy_opencl(device, x):
            return x + 1
    return declared_implementations("toy", sc.impls)


def test_generic_and_hand_written_are_marked_from_their_declarations():
    recs = [rec("toy", b, i) for b, i in [("numpy", "array_api"), ("torch", "array_api"), ("torch", "torch"),
                                          ("opencl", "array_api")]]
    page = KernelPage("toy", recs, recs, Style(["numpy:array_api", "torch:array_api", "torch", "opencl:array_api"],
                                               ["m"]), declared=toy_declarations())
    got = rows(page.implementations())
    assert set(got) == {"numpy:array_api, torch:array_api", "torch", "opencl:array_api"}
    kind, reason = got["numpy:array_api, torch:array_api"]
    assert kind.startswith("generic") and "numpy, torch" in kind and "hand-written" not in kind
    assert reason == "written once against the Array API standard"
    assert got["torch"] == ("hand-written", "torch.add, its own routine")
    assert got["opencl:array_api"] == ("hand-written", "none declared")
    assert "<h2>Implementations</h2>" in page.build()


def test_undeclared_implementations_are_generic_only_by_the_generic_name():
    recs = [rec("gone", "numpy", "array_api"), rec("gone", "numpy", "numpy"), rec("gone", "opencl", "opencl_tree")]
    got = rows(KernelPage("gone", recs, recs, Style(["numpy"], ["m"]), declared={}).implementations())
    assert got["numpy:array_api"][0].startswith("generic")
    assert got["numpy"] == ("hand-written", "none declared")
    assert got["opencl:opencl_tree"] == ("hand-written", "none declared")


def test_a_builtin_kernel_page_follows_the_registry(registry):
    impls = registry.implementations("dot")
    recs = [rec("dot", i.backend, i.name) for i in impls]
    got = rows(KernelPage("dot", recs, recs, Style(["numpy"], ["m"]),
                          declared=declared_implementations("dot", impls)).implementations())
    generic = next(k for k in got if "array_api" in k)
    assert got[generic][0].startswith("generic")
    assert sorted(generic.split(", ")) == sorted(f"{i.backend}:{i.name}" for i in impls if i.generic)
    assert all(got[k][0] == "hand-written" for k in got if k != generic)
    assert "BLAS ?dot" in got["numpy"][1]


def test_index_says_what_the_labels_mean():
    recs = [rec("toy", "numpy", "array_api")]
    html = kernel_list(SimpleNamespace(kernels=["toy"], machines=["m"]), recs)
    assert "hand-written" in html and "generic" in html
