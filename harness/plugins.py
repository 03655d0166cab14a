"""Plugin discovery (entry-point groups `harness.backends`, `harness.kernels`).

Placeholder until the plugin issue: loads nothing yet."""
from __future__ import annotations


def load_plugins(registry) -> None:
    return None
