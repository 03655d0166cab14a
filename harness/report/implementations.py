"""Which implementations of a kernel are generic, and which are hand-written.

Generic: declared once with `array_api_implementation`, one Array API expression that
every backend of its list runs (labelled `numpy:array_api`, `torch:array_api`, ...).
Hand-written: a backend's own code, for a library routine (BLAS, `torch.softmax`,
cuBLAS) or a different algorithm. The reason shown is the implementation's declared
`notes`. Records carry neither, so both are read from this installation's registry; an
implementation not declared here is generic only if named as `array_api_implementation`
names its implementations, and has no reason.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from .data import impl_label
from .html import table, text_esc as esc

#: the name `array_api_implementation` registers on every backend of its list.
GENERIC_NAME = "array_api"


@dataclass(frozen=True)
class Declared:
    """What the registry says of one (backend, implementation) of a kernel."""

    generic: bool
    notes: str = ""


def declared_implementations(kernel: str, impls: Iterable[Any] | None = None) -> dict[tuple[str, str], Declared]:
    """(backend, impl) -> Declared, for every implementation of `kernel` among `impls`
    (`declarations.Implementation`s; default: those of this installation's registry)."""
    if impls is None:
        from ..registry import get_registry

        impls = get_registry().implementations(kernel)
    return {(i.backend, i.name): Declared(i.generic, i.notes) for i in impls if i.kernel == kernel}


def declarations_signature() -> str:
    """Hash of every declared implementation's kind and notes: a plugin whose notes
    changed redraws the pages that show them (the harness's own are in its source)."""
    from ..registry import get_registry

    rows = sorted(f"{k}|{i.generic}|{i.notes}" for k, i in get_registry().impls.items())
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def kind_of(backend: str, impl: str, declared: Mapping[tuple[str, str], Declared]) -> Declared:
    """The declaration of one implementation, or, where it is not declared here, what
    its name says (only `array_api` is generic) with no reason."""
    return declared.get((backend, impl)) or Declared(impl == GENERIC_NAME)


def section(recs: Iterable[dict[str, Any]], declared: Mapping[tuple[str, str], Declared]) -> str:
    """A table of the kernel's implementations (those in its records): a generic one a
    row with every backend that ran it, then the hand-written ones a row each."""
    generic: dict[str, list[dict[str, Any]]] = {}
    hand = []
    for (backend, impl), r in sorted({(r["backend"], r["impl"]): r for r in recs}.items()):
        d = kind_of(backend, impl, declared)
        if d.generic:
            generic.setdefault(impl, []).append(r)
        else:
            hand.append(([esc(impl_label(r)), '<span class="badge hand">hand-written</span>', _reason(d.notes)], ""))
    rows = [_generic_row(impl, rs, declared) for impl, rs in sorted(generic.items())] + hand
    if not rows:
        return ""
    return ('<h2>Implementations</h2><p class="lead">Generic: written once against the Array API standard, '
            'the same code on every backend listed. Hand-written: a backend\'s own code (its library routine '
            'or a different algorithm); the reason is what its declaration notes.</p>'
            + table(["implementation", "kind", "reason (declared notes)"], rows))


def _generic_row(impl: str, rs: list[dict[str, Any]], declared: Mapping[tuple[str, str], Declared]):
    backends = [r["backend"] for r in rs]
    notes = next((n for n in (kind_of(b, impl, declared).notes for b in backends) if n), "")
    return ([esc(", ".join(impl_label(r) for r in rs)),
             f'<span class="badge generic">generic</span> one Array API expression, run by {esc(", ".join(backends))}',
             _reason(notes)], "")


def _reason(notes: str) -> str:
    return esc(notes) if notes else '<span class="muted">none declared</span>'
