"""Roofline: how close a measured case comes to the machine's limits.

attainable = min(peak FLOP/s, arithmetic intensity × bandwidth), with intensity the
spec's flops over its bytes; `roofline_fraction` = achieved FLOP/s over attainable
(for a kernel with no flops, achieved GB/s over bandwidth). The limits come from the
ceilings `harness machine` cached (harness.ceilings, which also keeps the per-process
cache and drops it after a re-measure); nothing is measured or cached here, so every
function is a computation on the machine data it is given, and without a cache the
roofline fields stay None. Bandwidth is DRAM's: a case whose data
fits in cache can exceed 1.

Fields added to a record: arithmetic_intensity, roofline_gflops (attainable),
roofline_limit ("memory" | "compute"), roofline_ceiling (the ceilings key used),
roofline_fraction.
"""
from __future__ import annotations

import math
from typing import Any

from .ceilings import ceiling_key, machine_ceilings, roofline_limits

FIELDS = ("arithmetic_intensity", "roofline_gflops", "roofline_limit", "roofline_ceiling", "roofline_fraction")

def limits_for(machine: dict[str, Any] | None, backend: str, device: str, kind: str | None = None):
    """(key, limits) for a device: its own entry in machine["roofline"], else for a CPU
    device the best CPU limits of the machine; (None, None) if there are none."""
    if not isinstance(machine, dict):
        return None, None
    roof = machine.get("roofline")
    if not isinstance(roof, dict):
        roof = roofline_limits(machine.get("ceilings") or {})
    key = ceiling_key(backend, device)
    if key in roof:
        return key, roof[key]
    if kind == "cpu":
        cpu = [k for k, c in (machine.get("ceilings") or {}).items() if c.get("kind") == "cpu" and k in roof]
        if cpu:
            return cpu[0], roof[cpu[0]]
    return None, None


def ceilings_for(machine: dict[str, Any] | None, backend: str, device: str) -> dict[str, Any]:
    """A device's own measured ceilings from a header's or machine.json's "ceilings"
    (copy_gbps, triad_gbps, peak_gflops), {} where none are recorded."""
    c = machine.get("ceilings") if isinstance(machine, dict) else None
    entry = c.get(ceiling_key(backend, device)) if isinstance(c, dict) else None
    return entry if isinstance(entry, dict) else {}


def roofline(flops: float, bytes_moved: float, median_s: float, dtype: str,
             limits: dict[str, Any]) -> dict[str, Any]:
    """The roofline fields for one measurement against one device's limits."""
    out: dict[str, Any] = {f: None for f in FIELDS}
    bw = limits.get("bandwidth_gbps")
    peak = (limits.get("peak_gflops") or {}).get(dtype)
    if not median_s or median_s <= 0 or not bytes_moved or bytes_moved <= 0:
        return out
    flops = float(flops or 0.0)
    ai = flops / bytes_moved
    out["arithmetic_intensity"] = ai
    if flops == 0:
        if bw:
            out.update(roofline_limit="memory", roofline_gflops=0.0,
                       roofline_fraction=bytes_moved / median_s / 1e9 / bw)
        return out
    memory_roof = ai * bw if bw else math.inf
    compute_roof = peak if peak else math.inf
    attainable = min(memory_roof, compute_roof)
    if not math.isfinite(attainable):
        return out
    out["roofline_gflops"] = attainable
    out["roofline_limit"] = "memory" if memory_roof <= compute_roof else "compute"
    out["roofline_fraction"] = flops / median_s / 1e9 / attainable
    return out


def annotate_roofline(record: dict[str, Any], device: Any, machine: dict[str, Any] | None = None) -> None:
    """Add the roofline fields to an ok record (None where no ceilings are cached).
    `machine`: the ceilings to judge against; by default this machine's cached ones."""
    for f in FIELDS:
        record.setdefault(f, None)
    key, limits = limits_for(machine if machine is not None else machine_ceilings(), record.get("backend", ""), record.get("device", ""),
                             getattr(device, "kind", None))
    if limits is None:
        return
    fields = roofline(record.get("flops") or 0.0, record.get("bytes") or 0.0, record.get("time_median_s") or 0.0,
                      record.get("dtype", ""), limits)
    if fields["roofline_fraction"] is not None:
        fields["roofline_ceiling"] = key
    record.update(fields)


def recompute(records: list[dict[str, Any]], machine: dict[str, Any]) -> list[dict[str, Any]]:
    """Copies of ok records with their roofline fields recomputed against `machine`'s
    ceilings (e.g. ceilings re-measured after the run, on a quieter machine)."""
    out = []
    for r in records:
        r = dict(r)
        if r.get("status") == "ok":
            key, limits = limits_for(machine, r.get("backend", ""), r.get("device", ""),
                                     "cpu" if r.get("backend") in ("numpy", "numba") else None)
            if limits is not None:
                r.update(roofline(r.get("flops") or 0.0, r.get("bytes") or 0.0, r.get("time_median_s") or 0.0,
                                  r.get("dtype", ""), limits), roofline_ceiling=key)
        out.append(r)
    return out


def markdown_table(records: list[dict[str, Any]]) -> str:
    """Roofline fraction per kernel and implementation/backend, at each kernel's largest
    size in the records, one column pair per dtype (for docs/performance.md)."""
    ok = [r for r in records if r.get("status") == "ok" and r.get("roofline_fraction") is not None]
    dtypes = sorted({r["dtype"] for r in ok})
    largest: dict[str, int] = {}
    for r in ok:
        largest[r["kernel"]] = max(largest.get(r["kernel"], 0), r["size"])
    rows: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for r in ok:
        if r["size"] == largest[r["kernel"]]:
            rows.setdefault((r["kernel"], f"{r['impl']} ({r['backend']})"), {})[r["dtype"]] = r
    head = "| kernel | size | implementation (backend) | bound | " + " | ".join(
        f"{d} fraction | {d} achieved" for d in dtypes) + " |"
    lines = [head, "|" + "---|" * (4 + 2 * len(dtypes))]
    for (kernel, impl), by in sorted(rows.items()):
        any_r = next(iter(by.values()))
        cells = []
        for d in dtypes:
            r = by.get(d)
            if r is None:
                cells += ["", ""]
                continue
            achieved = f"{r['gflops']:.3g} GFLOP/s" if r["roofline_limit"] == "compute" else f"{r['gbps']:.3g} GB/s"
            cells += [f"{r['roofline_fraction']:.3f}", achieved]
        lines.append(f"| {kernel} | {largest[kernel]} | {impl} | {any_r['roofline_limit']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """python -m harness.roofline RUN.jsonl...: the roofline table of docs/performance.md,
    recomputed against this machine's cached ceilings when there are any."""
    import sys

    from .store import read_run

    recs: list[dict[str, Any]] = []
    for arg in (sys.argv[1:] if argv is None else argv):
        recs += read_run(arg)[1]
    machine = machine_ceilings()
    print(markdown_table(recompute(recs, machine) if machine else recs))


if __name__ == "__main__":
    main()
