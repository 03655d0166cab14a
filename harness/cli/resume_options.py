"""`harness run --resume`: which of the case-selecting options given on the command line
differ from the ones the run was started with.

Why: a resumed run takes its cases from the run file, so a different `--kernels` would
be silently ignored or would mix two selections in one file. But re-running the very
command that was interrupted with `--resume` appended is what people do, so options
equal to the run's are accepted, and only a real difference is refused, with the diff."""
from __future__ import annotations

from typing import Any, Callable

from .common import parse_memory, parse_sizes, split_list


def _names(value: str) -> Any:
    return sorted(set(split_list(value)))


def _stored_names(value: Any) -> Any:
    return sorted(set(value)) if value else None


def _sizes(value: str) -> Any:
    return sorted(set(parse_sizes(value)))


#: option -> (key in the header's options, parse the command line's text, normalise the stored value).
#: Lists compare as sets: `--kernels sum,dot` selects the same cases as `--kernels dot,sum`.
COMPARED: dict[str, tuple[str, Callable[[Any], Any], Callable[[Any], Any]]] = {
    "kernels": ("kernels", _names, _stored_names),
    "backends": ("backends", _names, _stored_names),
    "impls": ("impls", _names, _stored_names),
    "dtypes": ("dtypes", _names, _stored_names),
    "sizes": ("sizes", _sizes, lambda v: sorted(set(v)) if v else None),
    "preset": ("preset", str, lambda v: v),
    "seed": ("seed", int, lambda v: None if v is None else int(v)),
    "budget": ("budget_s", float, lambda v: None if v is None else float(v)),
    "cache": ("cache", str, lambda v: v or "warm"),
    "max_memory": ("max_memory_bytes", parse_memory, lambda v: v),
}


def _shown(value: Any) -> str:
    if value is None:
        return "(not set)"
    if isinstance(value, list):
        return ",".join(map(str, value)) or "(none)"
    return str(value)


def option_differences(given: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    """'--kernels sum (the run: dot,sum)' for each given option that selects other cases
    than the run file's options; [] when every given option equals the run's."""
    diffs = []
    for name, value in given.items():
        key, parse, normalise = COMPARED[name]
        mine, theirs = parse(value), normalise(stored.get(key))
        if mine != theirs:
            diffs.append(f"--{name.replace('_', '-')} {_shown(mine)} (the run: {_shown(theirs)})")
    return diffs
