import os

import pytest

os.environ.setdefault("HARNESS_MACHINE_ID", "test-machine")


@pytest.fixture(scope="session", autouse=True)
def _results_cache(tmp_path_factory):
    """The columnar results cache of every test (and the CLIs they start) goes to a
    temporary folder, not the user's ~/.cache."""
    old = os.environ.get("HARNESS_CACHE_DIR")
    os.environ["HARNESS_CACHE_DIR"] = str(tmp_path_factory.mktemp("results-cache"))
    yield
    if old is None:
        os.environ.pop("HARNESS_CACHE_DIR", None)
    else:
        os.environ["HARNESS_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def registry():
    from harness.registry import get_registry

    return get_registry()


def backend_or_skip(registry, name):
    b = registry.backend(name)
    ok, reason = b.probe()
    if not ok:
        pytest.skip(f"{name} unavailable: {reason}")
    return b
