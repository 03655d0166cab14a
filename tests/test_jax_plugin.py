"""examples/harness-jax, loaded through a fake entry point from its source folder (never
installed into the environment). Needs jax; skipped without it."""
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("jax")
SRC = Path(__file__).resolve().parents[1] / "examples" / "harness-jax" / "src"
KERNELS = ["saxpy", "sum", "matmul", "softmax", "conv2d"]


@pytest.fixture(scope="module")
def jax_registry():
    """One registry with the plugin for the module: a plugin module is imported once."""
    from harness import plugins
    from harness.registry import build_registry

    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(SRC))
        ep = EntryPoint("jax", "harness_jax", "harness.backends")
        mp.setattr(plugins, "discover", lambda: [(ep, "harness-jax")])
        before = dict(plugins._CACHE)
        yield build_registry()
        plugins._CACHE.clear()
        plugins._CACHE.update(before)


def test_jax_plugin_passes_check_backend(jax_registry):
    from harness.conformance import check_backend

    results = check_backend(jax_registry, "jax", kernels=KERNELS, dtypes=["float32", "float64"])
    failed = {r.check: r.detail for r in results if r.status == "fail"}
    assert not failed
    checked = {r.check for r in results if r.status == "pass"}
    for k in KERNELS:
        assert f"kernel {k} [jax] float64" in checked  # float64 through x64
    assert "kernel saxpy [array_api] float32" in checked


def test_jax_synchronize_waits_on_outputs_only(jax_registry, monkeypatch):
    dev = jax_registry.backend("jax").devices()[0]
    seen = []
    monkeypatch.setattr(dev.jax, "block_until_ready", lambda o: seen.append(o) or o)
    dev.synchronize()
    out = dev.jit.saxpy(np.float32(2), dev.to_device(np.ones(4, np.float32), "float32"),
                        dev.to_device(np.ones(4, np.float32), "float32"))
    dev.timer().stop(out)
    assert len(seen) == 1 and seen[0] is out
