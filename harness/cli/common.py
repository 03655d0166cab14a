"""Option parsing shared by subcommands: names are checked against the registry and a
bad one is a usage error (exit 2) listing the valid names."""
from __future__ import annotations

import functools
from typing import Iterable, Sequence

import click


def split_list(value: str | None) -> list[str]:
    if not value:
        return []
    return [v.strip() for v in value.split(",") if v.strip()]


def check_names(kind: str, given: Sequence[str], valid: Iterable[str], param: str) -> list[str]:
    valid = list(valid)
    bad = [g for g in given if g not in valid]
    if bad:
        raise click.BadParameter(
            f"unknown {kind} {', '.join(map(repr, bad))}; valid {kind}s: {', '.join(valid)}",
            param_hint=param)
    return list(dict.fromkeys(given))


def parse_sizes(value: str | None) -> list[int]:
    sizes = []
    for tok in split_list(value):
        try:
            n = int(tok)
            if str(n) != tok.lstrip("+"):
                raise ValueError
        except ValueError:
            raise click.BadParameter(f"size {tok!r} is not an integer; give positive integers like 1000,4096",
                                     param_hint="--sizes") from None
        if n <= 0:
            raise click.BadParameter(f"size {n} must be a positive integer", param_hint="--sizes")
        sizes.append(n)
    return sizes


@functools.lru_cache(maxsize=None)
def _pipe_safe_console_class():
    """rich's Console answers a closed stdout (`| head`) with SystemExit(1), the code of a
    failed --strict run; this one raises BrokenPipeError, which `harness run` ends with
    records kept and every command with the shell's SIGPIPE code 141 (harness/cli/__init__.py)."""
    from rich.console import Console

    class PipeSafeConsole(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError("stdout was closed")

    return PipeSafeConsole


def console():
    import sys

    # Wide tables when output goes to a file or CI log rather than a terminal.
    return _pipe_safe_console_class()(highlight=False, width=None if sys.stdout.isatty() else 180)
