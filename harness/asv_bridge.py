"""asv results → harness results, so the harness's report shows history across commits.

The direction is asv → harness: asv is what walks git history (one environment
per commit), and the harness's results and report are where speed and divergence
are read side by side. Each asv results file (one machine, one commit, one
environment) becomes one harness results file, header and records as RunWriter
writes them, with one record per case (kernel, implementation, backend, dtype,
size) that merges the asv benchmarks of that case:

  time_kernels.<K>Time.time_kernel        time_median_s, time_iqr_s, time_samples_s (when
                                          asv kept samples: `asv run --record-samples`)
  accuracy.<K>Accuracy.track_rel_error    rel_error
  accuracy.<K>Accuracy.track_error_ratio  error_ratio (and accuracy_ok = error_ratio <= 1)
  accuracy.<K>Accuracy.track_max_ulp      max_ulp
  peakmem.<K>PeakMemory.peakmem_kernel    peak_rss_bytes

Records carry "source": "asv", the commit asv measured, its commit date (asv's
stored date, `commit_date`), and the asv machine name as machine_id: name asv's
machine after the harness's fingerprint id (`harness asv-machine`) and both tools
file one box under one name. Only this machine's asv results are imported unless
another is named, and never into a folder that belongs to another machine. asv does
not record which device a backend used (the benchmarks take the backend's first
device), so device is "default". A failed benchmark carries the reason its process
left in .asv/harness-failures.jsonl (asv itself keeps no stderr). Importing again
replaces the files it wrote before and touches nothing else.
"""
from __future__ import annotations

import ast
import datetime as _dt
import hashlib
import itertools
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Iterator

from .record import new_record

#: (benchmark module, method) -> the record field it fills.
BENCHMARK_FIELDS = {
    ("time_kernels", "time_kernel"): "time",
    ("accuracy", "track_rel_error"): "rel_error",
    ("accuracy", "track_error_ratio"): "error_ratio",
    ("accuracy", "track_max_ulp"): "max_ulp",
    ("peakmem", "peakmem_kernel"): "peak_rss_bytes",
}
PARAM_NAMES = ("kernel", "implementation", "dtype", "size")
DEVICE = "default"


class AsvImportError(ValueError):
    """asv results that cannot be imported; the message says why."""


class ForeignDestination(AsvImportError):
    """An import that would write into another machine's results folder."""


def default_results_dir(conf_dir: str | os.PathLike = ".") -> Path:
    """results_dir of asv.conf.json in `conf_dir`, else results/asv."""
    conf = Path(conf_dir) / "asv.conf.json"
    try:
        text = "\n".join(l for l in conf.read_text(encoding="utf-8").splitlines() if not l.lstrip().startswith("//"))
        return Path(conf_dir) / json.loads(text).get("results_dir", "results")
    except (OSError, ValueError):
        return Path(conf_dir) / "results" / "asv"


def parse_label(label: str) -> tuple[str, str]:
    """(impl, backend) of a benchmark implementation label ("array_api@torch", "numpy"),
    as benchmarks/_grid.impl_label writes it; the benchmarks parse labels with this one."""
    impl, _, backend = label.partition("@")
    return impl, (backend or impl)


def asv_machine_fields(machine_id: str, info: dict[str, Any]) -> dict[str, str]:
    """asv's description of this box under the harness's id: asv's own defaults (os,
    arch, ...) with the harness's CPU (its microarchitecture added: asv's default, the
    CPU's marketing name, cannot tell a Zen 3 from a Zen 5), cores and memory."""
    from asv.machine import Machine

    fields = {k: str(v) for k, v in Machine.get_defaults().items()}
    cpu = str(info.get("cpu") or fields.get("cpu") or "unknown CPU")
    if info.get("microarchitecture"):
        cpu += f" ({info['microarchitecture']})"
    fields.update(machine=machine_id, cpu=cpu)
    for key, value in (("num_cpu", info.get("cores_logical")), ("ram", info.get("memory_bytes")),
                       ("os", info.get("os")), ("arch", info.get("arch"))):
        if value is not None:
            fields[key] = str(value)
    return fields


def save_asv_machine(machine_id: str, info: dict[str, Any], path: str | None = None) -> dict[str, str]:
    """Store this box in asv's machine file (~/.asv-machine.json) under `machine_id`,
    every field filled (`asv machine --yes --machine ID` stores only the fields that
    differ from asv's defaults, so results would lack os, arch and ram)."""
    _load_asv()
    from asv.machine import MachineCollection

    fields = asv_machine_fields(machine_id, info)
    MachineCollection.save(machine_id, fields, _path=path)
    return fields


def _iso(ms: Any) -> str | None:
    if not isinstance(ms, (int, float)) or isinstance(ms, bool):
        return None
    return _dt.datetime.fromtimestamp(ms / 1000.0, _dt.timezone.utc).isoformat(timespec="seconds")


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "asv-machine"


def _number(v: Any) -> float | None:
    """A measured value, or None for failed (None) and skipped (NaN) results."""
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
        return None
    return float(v)


def _state(v: Any) -> str:
    if v is None:
        return "failed"
    if isinstance(v, float) and math.isnan(v):
        return "skipped"
    return "measured"


def _field_of(benchmark: str) -> str | None:
    parts = benchmark.split(".")
    if len(parts) != 3:
        return None
    return BENCHMARK_FIELDS.get((parts[0], parts[2]))


def _load_asv():
    try:
        from asv import results as asv_results
        from asv import util as asv_util
    except ImportError as exc:
        raise AsvImportError(f"asv is not installed ({exc}); pip install 'kernel-harness[asv]'") from exc
    return asv_results, asv_util


def iter_asv_results(results_dir: str | os.PathLike, machine: str | None = None) -> Iterator[tuple[str, dict, Any]]:
    """(machine name, machine.json, asv Results) for every results file under results_dir."""
    asv_results, asv_util = _load_asv()
    for root, filename, machine_name in asv_results.iter_results_paths(str(results_dir)):
        if machine is not None and machine_name != machine:
            continue
        try:
            machine_info = asv_util.load_json(os.path.join(root, "machine.json"), api_version=1)
        except Exception:
            machine_info = {}
        try:
            res = asv_results.Results.load(os.path.join(root, filename), machine_name=machine_name)
        except Exception as exc:  # a damaged file is skipped with its reason, never fatal
            import warnings

            warnings.warn(f"skipping asv results {os.path.join(root, filename)}: {exc}", stacklevel=2)
            continue
        yield machine_name, machine_info, res


def _cases(res) -> dict[tuple, dict[str, Any]]:
    """(kernel, label, dtype, size) -> {field: (value, stats, samples, started_at)}."""
    cases: dict[tuple, dict[str, Any]] = {}
    for key in sorted(res.get_all_result_keys()):
        field = _field_of(key)
        if field is None:
            continue
        params = res.get_result_params(key)
        if not params or len(params) != len(PARAM_NAMES):
            continue
        try:
            values_of = [[ast.literal_eval(v) for v in vals] for vals in params]
        except (ValueError, SyntaxError):
            continue
        values = res.get_result_value(key, params)
        stats = res.get_result_stats(key, params) or [None] * len(values)
        samples = res.get_result_samples(key, params) or [None] * len(values)
        started = res.started_at.get(key)
        for i, combo in enumerate(itertools.product(*values_of)):
            if i >= len(values):
                break
            case = cases.setdefault(tuple(combo), {})
            case[field] = (values[i], stats[i] if i < len(stats) else None,
                           samples[i] if i < len(samples) else None, started)
    return cases


def _spec_costs(kernel: str, size: int, dtype: str) -> dict[str, Any]:
    """flops, bytes and u from the installed harness where it knows the kernel."""
    out: dict[str, Any] = {}
    try:
        from .dtypes import itemsize, unit_roundoff

        out["u"] = unit_roundoff(dtype)
        from .registry import get_registry

        spec = get_registry().kernels.get(kernel)
        if spec is not None:
            out["flops"] = float(spec.flops(size))
            out["bytes"] = float(spec.bytes_moved(size, itemsize(dtype)))
    except Exception:
        pass
    return out


def case_record(case: tuple, fields: dict[str, Any], *, machine_id: str, commit: str, run_id: str,
                env_name: str, fallback_time: str | None, commit_date: str | None = None,
                reasons: dict[tuple, str] | None = None) -> dict[str, Any]:
    kernel, label, dtype, size = case
    impl, backend = parse_label(str(label))
    size = int(size)
    states = {f: _state(v[0]) for f, v in fields.items()}
    rec = new_record(kernel=kernel, impl=impl, backend=backend, device=DEVICE, dtype=dtype, size=size,
                     seed=0, machine_id=machine_id, commit=commit, run_id=run_id, source="asv",
                     asv_env=env_name, status="ok")
    started = [v[3] for v in fields.values() if v[3] is not None]
    rec["timestamp"] = _iso(min(started)) if started else fallback_time
    rec["commit_date"] = commit_date
    rec.update(_spec_costs(kernel, size, dtype))
    if "time" in fields:
        value, stats, samples, _ = fields["time"]
        rec["time_median_s"] = _number(value)
        if isinstance(stats, dict):
            q25, q75 = _number(stats.get("q_25")), _number(stats.get("q_75"))
            if q25 is not None and q75 is not None:
                rec["time_iqr_s"] = q75 - q25
            if stats.get("repeat") is not None:
                rec["n_samples"] = int(stats["repeat"])
        if samples:
            rec["time_samples_s"] = [float(s) for s in samples]
            rec["time_min_s"] = min(rec["time_samples_s"])
            rec["n_samples"] = len(samples)
        if rec["time_median_s"]:
            rec["timer"] = "asv: synchronised perf_counter"
            if rec.get("flops"):
                rec["gflops"] = rec["flops"] / rec["time_median_s"] / 1e9
            if rec.get("bytes"):
                rec["gbps"] = rec["bytes"] / rec["time_median_s"] / 1e9
    for name in ("rel_error", "error_ratio", "max_ulp", "peak_rss_bytes"):
        if name in fields:
            rec[name] = _number(fields[name][0])
    if rec.get("peak_rss_bytes") is not None:
        rec["peak_rss_bytes"] = int(rec["peak_rss_bytes"])
    if rec.get("error_ratio") is not None:
        rec["accuracy_ok"] = rec["error_ratio"] <= 1.0
    failed = sorted(f for f, s in states.items() if s == "failed")
    measured = [f for f, s in states.items() if s == "measured"]
    if failed:
        rec["status"] = "error"
        rec["message"] = failure_message(case, failed, reasons or {}, commit)
    elif not measured:
        rec["status"] = "skipped"
        rec["message"] = "skipped by asv (backend unavailable here, or the case does not exist at this commit)"
    return rec


#: record field -> the benchmark kind that fills it (the keys of the failure reasons).
FIELD_KIND = {"time": "time", "rel_error": "accuracy", "error_ratio": "accuracy", "max_ulp": "accuracy",
              "peak_rss_bytes": "peakmem"}


def failure_message(case: tuple, failed: list[str], reasons: dict[tuple, str], commit: str) -> str:
    """Which benchmarks failed and why: the reason the benchmark process left, else
    how to see it (asv keeps no stderr: a timeout or a crash leaves no reason)."""
    key = tuple(str(c) for c in case)
    why = list(dict.fromkeys(r for r in (reasons.get((FIELD_KIND[f], key)) for f in failed) if r))
    if why:
        return f"asv benchmark(s) failed: {', '.join(failed)}: " + " | ".join(why)
    kernel, label, dtype, size = key
    return (f"asv benchmark(s) failed: {', '.join(failed)} (no reason recorded: a timeout, a crash or a "
            f"failed setup_cache); see it with asv run --show-stderr -b \"'{kernel}', '{label}', '{dtype}', "
            f"{size}\\)\" {commit[:8]}^!")


def load_failures(path: str | os.PathLike | None, commit: str, env_name: str) -> dict[tuple, str]:
    """(kind, case) -> the newest reason benchmark processes recorded for this commit and
    environment (a line without a commit, from an existing environment, matches any)."""
    out: dict[tuple, tuple[float, str]] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines() if path else []
    except OSError:
        return {}
    for line in lines:
        try:
            d = json.loads(line)
            if d.get("env") != env_name or d.get("commit") not in (None, commit):
                continue
            key, at = (str(d["kind"]), tuple(str(c) for c in d["case"])), float(d.get("at") or 0)
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        if key not in out or at >= out[key][0]:
            out[key] = (at, str(d.get("reason") or ""))
    return {k: v for k, (_, v) in out.items()}


def convert(machine_name: str, machine_info: dict, res, failures: str | os.PathLike | None = None
            ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(header, records) of one asv results file; `failures` is the file of failure reasons."""
    commit = res.commit_hash
    env_name = res.env_name
    machine_id = _safe_name(machine_name)
    run_id = f"asv-{commit[:8]}-{hashlib.sha256(env_name.encode()).hexdigest()[:8]}"
    fallback = _iso(res.date)
    reasons = load_failures(failures, commit, env_name)
    records = [case_record(case, fields, machine_id=machine_id, commit=commit, run_id=run_id,
                           env_name=env_name, fallback_time=fallback, commit_date=fallback, reasons=reasons)
               for case, fields in sorted(_cases(res).items(), key=lambda kv: tuple(map(str, kv[0])))]
    started = [r["timestamp"] for r in records if r.get("timestamp")]
    machine = {k: v for k, v in machine_info.items() if k != "version"}
    machine.update(machine_id=machine_id, asv_machine=machine_name)
    header = {"run_id": run_id, "machine_id": machine_id, "commit": commit,
              "started": min(started) if started else fallback, "argv": ["asv", "run"], "source": "asv",
              "asv": {"env_name": env_name, "python": res.params.get("python"),
                      "requirements": {k: v for k, v in res.params.items()
                                       if k not in ("arch", "cpu", "machine", "num_cpu", "os", "ram", "python")},
                      "commit_date": fallback},
              "machine": machine}
    return header, records


def _tracked_by_git(folder: Path) -> bool:
    """True when git tracks a file in `folder` (committed results are never overwritten)."""
    import subprocess

    try:
        out = subprocess.run(["git", "ls-files", "--", "."], cwd=folder, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and bool(out.stdout.strip())


def check_destination(folder: Path, machine_name: str, own_id: str) -> None:
    """Refuse to write into another machine's results. For another asv machine, its
    folder may only hold what an earlier import wrote (asv-*.jsonl, none committed);
    this machine's folder must not hold a machine.json measured on other hardware
    (ceilings.check_folder_owner)."""
    if machine_name != own_id:
        others = [p.name for p in folder.iterdir() if not (p.name.startswith("asv-") and p.suffix == ".jsonl")] \
            if folder.is_dir() else []
        if others or (folder.is_dir() and _tracked_by_git(folder)):
            raise ForeignDestination(f"{folder} holds results of machine {machine_name!r} (not this one, {own_id}) "
                                     "that this import did not write; import it with --out into a folder of its own")
        return
    from .ceilings import ForeignMachineFile, check_folder_owner

    try:
        check_folder_owner(folder)
    except ForeignMachineFile as exc:
        raise ForeignDestination(str(exc)) from exc


def import_asv(results_dir: str | os.PathLike, out_dir: str | os.PathLike, machine: str | None = None,
               failures: str | os.PathLike | None = None) -> list[tuple[Path, int]]:
    """Write one harness results file per asv results file of `machine` (default: this
    machine, by its harness id); returns (path, records).

    Files are written whole to a temporary name and then renamed, so an interrupted
    import never leaves half a file and re-importing replaces only what it wrote.
    """
    from .machine import machine_id
    from .store import RunWriter

    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise AsvImportError(f"no asv results folder at {results_dir}; run `asv run` first "
                             "or give --asv-results")
    own = machine_id()
    machine = machine or own
    written: list[tuple[Path, int]] = []
    for machine_name, machine_info, res in iter_asv_results(results_dir, machine):
        header, records = convert(machine_name, machine_info, res, failures)
        if not records:
            continue
        folder = Path(out_dir) / header["machine_id"]
        check_destination(folder, machine_name, own)
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"{header['run_id']}.jsonl"
        tmp = folder / f".{header['run_id']}.jsonl.tmp"
        tmp.unlink(missing_ok=True)
        writer = RunWriter(out_dir, header, path=tmp)
        for rec in records:
            writer.write(rec)
        os.replace(tmp, final)
        written.append((final, len(records)))
    return written


def asv_machines(results_dir: str | os.PathLike) -> list[str]:
    """The machine folders under asv's results_dir (for a message naming them)."""
    p = Path(results_dir)
    return sorted(d.name for d in p.iterdir() if (d / "machine.json").is_file()) if p.is_dir() else []
