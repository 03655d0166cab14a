"""The `harness` command. Each subcommand lives in its own module `*_cmd.py` here and
exposes `command`; modules are found by name, so adding a subcommand touches no other
file. Usage errors exit 2 with a message saying what to do."""
from __future__ import annotations

import importlib
import os
import pkgutil
import signal
import sys

import click


def silence_stdout() -> None:
    """Point stdout at /dev/null once the reader went away (`| head`), so that the
    interpreter's last flush at exit does not fail again on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


class HarnessGroup(click.Group):
    """Exits quietly with 141 (the shell's code for a writer ended by SIGPIPE) when stdout
    is closed, e.g. `harness list | head -1`: click itself would exit 1, which reads as a
    failure (`--strict`), and print nothing about it."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            silence_stdout()
            sys.exit(128 + signal.SIGPIPE)


@click.group(cls=HarnessGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kernel-harness")
def main() -> None:
    """Benchmark numerical kernels across backends: speed, and divergence from the truth."""


for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.endswith("_cmd")):
    main.add_command(importlib.import_module(f"{__name__}.{_mod}").command)
