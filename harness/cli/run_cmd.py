"""`harness run`: plan the cases, run them with a progress bar, store every record as
soon as it exists, and print the comparison table.

Cases run in a spawned worker process with a per-case timeout (see harness/worker.py);
`--resume` finishes an interrupted run in the same file. Every usage error exits 2
before anything is written."""
from __future__ import annotations

import os
import re
import secrets
import sys
import tempfile
import time
from pathlib import Path

import click

from .common import check_names, console, parse_sizes, split_list

PRESET_BUDGET_S = {"quick": 0.2, "full": 1.0, "test": 0.05}


def summary_table(records: list[dict], title: str = "Results"):
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for c, j in (("kernel", "left"), ("impl", "left"), ("backend", "left"), ("dtype", "left"),
                 ("size", "right"), ("median", "right"), ("±IQR", "right"), ("throughput", "right"),
                 ("rel. error", "right"), ("err/bound", "right"), ("verdict", "left")):
        t.add_column(c, justify=j)
    for r in records:
        if r["status"] == "skipped":
            continue
        verdict = _verdict(r)
        med = r.get("time_median_s")
        thr = ""
        if med:
            thr = f"{r['gflops']:.2f} GFLOP/s" if r.get("flops", 0) >= 4 * r.get("bytes", 1) else f"{r['gbps']:.2f} GB/s"
        t.add_row(escape(r["kernel"]), escape(r["impl"]), escape(r["backend"]), r["dtype"], str(r["size"]),
                  _fmt_time(med), _fmt_time(r.get("time_iqr_s")), thr,
                  _fmt(r.get("rel_error")), _fmt(r.get("error_ratio")), verdict)
    return t


def _verdict(r: dict) -> str:
    from rich.markup import escape

    if r["status"] != "ok":
        return f"[red]{r['status']}[/]: {escape((r.get('message') or '')[:60])}"
    v = r.get("verdict") or ("within" if r.get("accuracy_ok") else "out_of_bound")
    if v == "unbounded":
        return f"[dim]unbounded[/] ({escape((r.get('verdict_reason') or '')[:50])})"
    if v == "spec_error":
        return f"[red]spec error[/]: {escape((r.get('verdict_reason') or '')[:50])}"
    kind = f" ({escape(str(r.get('bound_kind')).replace('_', ' '))})" if r.get("bound_kind") else ""
    return f"[green]within bound[/]{kind}" if v == "within" else f"[red]exceeds bound[/]{kind}"


def gate_failures(records: list[dict]) -> list[dict]:
    """What `--strict` fails on: failed cases, and measured cases out of bound or judged
    by a broken bound (spec error). Unbounded cases are reported, not failed: no bound
    that can fail exists for them, which is the spec's limit, not the backend's fault."""
    from ..record import FAILURE_STATUSES

    return [r for r in records if r["status"] in FAILURE_STATUSES or
            (r["status"] == "ok" and (r.get("verdict") in ("out_of_bound", "spec_error") or
                                      (r.get("verdict") is None and r.get("accuracy_ok") is False)))]


def _fmt(v) -> str:
    return "" if v is None else f"{v:.3g}"


def _fmt_time(v) -> str:
    if v is None:
        return ""
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if v >= scale:
            return f"{v / scale:.3g} {unit}"
    return f"{v / 1e-9:.3g} ns"


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

_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_memory(value: str | None) -> int | None:
    """'2G', '512M', '1.5GiB', '4096' -> bytes (suffixes are powers of 1024)."""
    if value is None:
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([kKmMgGtT]?)(?:i?[bB])?\s*", value)
    if not m or (m.group(2) == "" and value.strip()[-1:] in "iI"):
        raise click.BadParameter(f"{value!r} is not a size; give a number with an optional unit K, M, G "
                                 f"or T (powers of 1024), e.g. --max-memory 512M or --max-memory 2G",
                                 param_hint="--max-memory")
    n = int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])
    if n <= 0:
        raise click.BadParameter("the memory budget must be more than 0 bytes, e.g. --max-memory 2G",
                                 param_hint="--max-memory")
    return n


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
@click.option("--quiet", is_flag=True, help="No progress bar or table.")
@click.option("--strict", is_flag=True,
              help="Exit 1 if any case failed (error, nan, invalid, oom, timeout, crashed) or is out of its "
                   "error bound (or its bound is a spec error); for CI.")
def command(kernels, backends, impls, dtypes, sizes, preset, seed, budget, cache, out_dir, save_arrays,
            timeout_s, max_memory, no_isolate, resume, quiet, strict):
    """Run kernels on backends, store the results and print speed and divergence."""
    from ..dtypes import DTYPES
    from ..machine import git_commit, machine_info
    from ..record import now_iso
    from ..registry import get_registry
    from ..execution import run_cases
    from ..runner import RunContext, Skip, format_bytes, plan
    from ..store import ResultsFileError, RunWriter, read_run
    from ..timing import TimingOptions

    click_ctx = click.get_current_context()
    reg = get_registry()
    max_memory_bytes = parse_memory(max_memory)
    if resume is not None:
        given = [name for name in RUN_SELECTION
                 if click_ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]
        if given:
            raise click.UsageError(f"--resume takes the cases and their options from the run file; drop "
                                   f"{', '.join('--' + g.replace('_', '-') for g in given)}")
    try:
        machine = machine_info()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    commit = git_commit()

    resume_path = None
    done: set[str] = set()
    if resume is not None:
        resume_path = find_resume_file(resume, out_dir, machine["machine_id"])
        try:
            old_header, old_records = read_run(resume_path)
        except ResultsFileError as exc:
            raise click.BadParameter(f"cannot resume {exc.path}: {exc.reason}", param_hint="--resume") from None
        except OSError as exc:
            raise click.BadParameter(f"cannot read {resume_path}: {exc.strerror or exc}",
                                     param_hint="--resume") from None
        if old_header.get("machine_id") != machine["machine_id"]:
            raise click.BadParameter(
                f"{resume_path} was recorded on machine {old_header.get('machine_id')!r}, this is "
                f"{machine['machine_id']!r}: resume it on that machine (or set HARNESS_MACHINE_ID="
                f"{old_header.get('machine_id')} if it is this one)", param_hint="--resume")
        o = old_header.get("options")
        if not isinstance(o, dict):
            raise click.BadParameter(f"{resume_path} does not record its run options (written by an older "
                                     f"harness), so the missing cases are unknown; start a new run",
                                     param_hint="--resume")
        try:
            kernel_names = check_names("kernel", o["kernels"], reg.kernels, "--resume")
            backend_names = check_names("backend", o["backends"], reg.backend_names, "--resume")
            dtype_names = check_names("dtype", o["dtypes"], DTYPES, "--resume")
            size_list, preset, seed = list(o["sizes"] or []), o["preset"], int(o["seed"])
            impl_names, budget_s = list(o["impls"] or []), float(o["budget_s"])
            max_memory_bytes = o.get("max_memory_bytes")
            cache = o.get("cache", "warm")
        except (KeyError, TypeError, ValueError) as exc:
            raise click.BadParameter(f"{resume_path}: damaged run options ({exc}); start a new run",
                                     param_hint="--resume") from None
        run_id = old_header.get("run_id") or resume_path.stem
        done = {r["case_id"] for r in old_records}
        out_dir = resume_path.parent.parent
    else:
        kernel_names = check_names("kernel", split_list(kernels), reg.kernels, "--kernels") or list(reg.kernels)
        backend_names = (check_names("backend", split_list(backends), reg.backend_names, "--backends")
                         or reg.backend_names)
        dtype_names = check_names("dtype", split_list(dtypes), DTYPES, "--dtypes")
        if not dtype_names:
            raise click.BadParameter("give at least one dtype", param_hint="--dtypes")
        size_list = parse_sizes(sizes)
        impl_names = split_list(impls)
        if impl_names:
            check_names("implementation", impl_names, sorted({i.name for i in reg.impls.values()}), "--impls")
        budget_s = budget or PRESET_BUDGET_S[preset]
        run_id = new_run_id(commit)
        writable_folder(out_dir, "--out")
    from ..ceilings import ForeignMachineFile, check_folder_owner

    try:
        check_folder_owner(out_dir / machine["machine_id"])
    except ForeignMachineFile as exc:
        raise click.UsageError(str(exc)) from None
    if save_arrays is not None:
        writable_folder(save_arrays, "--save-arrays")

    opts = TimingOptions(budget_s=budget_s, cache=cache)
    ctx = RunContext(reg, seed=seed, timing=opts, machine_id=machine["machine_id"], commit=commit,
                     run_id=run_id, save_arrays=save_arrays)
    from ..ceilings import set_results_dir

    set_results_dir(out_dir)  # roofline ceilings cached by `harness machine` (workers inherit it)
    supervisor = None
    writer = None
    records: list[dict] = []
    if not no_isolate:
        from ..worker import CaseSupervisor

        # Started now: the worker imports and probes while this process plans.
        supervisor = CaseSupervisor(ctx, timeout_s=timeout_s, backends=backend_names)
        supervisor.start()
    try:
        planned = plan(reg, kernel_names, backend_names, dtype_names, size_list, preset,
                       impls=impl_names or None, max_memory=max_memory_bytes)
        n_all = len(planned)
        planned = [p for p in planned if (p.case if isinstance(p, Skip) else p).case_id not in done]
        con = console()
        if resume_path is not None:
            if not planned:
                con.print(f"nothing to resume: all {n_all} cases of {resume_path} are recorded")
                return
            if old_header.get("commit") != commit:
                con.print(f"[yellow]note[/]: the run started at commit {old_header.get('commit')}, "
                          f"this is {commit}; new records carry the current commit")
            try:
                writer = RunWriter(out_dir, old_header, path=resume_path)
            except OSError as exc:
                raise click.BadParameter(f"cannot append to {resume_path} ({exc.strerror or exc}); make it "
                                         f"writable, or copy it somewhere writable and resume the copy",
                                         param_hint="--resume") from None
            writer.note("resume", started=now_iso(), argv=sys.argv[1:], commit=commit,
                        missing=len(planned), recorded=len(done))
        else:
            devices, unusable = {}, {}
            for b in backend_names:
                be = reg.backend(b)
                if be.available:
                    devices[b] = [d.metadata() for d in be.devices()]
                if failed := be.unusable_devices():
                    unusable[b] = failed
            options = {"kernels": kernel_names, "backends": backend_names, "impls": impl_names or None,
                       "dtypes": dtype_names, "sizes": size_list or None, "preset": preset, "seed": seed,
                       "budget_s": opts.budget_s, "cache": opts.cache, "max_memory_bytes": max_memory_bytes,
                       "isolate": not no_isolate,
                       "timeout_s": supervisor.timeout_s if supervisor is not None else None}
            from ..ceilings import header_fields

            header = {"run_id": run_id, "machine_id": machine["machine_id"], "commit": commit,
                      "started": now_iso(), "argv": sys.argv[1:], "preset": preset, "seed": seed,
                      "budget_s": opts.budget_s, "options": options,
                      "machine": {**machine, "devices": devices, "unusable_devices": unusable,
                                  **header_fields(out_dir)}}
            writer = RunWriter(out_dir, header)

        def store(rec):
            writer.write(rec)  # durable (fsync'ed) before the next case starts
            records.append(rec)

        n_run = sum(1 for p in planned if not isinstance(p, Skip))
        if not quiet:
            lead = (f"resuming {resume_path}: {len(done)} of {n_all} cases recorded; "
                    if resume_path is not None else "")
            mode = (f"isolated, timeout {supervisor.timeout_s:g} s per case" if supervisor is not None
                    else "in-process")
            mem = f", max memory {format_bytes(max_memory_bytes)}" if max_memory_bytes else ""
            con.print(f"{lead}{n_run} cases to run ({mode}{mem}), {len(planned) - n_run} skipped here; "
                      f"results -> {writer.path}")
        if quiet:
            run_cases(planned, ctx, store, supervisor=supervisor)
        else:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=con, transient=True) as bar:
                task = bar.add_task("running", total=len(planned))

                def on_record(rec):
                    store(rec)
                    bar.update(task, advance=1, description=rec["case_id"][:60])

                run_cases(planned, ctx, on_record, supervisor=supervisor)
    except KeyboardInterrupt:
        if supervisor is not None:
            supervisor.close(kill=True)
        console().print(f"interrupted: {len(records)} records kept" +
                        (f" in {writer.path}; finish with `harness run --resume {writer.path}`" if writer else ""))
        sys.exit(130)
    finally:
        if supervisor is not None:
            supervisor.close()
    growth = store_growth(writer)
    if not quiet:
        con.print(summary_table(records))
        skipped = [r for r in records if r["status"] == "skipped"]
        reasons = {}
        for r in skipped:
            reasons.setdefault(r["message"], 0)
            reasons[r["message"]] += 1
        for msg, n in reasons.items():
            from rich.markup import escape

            con.print(f"skipped {n} case(s): {escape(msg)}")
        bad = gate_failures(records)
        unbounded = sum(1 for r in records if r.get("verdict") == "unbounded")
        counts = {}
        for r in records:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        fitted = [g for g in growth if g.get("slope") is not None]
        if fitted:
            con.print(f"error growth: slope of log(error) vs log(size) fitted for {len(fitted)} series "
                      "(stored as 'growth' lines; harness.growth.growth_frame(load_results(...)) recomputes)")
        con.print(f"{len(records) - len(skipped)} cases run, {len(bad)} failed or out of bound, "
                  f"{unbounded} unbounded (no bound that can fail) "
                  f"({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}); results in {writer.path}")
    if strict and (failed := gate_failures(records)):
        click.echo(f"--strict: {len(failed)} case(s) failed or out of bound", err=True)
        sys.exit(1)
