"""Stable visual encodings across all pages: colour per implementation, dash per
dtype, marker per machine, so a line means the same thing on every plot."""
from __future__ import annotations

from typing import Iterable

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#e377c2",
           "#8c564b", "#bcbd22", "#7f7f7f", "#393b79", "#637939", "#8c6d31", "#843c39")
DASHES = {"float32": "solid", "float64": "dash", "float16": "dot", "bfloat16": "dashdot"}
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "star", "cross", "pentagon")


class Style:
    def __init__(self, labels: Iterable[str], machines: Iterable[str]):
        ordered = sorted(set(labels), key=lambda s: (not s.startswith("numpy"), s))
        self.colors = {lab: PALETTE[i % len(PALETTE)] for i, lab in enumerate(ordered)}
        self.symbols = {m: SYMBOLS[i % len(SYMBOLS)] for i, m in enumerate(sorted(set(machines)))}

    def color(self, label: str) -> str:
        return self.colors.get(label, "#444")

    def dash(self, dtype: str) -> str:
        return DASHES.get(dtype, "longdash")

    def symbol(self, machine: str) -> str:
        return self.symbols.get(machine, "circle")


def rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
    return f"rgba({r},{g},{b},{alpha})"


# Error ratio colours: log10(error/bound) from -3 (far inside) to +1 (10x over);
# the break at 0 (the bound) is sharp so anything over the bound reads red.
ERROR_SCALE = [[0.0, "#1a9850"], [0.45, "#91cf60"], [0.7, "#d9ef8b"], [0.749, "#fee08b"],
               [0.751, "#f46d43"], [0.85, "#d73027"], [1.0, "#67001f"]]
ERROR_ZMIN, ERROR_ZMAX = -3.0, 1.0
# Speed relative to NumPy: log10(speedup) from -1 (10x slower) to +1 (10x faster).
SPEED_SCALE = [[0.0, "#b2182b"], [0.25, "#ef8a62"], [0.5, "#f7f7f7"], [0.75, "#67a9cf"], [1.0, "#2166ac"]]
# |Δ error| between two outputs: pale green at 0 (no measurable difference), orange up.
DIFF_SCALE = [[0.0, "#e5f5e0"], [0.02, "#fff5eb"], [0.3, "#fdae6b"], [1.0, "#a63603"]]
