"""The `harness` command. Each subcommand lives in its own module `*_cmd.py` here and
exposes `command`; modules are found by name, so adding a subcommand touches no other
file. Usage errors exit 2 with a message saying what to do."""
from __future__ import annotations

import importlib
import pkgutil

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kernel-harness")
def main() -> None:
    """Benchmark numerical kernels across backends: speed, and divergence from the truth."""


for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.endswith("_cmd")):
    main.add_command(importlib.import_module(f"{__name__}.{_mod}").command)
