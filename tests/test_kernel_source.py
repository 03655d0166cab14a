"""Kernel sources with includes: the splicing both compile paths use (kernel_source), the
CUDA sources through nvcc, and the OpenCL sources on a real device."""
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.backends.kernel_source import KernelSourceError, expand, kernels_root

KERNELS = Path(str(kernels_root()))
CUDA_SOURCES = sorted(p.name for p in (KERNELS / "cuda").glob("*.cu"))
#: The defines each CUDA source is compiled with by its kernel module, besides REAL.
CUDA_DEFINES = {"mlp_xor.cu": ("-DH=8", "-DWG=64"), "nbody.cu": ("-DWG=256",),
                "quadratic_fit.cu": ("-DWG=256",)}


def _tree(tmp_path, files):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_includes_are_spliced_once_with_line_directives(tmp_path):
    root = _tree(tmp_path, {
        "shared/device.h": "#define DEVICE_FN inline\n",
        "shared/a.h": '#include "device.h"\nDEVICE_FN int a(void) { return 1; }\n',
        "cl/k.cl": '// k\n#include "../shared/a.h"\n#include "../shared/device.h"\n#include <stdio.h>\nint k;\n',
    })
    src = expand("cl/k.cl", root)
    assert src.files == ("cl/k.cl", "shared/a.h", "shared/device.h")
    assert src.text.count("#define DEVICE_FN inline") == 1  # the second include adds nothing
    assert '#line 1 "shared/a.h"' in src.text and '#line 1 "shared/device.h"' in src.text
    assert '#line 2 "shared/a.h"' in src.text  # back in a.h after its include
    assert '#line 3 "cl/k.cl"' in src.text and '#line 4 "cl/k.cl"' in src.text
    assert "#include <stdio.h>" in src.text  # not a kernel file: left to the compiler
    assert src.text.rstrip().endswith("int k;")


def test_a_missing_include_names_the_including_line_and_the_path(tmp_path):
    root = _tree(tmp_path, {"cl/k.cl": '#include "_ok.cl"\n', "cl/_ok.cl": '\n\n#include "../shared/nope.h"\n'})
    with pytest.raises(KernelSourceError) as info:
        expand("cl/k.cl", root)
    msg = str(info.value)
    assert 'cl/_ok.cl:3: #include "../shared/nope.h"' in msg and "harness/kernels/shared/nope.h" in msg


def test_an_edited_header_gives_a_new_text(tmp_path):
    root = _tree(tmp_path, {"shared/h.h": "#define X 1\n", "cuda/k.cu": '#include "../shared/h.h"\n'})
    assert "#define X 1" in expand("cuda/k.cu", root).text
    (root / "shared/h.h").write_text("#define X 22\n")
    assert "#define X 22" in expand("cuda/k.cu", root).text  # what a compiler cache keys on changes


def test_every_kernel_file_splices():
    for path in sorted((KERNELS / "cl").glob("*.cl")) + sorted((KERNELS / "cuda").glob("*.cu")):
        src = expand(f"{path.parent.name}/{path.name}")
        assert not [line for line in src.text.splitlines() if line.startswith('#include "')], path.name


def _nvcc(tmp_path, name, real, text):
    cu = tmp_path / f"{name}.{real}.cu"
    cu.write_text(text)
    args = ["nvcc", "--ptx", "-arch=compute_80", f"-DREAL={real}", *CUDA_DEFINES.get(name, ()),
            str(cu), "-o", str(tmp_path / f"{name}.{real}.ptx")]
    return subprocess.run(args, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("name", CUDA_SOURCES)
def test_cuda_source_compiles_to_ptx(tmp_path, name):
    """What CuPy's RawModule is given (the spliced text) compiles, for float and double."""
    if shutil.which("nvcc") is None:
        pytest.skip("nvcc is not on PATH")
    text = expand(f"cuda/{name}").text
    for real in ("float", "double"):
        out = _nvcc(tmp_path, name, real, text)
        assert out.returncode == 0, f"nvcc {name} REAL={real}:\n{out.stderr[-2000:]}"
        assert ".entry" in (tmp_path / f"{name}.{real}.ptx").read_text()


def test_nvcc_check_fails_on_a_broken_shared_header(tmp_path):
    """The compile check can fail: a shared header with a type error is reported."""
    if shutil.which("nvcc") is None:
        pytest.skip("nvcc is not on PATH")
    text = expand("cuda/adam.cu").text.replace("const REAL one = (REAL)1;", "const REAL one = (REAL)1; undeclared_name;")
    assert "undeclared_name" in text
    out = _nvcc(tmp_path, "adam.cu", "float", text)
    assert out.returncode != 0 and "undeclared_name" in out.stderr


#: The OpenCL sources that include shared device code, each with the defines its kernel
#: module builds it with (besides REAL from the dtype).
SHARED_CL = {"adam.cl": {}, "black_scholes.cl": {}, "mandelbrot.cl": {"VW": 8}, "nbody.cl": {"WG": 128},
             "quadratic_fit.cl": {}, "mlp_xor.cl": {"H": 8, "WG": 64}}


def _cl_files(name):
    return expand(f"cl/{name}").files


def test_the_shared_sources_do_include_shared_headers():
    for name in SHARED_CL:
        assert any(f.startswith("shared/") for f in _cl_files(name)), name
    for name in ("adam.cu", "black_scholes.cu", "mandelbrot.cu", "nbody.cu", "quadratic_fit.cu", "mlp_xor.cu"):
        assert any(f.startswith("shared/") for f in expand(f"cuda/{name}").files), name


@pytest.mark.opencl
@pytest.mark.parametrize("name", sorted(SHARED_CL))
def test_opencl_sources_with_shared_headers_build(registry, name):
    from conftest import backend_or_skip

    for dev in backend_or_skip(registry, "opencl").devices():
        for dtype in ("float16", "float32", "float64"):  # half: mandelbrot's masks were ints once
            if dev.dtype_unsupported(dtype):
                continue
            prg = dev.compile(name, dtype, **SHARED_CL[name])
            assert prg.program.get_info(dev.cl.program_info.NUM_KERNELS) >= 1


def _kernel_tree(tmp_path):
    """A copy of harness/kernels/ (cl/ and shared/) to break things in."""
    for sub in ("cl", "shared"):
        shutil.copytree(KERNELS / sub, tmp_path / sub)
    return tmp_path


def _device_reading(registry, root):
    from conftest import backend_or_skip

    from harness.backends.opencl_backend import OpenCLDevice

    dev = backend_or_skip(registry, "opencl").devices()[0]
    fresh = OpenCLDevice(dev.cl, dev.platform, dev.device, dev.index)
    fresh.kernel_root = root
    return fresh


@pytest.mark.opencl
def test_opencl_build_with_a_missing_shared_header_fails_clearly(registry, tmp_path):
    root = _kernel_tree(tmp_path)
    (root / "shared" / "adam.h").unlink()
    dev = _device_reading(registry, root)
    with pytest.raises(KernelSourceError, match=r'cl/adam.cl:3: #include "../shared/adam.h".*shared/adam.h'):
        dev.compile("adam.cl", "float32")


@pytest.mark.opencl
def test_opencl_build_error_in_a_shared_header_names_the_header(registry, tmp_path):
    import pyopencl as cl

    root = _kernel_tree(tmp_path)
    header = root / "shared" / "black_scholes.h"
    header.write_text(header.read_text().replace("const REAL sq = v * sqrt(t);", "const REAL sq = v * sqrt(t) + no_such_name;"))
    dev = _device_reading(registry, root)
    with pytest.raises(cl.RuntimeError) as info:
        dev.compile("black_scholes.cl", "float32")
    assert "no_such_name" in str(info.value) and "shared/black_scholes.h" in str(info.value)


@pytest.mark.opencl
def test_an_edited_shared_header_is_rebuilt_not_served_from_a_cache(registry, tmp_path):
    """pyopencl keeps built binaries on disk, keyed on the program text: a header edited
    behind an include must reach the next device that builds (the next process), not a
    stale binary of the text before."""
    import pyopencl as cl

    root = _kernel_tree(tmp_path)
    first = _device_reading(registry, root)
    first.compile("adam.cl", "float32")
    header = root / "shared" / "adam.h"
    header.write_text(header.read_text() + "\n#error edited header\n")
    with pytest.raises(cl.RuntimeError, match="edited header"):
        _device_reading(registry, root).compile("adam.cl", "float32")
