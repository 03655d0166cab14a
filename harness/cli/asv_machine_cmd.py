"""`harness asv-machine`: name asv's machine after the harness's fingerprint id, so that asv
results (results/asv/<id>/) and harness runs (results/<id>/) of one box share one name
and two boxes never share one (asv's default name is the hostname: "vm" on many)."""
from __future__ import annotations

import subprocess
import sys

import click


@click.command("asv-machine")
@click.option("--id", "print_id", is_flag=True, help="Only print the id (for `asv run --machine \"$(harness asv-machine --id)\"`).")
@click.option("--config", "config", help="asv config file, passed on to `asv machine` (default: asv's own).")
def command(print_id, config):
    """Describe this machine to asv under its harness machine id (`asv machine --yes` with
    the harness's CPU, core, memory and OS fields). Run once per machine and user."""
    from ..asv_bridge import asv_machine_args
    from ..machine import machine_id, machine_info

    try:
        mid = machine_id()
    except ValueError as exc:  # a bad HARNESS_MACHINE_ID
        raise click.UsageError(str(exc)) from exc
    if print_id:
        click.echo(mid)
        return
    args = [sys.executable, "-m", "asv", *(["--config", config] if config else []), "machine",
            *asv_machine_args(mid, machine_info())]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise click.ClickException(f"could not run asv machine: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise click.ClickException(f"asv machine failed (exit {done.returncode}): {tail[0]}; "
                                   "is asv installed? pip install 'kernel-harness[asv]'")
    click.echo(f"asv machine {mid!r} saved in ~/.asv-machine.json; its asv results go to "
               f"<results_dir>/{mid}/, `harness import-asv` writes results/{mid}/")
