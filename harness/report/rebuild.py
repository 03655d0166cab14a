"""Rebuild only the pages whose inputs changed.

A kernel page is a function of its records (the newest per machine and case), its
history rows (per-commit medians), the site's style (colours and markers, which depend
on every implementation and machine) and the code that draws it. The fingerprint of a
page hashes all four; `<out>/.pages.json` keeps the fingerprint each page was last built
from, and a page whose fingerprint and file are unchanged is not built again. The file
is a disposable cache too: without it every page is rebuilt.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

STATE_FILE = ".pages.json"
#: bump when the state file's layout changes.
STATE_FORMAT = 1


def code_signature() -> str:
    """Hash of the harness's own source and report assets: a new harness redraws every page."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for path in sorted([*root.rglob("*.py"), *(root / "report" / "assets").glob("*")]):
        if path.is_file():
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def fingerprint(code: str, style: Any, records: Iterable[dict[str, Any]], history: Iterable[dict[str, Any]]) -> str:
    """Content hash of what one page is built from (order-independent within each list)."""
    def dump(rows):
        return sorted(json.dumps(r, sort_keys=True, default=str, separators=(",", ":")) for r in rows)

    records = list(records)
    machines = {id(r.get("machine")): r.get("machine") for r in records}  # one header dict per run
    payload = {"code": code, "colors": style.colors, "symbols": style.symbols, "machines": dump(machines.values()),
               "records": dump({k: v for k, v in r.items() if k != "machine"} for r in records),
               "history": dump(history)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def read_state(out: Path) -> dict[str, str]:
    """page file name -> fingerprint it was built from; {} when missing or unreadable."""
    try:
        state = json.loads((out / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT or not isinstance(state.get("pages"), dict):
        return {}
    return {str(k): str(v) for k, v in state["pages"].items()}


def write_state(out: Path, pages: dict[str, str]) -> None:
    tmp = out / f"{STATE_FILE}.tmp"
    tmp.write_text(json.dumps({"format": STATE_FORMAT, "pages": pages}, sort_keys=True), encoding="utf-8")
    tmp.replace(out / STATE_FILE)
