"""The result record: one tidy row per case.

Schema `kernel-harness/results`, version 1. A results file is JSON Lines:

  line 1   {"kind": "header", "schema": "kernel-harness/results", "schema_version": 1,
            "run_id", "machine_id", "commit", "started", "argv", "options", "machine": {...}}
  line 2+  {"kind": "record", <the fields below>}

Required record fields (names fixed; more may be added, never renamed):
  case_id, kernel, impl, backend, device, dtype, size, status, message,
  time_median_s, time_iqr_s, time_min_s, time_samples_s, n_samples, compile_s,
  transfer_s, rel_error, max_rel_error, max_ulp, error_bound, error_ratio,
  accuracy_ok, deterministic, output_sha256, seed, machine_id, commit, timestamp

Further fields: run_id, out_dtype, loops, timer, timer_overhead_s, h2d_s, d2h_s,
  nonfinite, u, flops, bytes, gflops, gbps, accumulation_dtype, accumulation_measured
  (true: accumulation_dtype came from the probe in harness/accumulation.py, run through
  the implementation on the device; false: no probe, accumulation_dtype is null, never
  a guess), reference_method, reference_precision (significand bits of the reference's
  working precision; 2098 = exact), reference_independent (false: the reference is no
  more precise than the output on this platform, then an error of 0 is recorded as null
  and reference_note says why; harness/references.py), accumulation_probe (dict: big value, ones, ones recovered), threads (dict),
  divergence (dict: TF32, build options, deterministic flags), error_model (dict:
  metric, source, growth_slope), input_distribution, profile (dict: error along
  iterations or positions), device_meta (dict), peak_rss_bytes.

Verdict fields (harness/verdict.py, harness/accuracy.py; issue 12):
  verdict               "within" (a bound that can fail held), "out_of_bound", "unbounded"
                        (every bound is infinite or, for a relative metric, >= 1: zeros would
                        pass), or "spec_error" (the bound raised or is NaN). accuracy_ok is
                        true only for "within".
  verdict_reason        why, in words (which bound or check failed, or why none can fail).
  verdict_bound         which bound decided: "worst_case" or "probabilistic" (the tightest
                        that can fail); error_bound and error_ratio are against it (error_ratio
                        is null when unbounded).
  bound_kind            kind of error_bound: "rigorous", "first_order", "probabilistic",
                        "estimate" (ErrorModel.kind; error_model.kind is the spec's own).
  worst_case_bound, worst_case_kind   the spec's worst-case bound, kept beside the decider.
  probabilistic_bound, probabilistic_lambda, probabilistic_confidence   Higham & Mary 2019
                        γ̃_n(λ) bound, λ, and 1 − 2n·exp(−λ²(1−u)²/2), where the kernel has one.
  position_ratio        cumsum: max over every position of error/bound.
  nonfinite_mismatch    positions where output and reference differ in NaN/+inf/-inf.
  ulp_kind              "elementwise" (max_ulp per element: maps) or "scaled_by_max_ref"
                        (max|out − ref| in ulps of max|ref|), null for integer outputs.
Timing-protocol fields (harness/timing.py):
  warmup_s       seconds of steady-state warm-up after the first call (not in compile_s).
  warmup_calls   calls made during that warm-up (the first call not included).
  warmup_steady  true when two consecutive warm-up blocks agreed within the tolerance;
                 false when the hard cap ended it (slow or noisy case).
  minor_faults_per_call   minor page faults of the process that ran the case, over the
                 samples, per call (null without getrusage): host-side only, so a
                 device's own faults are not in it. A call that maps fresh pages for its
                 output each time pays about one per 4 KiB written.
  cache_state    "warm" or "cold" (`harness run --cache`, every record): cold flushes the
                 last-level cache before each sample, outside the timed region, and
                 takes one call per sample (harness/cache.py).

Reliability fields (harness/worker.py, harness/runner.py; docs/reliability.md):
  peak_rss_bytes        peak resident memory of the process that ran the case, during
                        the case only. Workers are reused, and ru_maxrss never goes down,
                        so on Linux the kernel's high-water mark is reset before each case
                        (/proc/self/clear_refs "5") and VmHWM read after it; elsewhere a
                        thread samples the RSS every millisecond.
  rss_before_bytes      resident memory when the case started (imports, cached inputs).
  peak_rss_delta_bytes  peak_rss_bytes - rss_before_bytes: what the case itself added.
  peak_rss_method       "vmhwm" (exact) or "sampled" (may miss spikes under 1 ms).
  peak_device_bytes     torch CUDA devices only: the caching allocator's peak for the case.
  mem_estimate_bytes    what the case should hold, from the cost model before anything is
                        allocated: 2*bytes_moved(size, itemsize) + bytes_moved(size, 8)
                        (inputs and outputs on host and device, float64 exact inputs and
                        reference); `harness run --max-memory` skips cases above it.
  inputs_sha256         sha256 of the host inputs (names, dtypes, shapes, bytes): equal for
                        every backend and every run with the same kernel, size, dtype, seed.
  case_wall_s           wall time of the whole case (inputs to record), for sizing --timeout.
  worker_pid            process that ran the case; isolation: "worker" when isolated.
  stray_processes_killed  processes the case forked and left running, killed after it
                        (the worker's process group is reduced to the worker after every case).
  worker_memory_limit_bytes  oom records of isolated cases: the worker's RLIMIT_DATA
                        (harness/worker.py memory_headroom; HARNESS_WORKER_MEMORY).

Cross-machine comparison field (harness/output_sample.py), ok records only:
  output_sample         {"positions": [...], "values": [...], "reference": [...], "dtype": str}:
                        up to 32 entries of the flattened output (accuracy.flatten_output;
                        multi-output kernels concatenated), the reference (12 digits) at the
                        same positions, and the numpy dtype of the flattened output. The
                        positions are sorted, drawn from sha256(seed, kernel, size) via the
                        raw PCG64 stream, so they are equal for every backend, device, dtype
                        and machine of a case: two records compare entry by entry. Values
                        are the shortest decimals that read back exactly in `dtype`;
                        NaN/Inf are encoded as everywhere else (null, "inf", "-inf").
                        Absent in older records (comparisons then show "n/a").

status: "ok" (measured; accuracy may still have failed: see verdict and accuracy_ok),
  "skipped" (could not run here; the reason is in message), or a failure:
  "error", "nan", "invalid", "oom" (an allocation failed, whatever the library calls
  it, or the worker was SIGKILLed holding much memory), "timeout" (no record within the per-case
  timeout; the worker was killed), "crashed" (the worker process died: segfault,
  abort; the signal is in message).
Readers check every record line against these types (harness/record_schema.py) and skip
a bad one with a warning naming the file and line.
Times are seconds per call; errors are dimensionless (error_ratio = rel_error /
error_bound, ≤ 1 within the theoretical bound). NaN and Inf are stored as null
or as the strings "inf"/"-inf" (JSON has no infinities).
"""
from __future__ import annotations

import datetime as _dt
import math
from typing import Any

SCHEMA = "kernel-harness/results"
SCHEMA_VERSION = 1

REQUIRED_FIELDS = (
    "case_id", "kernel", "impl", "backend", "device", "dtype", "size", "status", "message",
    "time_median_s", "time_iqr_s", "time_min_s", "time_samples_s", "n_samples", "compile_s",
    "transfer_s", "rel_error", "max_rel_error", "max_ulp", "error_bound", "error_ratio",
    "accuracy_ok", "deterministic", "output_sha256", "seed", "machine_id", "commit", "timestamp",
)
STATUSES = ("ok", "skipped", "error", "nan", "invalid", "oom", "timeout", "crashed")
FAILURE_STATUSES = tuple(s for s in STATUSES if s not in ("ok", "skipped"))


def case_id(kernel: str, impl: str, backend: str, device: str, dtype: str, size: int) -> str:
    """Stable, readable, filesystem-safe identifier of a case."""
    import re

    dev = re.sub(r"[^A-Za-z0-9]+", "-", device).strip("-")
    return f"{kernel}.{impl}.{backend}.{dev}.{dtype}.{size}"


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def new_record(**fields: Any) -> dict[str, Any]:
    """A record with every required field present (None where not measured)."""
    rec: dict[str, Any] = {k: None for k in REQUIRED_FIELDS}
    rec.update(message="", timestamp=now_iso())
    rec.update(fields)
    if rec.get("case_id") is None:
        rec["case_id"] = case_id(rec["kernel"], rec["impl"], rec["backend"], rec["device"],
                                 rec["dtype"], rec["size"])
    return rec


def to_json_safe(obj: Any) -> Any:
    """Replace NaN/Inf (not JSON) and numpy scalars recursively."""
    if isinstance(obj, dict):
        return {str(k): to_json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json_safe(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        try:
            obj = obj.item()
        except Exception:
            return str(obj)
    if isinstance(obj, float):
        if math.isnan(obj):
            return None
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
    return obj


def from_json_value(v: Any) -> Any:
    if v == "inf":
        return math.inf
    if v == "-inf":
        return -math.inf
    return v
