"""`harness run`: plan the cases, run them with progress (a bar on a terminal, lines
elsewhere: harness/cli/progress.py), store every record as soon as it exists, and print
the summary (harness/cli/summary.py).

Cases run in a spawned worker process with a per-case timeout (see harness/worker.py);
`--resume` finishes an interrupted run in the same file. Every usage error exits 2
before anything is written."""
from __future__ import annotations

import contextlib
import os
import secrets
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import click

from .common import check_names, console, given_list, parse_memory, parse_sizes, split_list
from .progress import RunProgress
from .resume_options import option_differences
from .summary import gate_failures, print_summary

PRESET_BUDGET_S = {"quick": 0.2, "full": 1.0, "test": 0.05}


def store_growth(writer) -> list[dict]:
    """Fit error growth over every record of the run file (a resumed run included) and
    append the rows as "growth" lines, stamped so readers take the latest batch."""
    from ..growth import growth_records
    from ..record import now_iso
    from ..store import read_run

    try:
        _, all_records = read_run(writer.path)
        rows = growth_records(all_records)
    except Exception as exc:  # analysis must never cost the measurements
        console().print(f"error-growth fit skipped: {type(exc).__name__}: {exc}")
        return []
    batch = now_iso()
    for row in rows:
        writer.note("growth", batch=batch, **row)
    return rows


def new_run_id(commit: str | None) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return f"{stamp}-{(commit or 'nocommit')[:8]}-{secrets.token_hex(2)}"


#: Options that choose the cases and how they are measured: a resumed run takes them
#: from the run file, so the resumed cases are exactly the missing ones.
RUN_SELECTION = ("kernels", "backends", "impls", "dtypes", "sizes", "preset", "seed", "budget", "max_memory",
                 "cache")

def _parse_timeout(ctx, param, value):
    if value is None:
        return None
    try:
        t = float(value)
    except ValueError:
        t = float("nan")
    if not t > 0 or t == float("inf"):
        raise click.BadParameter(f"{value!r} is not a positive number of seconds; e.g. --timeout 600 "
                                 f"(leave it out for the default, 300 s + 60 x budget)")
    return t


def _parse_seed(ctx, param, value):
    if value < 0:
        raise click.BadParameter(f"{value} is negative; seeds are integers >= 0, e.g. --seed 0")
    return value


def writable_folder(path: Path, option: str) -> Path:
    """Create `path` if needed and prove it writable, or fail with a usage error."""
    if path.exists() and not path.is_dir():
        raise click.BadParameter(f"{path} is a file; give a folder (it is created if missing)",
                                 param_hint=option)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".harness-write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise click.BadParameter(f"cannot write to {path} ({exc.strerror or exc}); give a writable folder",
                                 param_hint=option) from None
    return path


def refuse_other_selection(given: dict, stored: dict, resume_path: Path) -> None:
    """Usage error (exit 2) with the diff when an option given with --resume selects other
    cases than the run's own; options equal to the run's are fine."""
    diffs = option_differences(given, stored)
    if diffs:
        raise click.UsageError(f"--resume continues {resume_path} with the options it was started with; "
                               f"these differ: {'; '.join(diffs)}. Drop them, or start a new run without "
                               f"--resume")


def find_resume_file(value: str, out_dir: Path, machine_id: str) -> Path:
    """The run file to resume: a path, or "latest" = the newest run of this machine under out_dir."""
    from ..store import ResultsFileError, read_header

    if value != "latest":
        p = Path(value)
        if not p.is_file():
            raise click.BadParameter(f"{p} is not a file; give a results file (OUT/<machine>/<run>.jsonl) "
                                     f"or 'latest'", param_hint="--resume")
        return p
    folder = out_dir / machine_id
    runs = []
    for f in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        try:
            h = read_header(f)
        except (ResultsFileError, OSError):
            continue
        runs.append((str(h.get("started") or ""), f.stat().st_mtime, f))
    if not runs:
        raise click.BadParameter(f"no run of machine {machine_id!r} under {folder} to resume; start one with "
                                 f"`harness run`, or name the file: --resume PATH", param_hint="--resume")
    return max(runs)[2]


class RunTerminated(KeyboardInterrupt):
    """SIGTERM (a CI job cancelled, `kill PID`), raised in the main thread so that a run
    stops as on Ctrl-C: workers killed, records kept, a resume hint."""


def _sigterm(signum, frame):
    raise RunTerminated()


def raise_on_sigterm():
    """Handle SIGTERM as `RunTerminated`; returns the previous handler for `restore_sigterm`."""
    try:
        return signal.signal(signal.SIGTERM, _sigterm)
    except (ValueError, OSError):  # not the main thread (an embedding application's choice)
        return None


def restore_sigterm(previous) -> None:
    if previous is not None:
        try:
            signal.signal(signal.SIGTERM, previous)
        except (ValueError, OSError):
            pass


@contextlib.contextmanager
def signals_held():
    """Delay SIGINT and SIGTERM until the block is done (they are delivered right after)."""
    held = {signal.SIGINT, signal.SIGTERM}
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, OSError, ValueError):  # no pthread_sigmask on this platform
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def hold_for_resume(path: Path) -> None:
    """Lock the run file to resume, or refuse (exit 2) while another run writes it."""
    from ..run_file import RunFileBusy, hold_run_file

    try:
        hold_run_file(path)
    except RunFileBusy as exc:
        raise click.BadParameter(str(exc), param_hint="--resume") from None
    except OSError:
        pass  # unreadable: read_run says why


def stop_run(exc: BaseException, supervisor, writer, records: list[dict]):
    """End a run that cannot go on, keeping what it recorded: Ctrl-C (exit 130), SIGTERM
    (143), stdout closed, e.g. `| head` (141, the shell's code for SIGPIPE), or a record
    that could not be written, e.g. a full disk (2: the file is intact, free space and resume)."""
    from ..run_file import ResultsWriteError

    if supervisor is not None:
        supervisor.close(kill=True)
    path = writer.path if writer is not None else None
    hint = f"; finish with `harness run --resume {path}`" if path else ""
    if isinstance(exc, ResultsWriteError):
        kept = (f"the {len(records)} record(s) before it are intact; free some space{hint}" if path else
                "nothing was recorded and no file is left; free some space and run again")
        click.echo(f"error: {exc.strerror}; {kept}", err=True)
        sys.exit(2)
    if isinstance(exc, BrokenPipeError):
        from . import silence_stdout

        silence_stdout()
        click.echo(f"output closed: stopped after {len(records)} record(s)" + (f", kept in {path}" if path else "")
                   + hint, err=True)
        sys.exit(128 + signal.SIGPIPE)
    word, code = ("terminated", 143) if isinstance(exc, RunTerminated) else ("interrupted", 130)
    console().print(f"{word}: {len(records)} records kept" + (f" in {path}{hint}" if path else ""))
    sys.exit(code)


def run_on_cluster(cluster, fleet_mode, selection, timeout_s, out_dir, resume, reg, local_only: bool,
                   quiet: bool, strict: bool, connect_s: float) -> None:
    """`harness run --cluster`: the sweep runs in harness.fleet; here only its exit and summary."""
    from ..fleet.cluster import FleetError
    from ..fleet.sweep import run_fleet
    from ..machine import git_commit

    if cluster is None:
        raise click.UsageError("--fleet needs --cluster tcp://HOST:8786 (the Dask scheduler's address)")
    if local_only:
        raise click.UsageError("--save-arrays and --no-isolate are for local runs: a fleet worker always isolates "
                               "its cases and keeps no arrays")
    if not selection["dtypes"]:
        raise click.BadParameter("give at least one dtype", param_hint="--dtypes")
    con = console()
    try:
        outcome = run_fleet(cluster, fleet_mode, selection, timeout_s, out_dir, resume, new_run_id(git_commit()),
                            reg, con, quiet=quiet, argv=sys.argv[1:], connect_s=connect_s)
    except FleetError as exc:
        raise click.UsageError(str(exc)) from None
    for writer in outcome.writers.values():
        store_growth(writer)
    if not quiet:
        for mid, writer in outcome.writers.items():
            mine = [r for r in outcome.records if r.get("machine_id") == mid]
            con.print(f"{mid}: {len(mine)} records, {len(gate_failures(mine))} failed or out of bound -> "
                      f"{writer.path}", markup=False)
    hint = f"harness run --cluster {cluster} --resume {next(iter(outcome.writers.values())).path}" \
        if outcome.writers else "harness run --cluster ... --resume latest"
    if outcome.interrupted:
        click.echo(f"interrupted: {len(outcome.records)} records kept; finish with `{hint}`", err=True)
        sys.exit(130)
    if outcome.not_run:
        left = ", ".join(f"{k}: {n}" for k, n in outcome.not_run.items())
        click.echo(f"cases not run, their workers left the cluster ({left}); finish with `{hint}`", err=True)
        sys.exit(1)
    if strict and (failed := gate_failures(outcome.records)):
        click.echo(f"--strict: {len(failed)} case(s) failed or out of bound", err=True)
        sys.exit(1)


def nothing_selected(reg, kernels, backends, impls) -> str:
    """Why a selection holds no case: each name was valid on its own, but no kernel has
    those implementations on those backends (e.g. --kernels saxpy --impls numpy, where
    saxpy's NumPy version is the generic array_api one). A run of nothing is an error,
    not a green run."""
    have = sorted({f"{b}:{i}" for (k, b, i) in reg.impls if k in kernels and b in backends})
    return (f"no case matches --kernels {','.join(kernels)} --backends {','.join(backends)}"
            + (f" --impls {','.join(impls)}" if impls else "")
            + f"; these kernels have: {', '.join(have) or 'no implementation on these backends'}")


@click.command("run")
@click.option("--kernels", help="Comma-separated kernel names (default: all).")
@click.option("--backends", help="Comma-separated backend names (default: all; unavailable ones are recorded as skipped).")
@click.option("--impls", help="Only these implementation names (e.g. array_api).")
@click.option("--dtypes", default="float32,float64", show_default=True, help="Comma-separated dtypes.")
@click.option("--sizes", help="Comma-separated sizes (overrides --preset).")
@click.option("--preset", type=click.Choice(["quick", "full", "test"]), default="quick", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, callback=_parse_seed,
              help="Seed of the input generator (>= 0): the same seed gives bit-identical inputs everywhere.")
@click.option("--budget", type=click.FloatRange(min=0.0, min_open=True),
              help="Seconds of timing per case (default: 0.2 for quick, 1.0 for full).")
@click.option("--cache", type=click.Choice(["warm", "cold"]), default="warm", show_default=True,
              help="warm: back-to-back calls; cold: flush the last-level cache before each sample "
                   "(outside the timed region), one call per sample. Recorded as cache_state.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("results"),
              show_default=True, help="Results folder; a run goes to OUT/<machine_id>/<run_id>.jsonl.")
@click.option("--save-arrays", type=click.Path(path_type=Path),
              help="Write inputs.npz, output.npy and reference.npy per case under this folder.")
@click.option("--timeout", "timeout_s", callback=_parse_timeout, metavar="SECONDS",
              help="Per-case timeout; a case past it is killed and recorded as 'timeout' "
                   "[default: 300 + 60 x budget].")
@click.option("--max-memory", "max_memory", metavar="SIZE",
              help="Skip (before allocating) cases whose inputs, outputs and reference would exceed SIZE, "
                   "e.g. 512M, 2G.")
@click.option("--no-isolate", "no_isolate", is_flag=True,
              help="Run cases in this process (for debugging): no timeout, and a crash ends the run.")
@click.option("--resume", metavar="RUN_FILE|latest", is_flag=False, flag_value="latest", default=None,
              help="Run only the cases missing from an interrupted run, appending to its file "
                   "(alone: the latest run of this machine under --out).")
@click.option("--cluster", metavar="tcp://HOST:8786",
              help="Run on a fleet: the address of a Dask scheduler whose workers were started with "
                   "`dask worker ADDR --nthreads 1 --resources harness=1` (needs .[fleet]; docs/fleet.md).")
@click.option("--fleet", "fleet_mode", type=click.Choice(["each", "share"]),
              help="With --cluster: each = the same plan on every machine (the default); share = one plan "
                   "split across machines of one kind.")
@click.option("--cluster-timeout", "cluster_timeout_s", type=click.FloatRange(min=0.0, min_open=True), default=10.0,
              show_default=True, metavar="SECONDS",
              help="With --cluster: how long to try to reach the scheduler, and to wait for its first worker.")
@click.option("--quiet", is_flag=True, help="No progress, table or summary.")
@click.option("--strict", is_flag=True,
              help="Exit 1 if any case failed (error, nan, invalid, oom, timeout, crashed) or is out of its "
                   "error bound (or its bound is a spec error); for CI.")
def command(kernels, backends, impls, dtypes, sizes, preset, seed, budget, cache, out_dir, save_arrays,
            timeout_s, max_memory, no_isolate, resume, cluster, fleet_mode, cluster_timeout_s, quiet, strict):
    """Run kernels on backends, store the results and print speed and divergence."""
    from ..machine import git_commit, machine_info
    from ..registry import get_registry

    click_ctx = click.get_current_context()
    reg = get_registry()
    max_memory_bytes = parse_memory(max_memory)
    if cluster is not None or fleet_mode is not None:
        selection = {"kernels": split_list(kernels), "backends": split_list(backends), "impls": split_list(impls),
                     "dtypes": split_list(dtypes), "sizes": parse_sizes(sizes), "preset": preset, "seed": seed,
                     "budget_s": budget or PRESET_BUDGET_S[preset], "cache": cache,
                     "max_memory_bytes": max_memory_bytes}
        return run_on_cluster(cluster, fleet_mode, selection, timeout_s, out_dir, resume, reg,
                              save_arrays is not None or no_isolate, quiet, strict, cluster_timeout_s)
    try:
        machine = machine_info()
        commit = git_commit()  # ValueError: HARNESS_COMMIT is not a hash or a plain name
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    if resume is not None:
        given = {name: click_ctx.params[name] for name in RUN_SELECTION
                 if click_ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
        sel = selection_from_resume(resume, out_dir, machine["machine_id"], given, reg)
    else:
        sel = selection_from_options(reg, kernels, backends, impls, dtypes, sizes, preset, seed, budget, cache,
                                     max_memory_bytes, out_dir, new_run_id(commit))
    check_output_folders(sel.out_dir / machine["machine_id"], save_arrays)
    records = execute_run(sel, reg, machine, commit, save_arrays, timeout_s, no_isolate, quiet)
    if records is None:
        return
    growth = store_growth(records.writer)
    if not quiet:
        print_run_summary(console(), records, growth)
    if strict and (failed := gate_failures(records)):
        click.echo(f"--strict: {len(failed)} case(s) failed or out of bound", err=True)
        sys.exit(1)


@dataclass
class Selection:
    """What one run covers, from the command line or from the run file being resumed."""

    kernels: list[str]
    backends: list[str]
    dtypes: list[str]
    sizes: list[int]
    preset: str
    seed: int
    impls: list[str]
    budget_s: float
    cache: str
    max_memory_bytes: int | None
    run_id: str
    out_dir: Path
    resume_path: Path | None = None
    old_header: dict = field(default_factory=dict)
    done: set = field(default_factory=set)


def selection_from_options(reg, kernels, backends, impls, dtypes, sizes, preset, seed, budget, cache,
                           max_memory_bytes, out_dir, run_id) -> Selection:
    """A new run's selection; every name checked (a usage error lists the valid ones)."""
    from ..dtypes import DTYPES

    kernel_names = check_names("kernel", given_list(kernels, "--kernels", "sum,matmul") or list(reg.kernels),
                               reg.kernels, "--kernels")
    backend_names = check_names("backend", given_list(backends, "--backends", "numpy,opencl")
                                or reg.backend_names, reg.backend_names, "--backends")
    dtype_names = check_names("dtype", split_list(dtypes), DTYPES, "--dtypes")
    if not dtype_names:
        raise click.BadParameter("give at least one dtype", param_hint="--dtypes")
    size_list = parse_sizes(sizes) if given_list(sizes, "--sizes", "1000,4096") else []
    impl_names = given_list(impls, "--impls", "array_api") or []
    if impl_names:
        check_names("implementation", impl_names, sorted({i.name for i in reg.impls.values()}), "--impls")
    writable_folder(out_dir, "--out")
    return Selection(kernel_names, backend_names, dtype_names, size_list, preset, seed, impl_names,
                     budget or PRESET_BUDGET_S[preset], cache, max_memory_bytes, run_id, out_dir)


def selection_from_resume(resume: str, out_dir: Path, machine_id: str, given: dict, reg) -> Selection:
    """The selection of the run being resumed, with its file locked and its recorded
    cases; options given again must equal the run's (refused with the difference)."""
    path = find_resume_file(resume, out_dir, machine_id)
    hold_for_resume(path)  # before reading it: what is missing must not change under us
    header, old_records = read_resume_file(path, machine_id)
    o = header["options"]
    refuse_other_selection(given, o, path)
    from ..dtypes import DTYPES

    try:
        return Selection(check_names("kernel", o["kernels"], reg.kernels, "--resume"),
                         check_names("backend", o["backends"], reg.backend_names, "--resume"),
                         check_names("dtype", o["dtypes"], DTYPES, "--resume"), list(o["sizes"] or []),
                         o["preset"], int(o["seed"]), list(o["impls"] or []), float(o["budget_s"]),
                         o.get("cache", "warm"), o.get("max_memory_bytes"), header.get("run_id") or path.stem,
                         path.parent.parent, path, header, {r["case_id"] for r in old_records})
    except (KeyError, TypeError, ValueError) as exc:
        raise click.BadParameter(f"{path}: damaged run options ({exc}); start a new run",
                                 param_hint="--resume") from None


def read_resume_file(path: Path, machine_id: str) -> tuple[dict, list[dict]]:
    """(header, records) of a run to resume, refused when unreadable, from another
    machine, or without the run options that say which cases are missing."""
    from ..store import ResultsFileError, read_run

    try:
        header, records = read_run(path)
    except ResultsFileError as exc:
        raise click.BadParameter(f"cannot resume {exc.path}: {exc.reason}", param_hint="--resume") from None
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror or exc}", param_hint="--resume") from None
    if header.get("machine_id") != machine_id:
        raise click.BadParameter(
            f"{path} was recorded on machine {header.get('machine_id')!r}, this is {machine_id!r}: resume it on "
            f"that machine (or set HARNESS_MACHINE_ID={header.get('machine_id')} if it is this one)",
            param_hint="--resume")
    if not isinstance(header.get("options"), dict):
        raise click.BadParameter(f"{path} does not record its run options (written by an older harness), so the "
                                 f"missing cases are unknown; start a new run", param_hint="--resume")
    return header, records


def check_output_folders(machine_folder: Path, save_arrays: Path | None) -> None:
    """Nothing is written into another machine's folder, nor into an unwritable one."""
    from ..ceilings import ForeignMachineFile, check_folder_owner

    try:
        check_folder_owner(machine_folder)
    except ForeignMachineFile as exc:
        raise click.UsageError(str(exc)) from None
    if save_arrays is not None:
        writable_folder(save_arrays, "--save-arrays")


class RunRecords(list):
    """The records of this invocation, in order, and the writer that stored them."""

    writer = None


def execute_run(sel: Selection, reg, machine: dict, commit: str, save_arrays, timeout_s, no_isolate: bool,
                quiet: bool) -> RunRecords | None:
    """Plan, open the run file, run every case and store each record as it comes; None
    when a resume finds nothing missing. Ctrl-C, SIGTERM, a closed stdout or a full disk
    stop the run with its records kept (stop_run)."""
    from ..ceilings import set_results_dir
    from ..runner import RunContext, Skip, plan
    from ..run_file import ResultsWriteError, release_run_file
    from ..timing import TimingOptions

    opts = TimingOptions(budget_s=sel.budget_s, cache=sel.cache)
    ctx = RunContext(reg, seed=sel.seed, timing=opts, machine_id=machine["machine_id"], commit=commit,
                     run_id=sel.run_id, save_arrays=save_arrays)
    set_results_dir(sel.out_dir)  # roofline ceilings cached by `harness machine` (workers inherit it)
    supervisor = None if no_isolate else start_supervisor(ctx, timeout_s, sel)
    records = RunRecords()
    previous_sigterm = raise_on_sigterm()
    try:
        planned = plan(reg, sel.kernels, sel.backends, sel.dtypes, sel.sizes, sel.preset, impls=sel.impls or None,
                       max_memory=sel.max_memory_bytes)
        if not planned:
            raise click.UsageError(nothing_selected(reg, sel.kernels, sel.backends, sel.impls))
        n_all = len(planned)
        planned = [p for p in planned if (p.case if isinstance(p, Skip) else p).case_id not in sel.done]
        if sel.resume_path is not None and not planned:
            console().print(f"nothing to resume: all {n_all} cases of {sel.resume_path} are recorded")
            return None
        records.writer = open_run_file(sel, reg, machine, commit, supervisor, len(planned))
        run_planned(planned, ctx, records, supervisor, quiet, n_all, sel)
    except (KeyboardInterrupt, BrokenPipeError, ResultsWriteError) as exc:
        stop_run(exc, supervisor, records.writer, records)
    finally:
        if supervisor is not None:
            supervisor.close()
        if records.writer is not None:
            records.writer.close()
        if sel.resume_path is not None:
            release_run_file(sel.resume_path)
        restore_sigterm(previous_sigterm)
    return records


def start_supervisor(ctx, timeout_s, sel: Selection):
    """The worker process, started now so that it imports and probes while this one plans."""
    from ..worker import CaseSupervisor

    supervisor = CaseSupervisor(ctx, timeout_s=timeout_s, backends=sel.backends, max_memory=sel.max_memory_bytes)
    supervisor.start()
    return supervisor


def open_run_file(sel: Selection, reg, machine: dict, commit: str, supervisor, n_missing: int):
    """The run file: the resumed one, appended to with a "resume" note, or a new one
    whose header holds the options (what a resume needs) and the machine."""
    from ..ceilings import header_fields
    from ..record import now_iso
    from ..runner import device_inventory
    from ..store import RunWriter

    if sel.resume_path is not None:
        if sel.old_header.get("commit") != commit:
            console().print(f"[yellow]note[/]: the run started at commit {sel.old_header.get('commit')}, "
                            f"this is {commit}; new records carry the current commit")
        try:
            writer = RunWriter(sel.out_dir, sel.old_header, path=sel.resume_path)
        except OSError as exc:
            raise click.BadParameter(f"cannot append to {sel.resume_path} ({exc.strerror or exc}); make it "
                                     f"writable, or copy it somewhere writable and resume the copy",
                                     param_hint="--resume") from None
        writer.note("resume", started=now_iso(), argv=sys.argv[1:], commit=commit, missing=n_missing,
                    recorded=len(sel.done))
        return writer
    devices, unusable = device_inventory(reg, sel.backends)
    options = {"kernels": sel.kernels, "backends": sel.backends, "impls": sel.impls or None, "dtypes": sel.dtypes,
               "sizes": sel.sizes or None, "preset": sel.preset, "seed": sel.seed, "budget_s": sel.budget_s,
               "cache": sel.cache, "max_memory_bytes": sel.max_memory_bytes, "isolate": supervisor is not None,
               "timeout_s": supervisor.timeout_s if supervisor is not None else None}
    header = {"run_id": sel.run_id, "machine_id": machine["machine_id"], "commit": commit, "started": now_iso(),
              "argv": sys.argv[1:], "preset": sel.preset, "seed": sel.seed, "budget_s": sel.budget_s,
              "options": options, "machine": {**machine, "devices": devices, "unusable_devices": unusable,
                                              **header_fields(sel.out_dir)}}
    return RunWriter(sel.out_dir, header)


def run_planned(planned: list, ctx, records: RunRecords, supervisor, quiet: bool, n_all: int,
                sel: Selection) -> None:
    """Run the plan, each record durable (fsync'ed) before the next case starts; progress
    on the console unless --quiet."""
    from ..execution import run_cases
    from ..units import format_bytes
    from ..runner import Skip

    def store(rec):
        with signals_held():  # a Ctrl-C or SIGTERM between the two would miscount the records kept
            records.writer.write(rec)
            records.append(rec)

    if quiet:
        run_cases(planned, ctx, store, supervisor=supervisor)
        return
    con = console()
    n_run = sum(1 for p in planned if not isinstance(p, Skip))
    lead = f"resuming {sel.resume_path}: {len(sel.done)} of {n_all} cases recorded; " if sel.resume_path else ""
    mode = f"isolated, timeout {supervisor.timeout_s:g} s per case" if supervisor is not None else "in-process"
    mem = f", max memory {format_bytes(sel.max_memory_bytes)}" if sel.max_memory_bytes else ""
    con.print(f"{lead}{n_run} cases to run ({mode}{mem}), {len(planned) - n_run} skipped here; "
              f"results -> {records.writer.path}")
    with RunProgress(con, total=n_run) as progress:
        def on_record(rec):
            store(rec)
            progress.advance(rec)

        run_cases(planned, ctx, on_record, supervisor=supervisor)


def print_run_summary(con, records: RunRecords, growth: list[dict]) -> None:
    """The results table, grouped failures and skips, and the one-line count."""
    print_summary(con, records)
    skipped = [r for r in records if r["status"] == "skipped"]
    bad = gate_failures(records)
    unbounded = sum(1 for r in records if r.get("verdict") == "unbounded")
    counts: dict[str, int] = {}
    for r in records:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    fitted = [g for g in growth if g.get("slope") is not None]
    if fitted:
        con.print(f"error growth: slope of log(error) vs log(size) fitted for {len(fitted)} series "
                  "(stored as 'growth' lines; harness.growth.growth_frame(load_results(...)) recomputes)")
    con.print(f"{len(records) - len(skipped)} cases run, {len(bad)} failed or out of bound, "
              f"{unbounded} unbounded (no bound that can fail) "
              f"({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}); results in {records.writer.path}")
