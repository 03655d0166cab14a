"""`harness list`: what this machine can compare, and why a backend cannot run."""
from __future__ import annotations

import json

import click

from .common import console


def inventory() -> dict:
    from ..registry import get_registry

    reg = get_registry()
    backends = []
    for name in reg.backend_names:
        b = reg.backend(name)
        ok, reason = b.probe()
        entry = {"name": name, "available": ok, "reason": reason, "origin": reg.backend_origins.get(name),
                 "description": b.description, "devices": [],
                 "unusable_devices": [{"name": n, "reason": why} for n, why in b.unusable_devices().items()]}
        if ok:
            try:  # a plugin's metadata methods must not break the listing
                entry["versions"] = b.versions()
                entry["devices"] = [{"name": d.name, "kind": d.kind,
                                     "dtypes": [dt for dt in ("float16", "bfloat16", "float32", "float64")
                                                if d.dtype_unsupported(dt) is None]} for d in b.devices()]
            except Exception as exc:
                entry.update(available=False, reason=f"listing failed: {type(exc).__name__}: {exc}")
        backends.append(entry)
    kernels = []
    for k, spec in reg.kernels.items():
        impls = reg.implementations(k)
        kernels.append({
            "name": k, "description": spec.description, "size": spec.size_meaning, "category": spec.category,
            "origin": reg.kernel_origins.get(k, "builtin"),
            "dtypes": list(spec.dtypes), "sizes": {p: list(s) for p, s in spec.sizes.items()},
            "error_metric": spec.error_model.metric, "bound_source": spec.error_model.source,
            "bound_kind": bound_label(spec.error_model), "bound_assumes": spec.error_model.assumes,
            "implementations": sorted({f"{i.backend}:{i.name}" for i in impls}),
            "array_api": any(i.name == "array_api" for i in impls),
        })
    failures = [{"origin": f.origin, "what": f.what, "reason": f.reason} for f in reg.failures]
    return {"backends": backends, "kernels": kernels, "failures": failures}


def bound_label(model) -> str:
    """The kind of a kernel's bound as `harness list` shows it, e.g. "rigorous + probabilistic"."""
    label = model.kind.replace("_", " ")
    return label + (" + probabilistic" if model.probabilistic is not None else "")


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def command(as_json: bool) -> None:
    """List kernels, backends, devices and implementations, with availability reasons."""
    inv = inventory()
    if as_json:
        click.echo(json.dumps(inv, indent=2))
        return
    from rich.markup import escape
    from rich.table import Table

    con = console()
    t = Table(title="Backends", title_justify="left")
    for c in ("backend", "status", "devices / reason", "from"):
        t.add_column(c)
    for b in inv["backends"]:
        origin = escape(b.get("origin") or "builtin")
        if b["available"]:
            devs = "\n".join(f"{d['name']} ({d['kind']}; {', '.join(d['dtypes'])})" for d in b["devices"])
            t.add_row(escape(b["name"]), "[green]available[/]", escape(devs), origin)
        elif not b["unusable_devices"]:
            t.add_row(escape(b["name"]), "[red]unavailable[/]", escape(b["reason"]), origin)
        for d in b["unusable_devices"]:
            t.add_row(escape(b["name"]), "[red]unusable device[/]", escape(f"{d['name']}: {d['reason']}"), origin)
    con.print(t)
    backends = [b["name"] for b in inv["backends"]]
    t = Table(title="Kernels", title_justify="left")
    t.add_column("kernel")
    t.add_column("size n")
    t.add_column("bound")
    for b in backends:
        t.add_column(b)
    t.add_column("array_api")
    for k in inv["kernels"]:
        impls = {}
        for i in k["implementations"]:
            be, name = i.split(":", 1)
            impls.setdefault(be, []).append(name)
        cells = [", ".join(n for n in sorted(impls.get(b, [])) if n != "array_api") or "-" for b in backends]
        t.add_row(escape(k["name"]), escape(k["size"]), escape(k["bound_kind"]), *map(escape, cells),
                  "yes" if k["array_api"] else "-")
    con.print(t)
    if inv["failures"]:
        t = Table(title="Plugin failures (everything else works)", title_justify="left")
        for c in ("plugin", "status", "what", "reason"):
            t.add_column(c)
        for f in inv["failures"]:
            t.add_row(escape(f["origin"]), "[red]failed[/]", escape(f["what"]), escape(f["reason"]))
        con.print(t)
