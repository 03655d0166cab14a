"""Roofline: how close a measured case comes to the machine's limits.

Placeholder until the performance issue: records get no roofline fields yet."""
from __future__ import annotations

from typing import Any


def annotate_roofline(record: dict[str, Any], device: Any) -> None:
    return None
