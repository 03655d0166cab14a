"""Plugins: the example Numba plugin found through its entry point (a temporary
dist-info, never installed into the environment), broken plugins that must not break the
harness, and the registry's isolation rules."""
from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "harness-numba"
NUMBA_KERNELS = ("saxpy", "sum", "matmul", "mandelbrot", "vadd", "relu", "dot")


def harness(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "HARNESS_MACHINE_ID": "test-machine", **(env or {})}
    return subprocess.run([sys.executable, "-c", "from harness.cli import main; main()", *args],
                          capture_output=True, text=True, env=full_env, timeout=timeout, cwd=ROOT)


def entry_point_site(site: Path, dist: str, version: str, entry_points: dict[str, dict[str, str]]) -> Path:
    """Make `site` look like an installed distribution: a dist-info folder with METADATA
    and entry_points.txt. On PYTHONPATH it is found by importlib.metadata exactly like a
    pip-installed one, and the environment itself stays as it was."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in eps.items())
        for group, eps in entry_points.items()))
    return site


def installed_distributions() -> set[str]:
    """The distributions a fresh interpreter of this environment sees (this process's own
    PYTHONPATH, not a fixture's)."""
    code = "import importlib.metadata as m; print('\\n'.join(sorted({d.metadata['Name'] for d in m.distributions()})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.fixture(scope="session")
def distributions_before() -> set[str]:
    return installed_distributions()


@pytest.fixture(scope="session")
def numba_plugin(tmp_path_factory, distributions_before) -> dict:
    """The example plugin as if installed: its sources copied to a temporary folder (so
    Numba's cache and __pycache__ stay out of the working tree) beside a dist-info made
    from its pyproject.toml; returns the PYTHONPATH that finds it. Nothing is pip
    installed, so the environment after the tests is the one before."""
    import tomllib

    pytest.importorskip("numba")
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    site = tmp_path_factory.mktemp("numba_site")
    shutil.copytree(EXAMPLE / "src" / "harness_numba", site / "harness_numba",
                    ignore=shutil.ignore_patterns("__pycache__"))
    entry_point_site(site, project["name"], project["version"], project["entry-points"])
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}


# --- the example plugin ------------------------------------------------------------------------

def test_import_harness_loads_no_plugin():
    code = ("import sys, harness, harness.plugin_api; "
            "print(sorted(m for m in ('harness_numba', 'numba', 'torch', 'pyopencl', 'cupy', "
            "'harness.plugins') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_numba_plugin_installs_nothing(numba_plugin, distributions_before):
    """The plugin tests use a temporary entry point: the environment keeps the same
    distributions, so no numba backend shows up in the user's own `harness list`."""
    assert installed_distributions() == distributions_before
    plain = subprocess.run([sys.executable, "-c", "from harness.cli import main; main()", "list", "--json"],
                           capture_output=True, text=True, cwd=ROOT, timeout=300,
                           env={**os.environ, "HARNESS_MACHINE_ID": "test-machine"})
    if "harness-numba" not in distributions_before:
        assert "numba" not in {b["name"] for b in json.loads(plain.stdout)["backends"]}


def test_numba_plugin_listed(numba_plugin):
    proc = harness("list", "--json", env=numba_plugin)
    assert proc.returncode == 0, proc.stderr
    inv = json.loads(proc.stdout)
    numba = next(b for b in inv["backends"] if b["name"] == "numba")
    assert numba["origin"] == "harness-numba:numba"
    assert numba["available"], numba["reason"]
    assert numba["devices"][0]["dtypes"] == ["float32", "float64"]
    implemented = {k["name"] for k in inv["kernels"] if "numba:numba" in k["implementations"]}
    assert len(implemented) >= 5
    assert implemented == set(NUMBA_KERNELS) & {k["name"] for k in inv["kernels"]}
    assert not [f for f in inv["failures"] if f["origin"].startswith("harness-numba")]


def test_numba_passes_check_backend(numba_plugin):
    # Runs first among the slow ones: it compiles every kernel, and Numba's disk cache
    # (cache=True) makes the later processes start warm.
    proc = harness("check-backend", "numba", "--json", env=numba_plugin, timeout=600)
    report = json.loads(proc.stdout)
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    assert proc.returncode == 0 and report["passed"], failed
    names = {c["check"] for c in report["checks"] if c["status"] == "pass"}
    assert {"registration", "available", "dtypes", "transfer float32", "transfer float64", "timer",
            "synchronize", "timer on device work"} <= names
    kernel_passes = [n for n in names if n.startswith("kernel ")]
    assert len(kernel_passes) >= 10  # at least five kernels, in float32 and float64


def test_numba_runs_in_harness_run(numba_plugin, tmp_path):
    from harness.store import iter_runs

    proc = harness("run", "--backends", "numba", "--kernels", "saxpy,sum,matmul,mandelbrot",
                   "--preset", "test", "--dtypes", "float32,float64", "--budget", "0.01", "--quiet",
                   "--out", str(tmp_path), env=numba_plugin)
    assert proc.returncode == 0, proc.stderr
    records = [r for _, _, recs in iter_runs(tmp_path) for r in recs]
    numba = [r for r in records if r["backend"] == "numba"]
    assert len(numba) == 2 * (4 + 5 + 4 + 4)  # two dtypes x the test sizes of the four kernels
    bad = [(r["case_id"], r["status"], r.get("message")) for r in numba
           if r["status"] != "ok" or not (r.get("accuracy_ok") or
                                          (r["verdict"] == "unbounded" and (r["kernel"], r["size"]) == ("mandelbrot", 1)))]
    assert not bad
    assert {r["impl"] for r in numba} == {"numba"}
    assert all(r["time_median_s"] > 0 and r["timer"] == "perf_counter_ns" for r in numba)


# --- broken plugins ---------------------------------------------------------------------------

BROKEN = {
    # distribution: (group, entry point name, value, {module file: source})
    "broken-import": ("harness.backends", "importfail", "broken_import",
                      {"broken_import.py": "import a_module_that_does_not_exist_anywhere\n"}),
    "broken-register": ("harness.backends", "raising", "broken_register:register",
                        {"broken_register.py": """
                            def register():
                                raise RuntimeError("registration exploded")
                        """}),
    "dup-kernel": ("harness.kernels", "dupkernel", "dup_kernel", {"dup_kernel.py": """
        import numpy as np
        from harness.plugin_api import ErrorModel, KernelSpec, implementation, register_kernel

        def spec(name):
            return KernelSpec(
                name=name, description="2x", size_meaning="length", generate=lambda n, rng: {"x": rng.random(n)},
                reference=lambda inp, dtype: 2 * inp["x"], flops=lambda n: n, bytes_moved=lambda n, b: 2 * n * b,
                error_model=ErrorModel(metric="normwise", bound=lambda c: 0.0, source="exact"),
                sizes={"quick": (10,), "full": (10,), "test": (3, 10)})

        register_kernel(spec("saxpy"))       # a duplicate of a built-in kernel: rejected
        register_kernel(spec("plugin_twice"))  # fine: the rest of the plugin still works

        @implementation("saxpy", "numpy", "plugin")  # written for the rejected spec: rejected
        def bad(dev, x):
            return 2 * x

        @implementation("plugin_twice", "numpy")
        def twice(dev, x):
            return x + x
    """}),
    "unknown-kernel": ("harness.kernels", "unknownkernel", "unknown_kernel", {"unknown_kernel.py": """
        from harness.plugin_api import implementation

        @implementation("no_such_kernel", "numpy")
        def impl(dev, x):
            return x
    """}),
}


@pytest.fixture(scope="module")
def broken_plugins(tmp_path_factory) -> dict:
    """Four installed-looking distributions (dist-info with entry_points.txt) on PYTHONPATH."""
    site = tmp_path_factory.mktemp("broken_site")
    for dist, (group, name, value, files) in BROKEN.items():
        info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[{group}]\n{name} = {value}\n")
        for fname, src in files.items():
            (site / fname).write_text(textwrap.dedent(src))
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": path}


def test_broken_plugins_listed_as_failures(broken_plugins):
    proc = harness("list", "--json", env=broken_plugins)
    assert proc.returncode == 0, proc.stderr
    inv = json.loads(proc.stdout)
    fails = {(f["origin"], f["what"]): f["reason"] for f in inv["failures"]}
    by_origin = {o: r for (o, _), r in fails.items()}
    assert "a_module_that_does_not_exist_anywhere" in by_origin["broken-import:importfail"]
    assert "ModuleNotFoundError" in by_origin["broken-import:importfail"]
    assert "registration exploded" in by_origin["broken-register:raising"]
    assert "already registered" in fails[("dup-kernel:dupkernel", "kernel 'saxpy'")]
    assert "was rejected" in fails[("dup-kernel:dupkernel", "implementation saxpy/numpy/plugin")]
    assert "unknown kernel 'no_such_kernel'" in by_origin["unknown-kernel:unknownkernel"]
    backends = {b["name"]: b for b in inv["backends"]}
    # failed backend plugins stay visible as unavailable backends, with the reason
    assert not backends["importfail"]["available"]
    assert "broken-import:importfail" in backends["importfail"]["reason"]
    assert "registration exploded" in backends["raising"]["reason"]
    assert backends["numpy"]["available"]
    kernels = {k["name"]: k for k in inv["kernels"]}
    assert kernels["saxpy"]["origin"] == "builtin"
    assert "numpy:plugin" not in kernels["saxpy"]["implementations"]
    assert kernels["plugin_twice"]["origin"] == "dup-kernel:dupkernel"

    table = harness("list", env=broken_plugins)
    assert table.returncode == 0, table.stderr
    assert "Plugin failures" in table.stdout and "broken-import:importfail" in table.stdout


def test_harness_run_survives_broken_plugins(broken_plugins, tmp_path):
    from harness.store import iter_runs

    proc = harness("run", "--backends", "numpy,importfail,raising", "--kernels", "saxpy,plugin_twice",
                   "--preset", "test", "--dtypes", "float64", "--budget", "0.01", "--quiet",
                   "--out", str(tmp_path), env=broken_plugins)
    assert proc.returncode == 0, proc.stderr
    records = [r for _, _, recs in iter_runs(tmp_path) for r in recs]
    ok = {(r["kernel"], r["backend"]) for r in records if r["status"] == "ok" and r["accuracy_ok"]}
    assert {("saxpy", "numpy"), ("plugin_twice", "numpy")} <= ok
    assert {r["backend"] for r in records if r["status"] != "ok"} == set()  # placeholders have no impls


def test_check_backend_usage_errors():
    proc = harness("check-backend", "no_such_backend", env={"HARNESS_NO_PLUGINS": "1"})
    assert proc.returncode == 2
    assert "valid backends: numpy" in proc.stderr


def test_check_backend_failing_backend_exits_1(broken_plugins):
    proc = harness("check-backend", "importfail", "--json", env=broken_plugins)
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    status = {c["check"]: c["status"] for c in report["checks"]}
    assert status["registration"] == "fail" and status["available"] == "fail"


# --- registry rules, in process ----------------------------------------------------------------

@pytest.fixture
def fake_plugins(monkeypatch, tmp_path):
    """Entry points whose modules live in tmp_path, fed to discovery instead of the real ones."""
    from harness import plugins

    monkeypatch.syspath_prepend(str(tmp_path))
    eps: list = []
    monkeypatch.setattr(plugins, "discover", lambda: [(ep, "fakedist") for ep in eps])
    before = dict(plugins._CACHE)
    yield tmp_path, eps
    plugins._CACHE.clear()
    plugins._CACHE.update(before)


def _write(folder: Path, name: str, src: str) -> None:
    (folder / f"{name}.py").write_text(textwrap.dedent(src))


BACKEND_SRC = """
    from harness.plugin_api import Backend, Device, implementation, register_backend

    class Dev(Device):
        backend = "{name}"
        name = "cpu"
        def to_device(self, host, dtype): return host.copy()
        def to_host(self, arr): return arr.copy()
        def synchronize(self): pass

    class {cls}(Backend):
        name = "{name}"
        def _load(self): return [Dev()]

    @implementation("saxpy", "{name}")
    def saxpy(dev, a, x, y): return a * x + y
"""


def test_entry_point_forms_and_caching(fake_plugins):
    from harness.registry import build_registry

    folder, eps = fake_plugins
    # 1. an entry point naming a Backend class (not decorated: the entry point declares it)
    _write(folder, "fp_cls", BACKEND_SRC.format(name="fp_cls", cls="ClsBackend"))
    eps.append(EntryPoint("fp_cls", "fp_cls:ClsBackend", "harness.backends"))
    # 2. a function, called after import; it declares the backend itself
    _write(folder, "fp_fn", BACKEND_SRC.format(name="fp_fn", cls="FnBackend") + """
    def register():
        register_backend(FnBackend)
    """)
    eps.append(EntryPoint("fp_fn", "fp_fn:register", "harness.backends"))
    # 3. a module imported by user code before the registry is built: still the plugin's
    _write(folder, "fp_early", BACKEND_SRC.format(name="fp_early", cls="EarlyBackend") + """
    register_backend(EarlyBackend)
    """)
    importlib.import_module("fp_early")
    eps.append(EntryPoint("fp_early", "fp_early", "harness.backends"))

    reg = build_registry()
    for name in ("fp_cls", "fp_fn", "fp_early"):
        assert reg.backend_origins[name] == f"fakedist:{name}"
        assert reg.impls[("saxpy", name, name)].origin == f"fakedist:{name}"
        assert reg.backend(name).available
    assert [f for f in reg.failures if f.origin.startswith("fakedist")] == []
    again = build_registry()  # from the cache: same content, nothing re-imported
    assert again.backend_names == reg.backend_names and set(again.impls) == set(reg.impls)


def test_conflicts_are_isolated(fake_plugins):
    from harness.registry import build_registry

    folder, eps = fake_plugins
    _write(folder, "fp_conflict", BACKEND_SRC.format(name="numpy", cls="FakeNumpy") + """
    register_backend(FakeNumpy)      # duplicate of the built-in backend
    @implementation("sum", "fp_nowhere")
    def on_unknown_backend(dev, x): return x
    """)
    eps.append(EntryPoint("fp_conflict", "fp_conflict", "harness.backends"))
    _write(folder, "fp_empty", "X = 1\n")
    eps.append(EntryPoint("fp_empty", "fp_empty", "harness.kernels"))
    _write(folder, "fp_ctor", """
    from harness.plugin_api import Backend, register_backend

    @register_backend
    class Boom(Backend):
        name = "fp_ctor"
        def __init__(self):
            raise RuntimeError("constructor exploded")
        def _load(self): return []
    """)
    eps.append(EntryPoint("fp_ctor", "fp_ctor", "harness.backends"))

    _write(folder, "fp_badspec", """
    from harness.plugin_api import ErrorModel, KernelSpec, implementation, register_kernel

    register_kernel(KernelSpec(
        name="fp_nopresets", description="", size_meaning="", generate=lambda n, rng: {}, reference=None,
        flops=len, bytes_moved=max, error_model=ErrorModel(metric="normwise", bound=lambda c: 0.0, source=""),
        sizes={"quick": (10,)}))

    @implementation("fp_nopresets", "numpy")
    def impl(dev): return 0

    @implementation("sum", "numpy", "bad,name")
    def bad_name(dev, x): return x.sum()
    """)
    eps.append(EntryPoint("fp_badspec", "fp_badspec", "harness.kernels"))

    reg = build_registry()
    fails = {(f.origin, f.what): f.reason for f in reg.failures}
    assert "no sizes for preset(s) full, test" in fails[("fakedist:fp_badspec", "kernel 'fp_nopresets'")]
    assert "was rejected" in fails[("fakedist:fp_badspec", "implementation fp_nopresets/numpy/numpy")]
    assert "must be letters" in fails[("fakedist:fp_badspec", "implementation sum/numpy/bad,name")]
    assert "fp_nopresets" not in reg.kernels
    assert "already registered" in fails[("fakedist:fp_conflict", "backend 'numpy'")]
    assert "was rejected" in fails[("fakedist:fp_conflict", "implementation saxpy/numpy/numpy")]
    assert "unknown backend 'fp_nowhere'" in fails[("fakedist:fp_conflict", "implementation sum/fp_nowhere/fp_nowhere")]
    assert "declared no kernels" in fails[("fakedist:fp_empty", "load of harness.kernels entry point 'fp_empty'")]
    assert reg.backend_origins["numpy"] == "builtin"
    assert reg.impls[("saxpy", "numpy", "array_api")].origin == "builtin"
    ok, reason = reg.backend("fp_ctor").probe()  # a raising constructor: an unavailable backend
    assert not ok and "constructor exploded" in reason


def test_no_plugins_switch(fake_plugins, monkeypatch):
    from harness.registry import build_registry

    folder, eps = fake_plugins
    _write(folder, "fp_off", BACKEND_SRC.format(name="fp_off", cls="OffBackend") + "register_backend(OffBackend)\n")
    eps.append(EntryPoint("fp_off", "fp_off", "harness.backends"))
    monkeypatch.setenv("HARNESS_NO_PLUGINS", "1")
    assert "fp_off" not in build_registry().backend_names
    monkeypatch.delenv("HARNESS_NO_PLUGINS")
    assert "fp_off" in build_registry().backend_names


# --- the guide's examples stay true ------------------------------------------------------------

def test_docs_examples_work(tmp_path):
    """The minimal backend plugin and the kernel plugin of docs/plugins.md, installed as
    dist-info on PYTHONPATH, pass check-backend."""
    import re

    pytest.importorskip("numba")
    doc = (ROOT / "docs" / "plugins.md").read_text()
    for module, group, name in (("harness_mini", "harness.backends", "mini"),
                                ("harness_axpby", "harness.kernels", "axpby")):
        code = re.search(rf'```python\n("""{module}:.*?)```', doc, re.S).group(1)
        (tmp_path / f"{module}.py").write_text(code)
        info = tmp_path / f"{module}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[{group}]\n{name} = {module}\n")
    assert len(code.splitlines()) < 80
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    for args in (("mini",), ("numpy", "--kernels", "axpby")):
        proc = harness("check-backend", *args, "--json", env=env)
        report = json.loads(proc.stdout)
        assert proc.returncode == 0, [c for c in report["checks"] if c["status"] == "fail"]
        assert any(c["check"].startswith("kernel ") and c["status"] == "pass" for c in report["checks"])
