"""`harness asv-machine`: name asv's machine after the harness's fingerprint id, so that asv
results (results/asv/<id>/) and harness runs (results/<id>/) of one box share one name
and two boxes never share one (asv's default name is the hostname: "vm" on many)."""
from __future__ import annotations

import click


@click.command("asv-machine")
@click.option("--id", "print_id", is_flag=True,
              help="Only print the id (for `asv run --machine \"$(harness asv-machine --id)\"`).")
def command(print_id):
    """Describe this machine to asv under its harness machine id, in ~/.asv-machine.json
    (what `asv machine --yes` does, named by the hardware fingerprint instead of the
    hostname). Run once per machine and user, before `asv run`."""
    from ..asv_bridge import AsvImportError, save_asv_machine
    from ..machine import machine_id, machine_info

    try:
        mid = machine_id()
    except ValueError as exc:  # a bad HARNESS_MACHINE_ID
        raise click.UsageError(str(exc)) from exc
    if print_id:
        click.echo(mid)
        return
    try:
        fields = save_asv_machine(mid, machine_info())
    except AsvImportError as exc:  # asv not installed
        raise click.ClickException(str(exc)) from exc
    click.echo(f"asv machine {mid!r} ({fields['cpu']}, {fields['num_cpu']} cores) saved in ~/.asv-machine.json; "
               f"asv results go to <results_dir>/{mid}/, `harness import-asv` writes results/{mid}/")
