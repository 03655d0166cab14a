"""The `harness` command. Each subcommand lives in its own module here and exposes
`command`; usage errors exit 2 with a message saying what to do."""
from __future__ import annotations

import importlib

import click

#: subcommand modules, in the order `harness --help` lists them
COMMANDS = ("list_cmd", "run_cmd")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kernel-harness")
def main() -> None:
    """Benchmark numerical kernels across backends: speed, and divergence from the truth."""


for _name in COMMANDS:
    main.add_command(importlib.import_module(f"{__name__}.{_name}").command)
