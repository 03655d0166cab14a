"""Option parsing shared by subcommands: names are checked against the registry and a
bad one is a usage error (exit 2) listing the valid names."""
from __future__ import annotations

import functools
from typing import Iterable, Sequence

import click

from ..units import parse_bytes


def split_list(value: str | None) -> list[str]:
    if not value:
        return []
    return [v.strip() for v in value.split(",") if v.strip()]


def given_list(value: str | None, param: str, example: str) -> list[str] | None:
    """None when the option was left out (the caller's default: everything); its names
    when given. A given but empty list (`--kernels ''`, `--kernels ,`) is a usage error:
    read as "all" it silently runs everything, which is the opposite of what was asked."""
    if value is None:
        return None
    names = split_list(value)
    if not names:
        raise click.BadParameter(f"{value!r} names nothing; give at least one, e.g. {param} {example}, "
                                 f"or leave {param} out for all", param_hint=param)
    return names


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


def console_width() -> int | None:
    """The width to lay out for: $COLUMNS when set; the terminal's when stdout is one
    (None: rich asks it); the terminal's behind a pipe (`harness run | tee log`: stderr
    still is the terminal); 180 where there is no terminal at all (a CI log)."""
    import os
    import sys

    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return None
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 180


def console():
    return _pipe_safe_console_class()(highlight=False, width=console_width())


def parse_memory(value: str | None) -> int | None:
    """'2G', '512M', '1.5GiB', '4096' -> bytes (units.parse_bytes: powers of 1024)."""
    if value is None:
        return None
    try:
        n = parse_bytes(value)
    except ValueError as exc:
        raise click.BadParameter(f"{exc}; e.g. --max-memory 512M or --max-memory 2G",
                                 param_hint="--max-memory") from None
    if n <= 0:
        raise click.BadParameter("the memory budget must be more than 0 bytes, e.g. --max-memory 2G",
                                 param_hint="--max-memory")
    return n
