"""Quantities as people write and read them: byte sizes ('512M', '2G', '1.5GiB' in,
'1.5 GiB' out) and durations ('12.3 µs').

One parser for every place a size comes in (`--max-memory`, HARNESS_WORKER_MEMORY), so
that the same text means the same bytes everywhere (units are powers of 1024), and one
way a time is printed, so the terminal summary and the HTML report read alike. Nothing
here imports numpy: `harness --help` and the summary stay quick to start."""
from __future__ import annotations

import re

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([kKmMgGtT]?)(i?[bB])?\s*")


def parse_bytes(text: str) -> int:
    """'512M', '2G', '1.5GiB', '4096', '4096B' -> bytes; ValueError for anything else
    ('12iB' included: an 'i' belongs to a unit)."""
    m = _SIZE.fullmatch(text)
    if not m or (m.group(2) == "" and (m.group(3) or "").lower().startswith("i")):
        raise ValueError(f"{text!r} is not a size: give a number with an optional unit K, M, G or T "
                         "(powers of 1024), e.g. 2G")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def format_bytes(n: float) -> str:
    """Three significant digits and a binary unit: 1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    return f"{n} B"


def format_seconds(v: float | None, missing: str = "") -> str:
    """Three significant digits in the largest unit that keeps the number >= 1:
    1.23e-5 -> '12.3 µs'; `missing` stands for a time that was not measured."""
    if v is None:
        return missing
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if v >= scale:
            return f"{v / scale:.3g} {unit}"
    return f"{v / 1e-9:.3g} ns"
