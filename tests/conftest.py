import os

import pytest

os.environ.setdefault("HARNESS_MACHINE_ID", "test-machine")


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
