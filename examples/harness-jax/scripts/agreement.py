"""The plugin's timings against timeit plus block_until_ready, for its README.

Runs `harness.selftest.agreement` (the harness's protocol, `time_call`, against timeit
and torch's Timer, each timing `last[0] = fn()` with a clock that calls
`jax.block_until_ready` on the block's last output) on JAX cases from about 100 µs to
tens of ms. The plugin is loaded from this folder through an entry point made here, so
nothing is installed. Usage: python examples/harness-jax/scripts/agreement.py [ROUNDS]
"""
from __future__ import annotations

import os
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
CASES = (
    ("saxpy", "jax", "jax", "float64", 1_000_000),
    ("saxpy", "jax", "jax", "float64", 4_000_000),
    ("sum", "jax", "jax", "float32", 10_000_000),
    ("matmul", "jax", "jax", "float32", 1024),
    ("softmax", "jax", "jax", "float32", 2048),
    ("conv2d", "jax", "jax", "float32", 256),
    ("saxpy", "jax", "array_api", "float32", 1_000_000),
)


def jax_registry():
    """The harness registry with this folder's plugin, found through a made entry point."""
    from harness import plugins
    from harness.registry import build_registry

    sys.path.insert(0, str(SRC))
    entry = EntryPoint("jax", "harness_jax", "harness.backends")
    plugins.discover = lambda: [(entry, "harness-jax")]
    return build_registry()


def main(rounds: int = 3) -> None:
    from harness.selftest import agreement

    registry = jax_registry()
    load_before = os.getloadavg()
    rows = agreement(registry, CASES, rounds=rounds, budget_s=0.5)
    print(f"load average {load_before[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    print("| case | harness | timeit + block_until_ready | harness vs timeit | torch Timer | page faults per call (harness) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if "vs_timeit" not in r:
            print(f"| {r['case']} | {r.get('skipped') or r.get('error')} | | | | |")
            continue
        h, t = r["harness"]["median_s"], r["timeit"]["median_s"]
        tb = r.get("torch_benchmark", {}).get("median_s")
        faults = r["harness"].get("minor_faults_per_call")
        print(f"| {r['case']} | {h * 1e6:.1f} µs | {t * 1e6:.1f} µs | {r['vs_timeit'] * 100:+.1f}% | "
              + (f"{tb * 1e6:.1f} µs |" if tb else "n/a |") + (f" {faults:.0f} |" if faults is not None else " n/a |"))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
