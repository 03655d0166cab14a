#!/usr/bin/env bash
# gpu-check.sh OUTDIR: make a fresh NVIDIA machine measure with the harness, in 10 minutes.
#
# Installs the CUDA builds of torch and CuPy plus this repository, records the GPU and the
# inventory, runs `harness check-backend` for cupy and torch, a short quick-preset sweep
# (cupy, torch, numpy) and `harness report`, all into OUTDIR. See docs/gpu.md.
#
# Exit status:
#   0  every step passed
#   1  a step failed (OUTDIR/summary.txt says which)
#   2  usage error: wrong arguments, or OUTDIR exists and is not empty (never overwritten)
#   3  no NVIDIA GPU here: OUTDIR/skipped.txt says why; nothing was installed
#
# Environment:
#   HARNESS_GPU_CHECK_NVIDIA_SMI  nvidia-smi to probe with (default: nvidia-smi on PATH)
#   HARNESS_GPU_CHECK_PYTHON      Python to install into and run (default: python3, else python)
set -euo pipefail

readonly EXIT_FAILED=1 EXIT_USAGE=2 EXIT_NO_GPU=3
readonly TOTAL_S=600        # the whole script, start to end
readonly SLACK_S=20         # kept back for the summary and rounding
readonly MIN_STEP_S=15      # a step with less time than this left is not started

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname -- "$SCRIPT_DIR")
NVIDIA_SMI=${HARNESS_GPU_CHECK_NVIDIA_SMI:-nvidia-smi}
START_S=$SECONDS
DEADLINE_S=$((START_S + TOTAL_S - SLACK_S))
OUT=""
PY=""
HARNESS=()     # the harness CLI of $PY, whether or not its scripts folder is on PATH
STEP_END_S=0
FAILED=()
SUMMARY_ROWS=()

usage() {
    cat <<'EOF'
usage: scripts/gpu-check.sh OUTDIR

Check this repository on an NVIDIA GPU machine in at most 10 minutes: install the CUDA
builds of torch and CuPy and the harness, record nvidia-smi and `harness list`, run
`harness check-backend` for cupy and torch, a short quick sweep (cupy, torch, numpy) and
`harness report`. Everything is written to OUTDIR, which must not exist or be empty.

exit status: 0 all steps passed, 1 a step failed (see OUTDIR/summary.txt),
             2 usage error, 3 no NVIDIA GPU (see OUTDIR/skipped.txt; nothing installed)

environment: HARNESS_GPU_CHECK_NVIDIA_SMI (nvidia-smi to probe with),
             HARNESS_GPU_CHECK_PYTHON (Python to use; default python3)
EOF
}

# --- helpers ----------------------------------------------------------------------------

log() {
    local line
    line=$(printf '[%s +%3ds] %s' "$(date -u +%H:%M:%S)" "$((SECONDS - START_S))" "$*")
    printf '%s\n' "$line"
    if [[ -n $OUT ]]; then printf '%s\n' "$line" >>"$OUT/gpu-check.log"; fi
}

usage_error() {
    printf 'gpu-check.sh: %s\n' "$1" >&2
    printf 'usage: scripts/gpu-check.sh OUTDIR   (--help for more)\n' >&2
    exit "$EXIT_USAGE"
}

# Seconds a step may take: at most CAP, leaving RESERVE seconds for the steps after it.
time_for() {
    local cap=$1 reserve=$2 left
    left=$((DEADLINE_S - SECONDS - reserve))
    if ((left < cap)); then echo "$left"; else echo "$cap"; fi
}

# Run a command within the current step's time; SIGINT first so harness and pip stop
# cleanly and keep what they wrote, SIGKILL 15 s later. Time-out: exit status 124.
bounded() {
    local left=$((STEP_END_S - SECONDS))
    if ((left <= 0)); then return 124; fi
    timeout -s INT -k 15 "$left" "$@"
}

# run_step NAME CAP RESERVE FUNCTION: run FUNCTION with at most CAP seconds (fewer if the
# later steps need their RESERVE), log it, and record its exit status and duration.
run_step() {
    local name=$1 cap=$2 reserve=$3 fn=$4 limit rc=0 t0=$SECONDS
    limit=$(time_for "$cap" "$reserve")
    if ((limit < MIN_STEP_S)); then
        log "$name: not run, only ${limit}s of the ${TOTAL_S}s left"
        SUMMARY_ROWS+=("$(printf '%-20s %6s %7s  %s' "$name" "-" "0" "not run: out of time")")
        FAILED+=("$name")
        return 0
    fi
    STEP_END_S=$((SECONDS + limit))
    log "$name: start (limit ${limit}s)"
    "$fn" || rc=$?
    local took=$((SECONDS - t0)) note="ok"
    if ((rc == 124)); then note="timed out after ${limit}s"; elif ((rc != 0)); then note="FAILED"; fi
    log "$name: exit $rc after ${took}s ($note)"
    SUMMARY_ROWS+=("$(printf '%-20s %6s %7s  %s' "$name" "$rc" "$took" "$note")")
    if ((rc != 0)); then FAILED+=("$name"); fi
    return 0
}

# --- steps ------------------------------------------------------------------------------

parse_args() {
    local a
    for a in "$@"; do
        if [[ $a == -h || $a == --help ]]; then usage; exit 0; fi
    done
    (($# > 0)) || usage_error "missing OUTDIR (the folder the results go to)"
    (($# == 1)) || usage_error "expected one argument, OUTDIR; got $#: $*"
    [[ $1 != -* ]] || usage_error "unknown option $1 (to name a folder starting with '-', write ./$1)"
    local dir=$1
    if [[ -e $dir && ! -d $dir ]]; then
        usage_error "$dir exists and is not a folder; give a new or empty folder"
    fi
    if [[ -d $dir && -n $(find "$dir" -mindepth 1 -maxdepth 1 -print -quit) ]]; then
        usage_error "$dir is not empty; refusing to overwrite results there: give a new or empty folder"
    fi
    mkdir -p -- "$dir" || usage_error "cannot create $dir"
    OUT=$(cd -- "$dir" && pwd)
    log "gpu-check of $REPO into $OUT"
}

# Sets GPU_REASON (empty when a GPU is listed) without installing or importing anything.
probe_gpu() {
    local listing rc=0
    GPU_REASON=""
    if ! command -v "$NVIDIA_SMI" >/dev/null 2>&1; then
        GPU_REASON="$NVIDIA_SMI not found"
        return 0
    fi
    listing=$(timeout -k 5 30 "$NVIDIA_SMI" -L 2>&1) || rc=$?
    if ((rc != 0)); then
        GPU_REASON="'$NVIDIA_SMI -L' failed with exit $rc: $(head -n 1 <<<"$listing")"
    elif ! grep -q '^GPU [0-9]' <<<"$listing"; then
        GPU_REASON="'$NVIDIA_SMI -L' lists no GPU"
    else
        log "found: $(grep '^GPU [0-9]' <<<"$listing" | tr '\n' ';')"
    fi
}

check_gpu() {
    log "gpu: probing with $NVIDIA_SMI -L"
    probe_gpu
    if [[ -n $GPU_REASON ]]; then
        printf '%s\n' "$GPU_REASON" >"$OUT/skipped.txt"
        log "no NVIDIA GPU: $GPU_REASON"
        log "nothing installed; reason in $OUT/skipped.txt; exit $EXIT_NO_GPU"
        exit "$EXIT_NO_GPU"
    fi
}

step_install() {
    local rc=0
    log "pip output -> $OUT/install.log"
    {
        echo "# $PY -m pip install torch cupy-cuda12x[ctk]  (unpinned torch: the CUDA build)"
        bounded "$PY" -m pip install --disable-pip-version-check --no-input --progress-bar off \
            torch "cupy-cuda12x[ctk]" || rc=$?
        if ((rc == 0)); then
            echo "# $PY -m pip install -e .[opencl,test]  (in $REPO)"
            (cd -- "$REPO" && bounded "$PY" -m pip install --disable-pip-version-check --no-input \
                --progress-bar off -e ".[opencl,test]") || rc=$?
        fi
    } >>"$OUT/install.log" 2>&1
    return "$rc"
}

step_record() {
    local rc=0
    bounded "$NVIDIA_SMI" >"$OUT/nvidia-smi.txt" 2>&1 || rc=$?
    bounded "$NVIDIA_SMI" -q >"$OUT/nvidia-smi-q.txt" 2>&1 || rc=$?
    log "nvidia-smi -> nvidia-smi.txt, nvidia-smi-q.txt; harness list --json -> harness-list.json"
    bounded "${HARNESS[@]}" list --json >"$OUT/harness-list.json" 2>"$OUT/harness-list.stderr.txt" || rc=$?
    return "$rc"
}

# The inventory must show cupy and torch on the GPU: a CPU-only torch wheel, or a CuPy that
# finds no CUDA runtime, would otherwise pass the later steps on the CPU alone.
step_gpu_backends() {
    local rc=0 line
    bounded "$PY" - "$OUT/harness-list.json" >"$OUT/gpu-backends.txt" 2>&1 <<'EOF' || rc=$?
import json, sys
inv = json.load(open(sys.argv[1]))
ok = True
for name in ("cupy", "torch"):
    b = next((b for b in inv["backends"] if b["name"] == name), None)
    gpus = [d["name"] for d in (b or {}).get("devices", []) if d.get("kind") == "gpu"]
    if b is None or not b["available"]:
        print(f"{name}: unavailable: {(b or {}).get('reason', 'not registered')}")
        ok = False
    elif not gpus:
        print(f"{name}: available but no GPU device (only {[d['name'] for d in b['devices']]}); "
              f"versions {b.get('versions')}")
        ok = False
    else:
        print(f"{name}: GPU device(s) {', '.join(gpus)}")
sys.exit(0 if ok else 1)
EOF
    while IFS= read -r line; do log "  $line"; done <"$OUT/gpu-backends.txt"
    return "$rc"
}

# check-backend has no device option: it checks every device the backend has (for torch:
# the CPU and each cuda:N).
check_backend() {
    local name=$1 rc=0
    bounded "${HARNESS[@]}" check-backend "$name" --json >"$OUT/check-backend-$name.json" \
        2>"$OUT/check-backend-$name.stderr.txt" || rc=$?
    echo "$rc" >"$OUT/check-backend-$name.exit"
    log "check-backend $name -> check-backend-$name.json (exit $rc)"
    return "$rc"
}
step_check_cupy() { check_backend cupy; }
step_check_torch() { check_backend torch; }

step_sweep() {
    local rc=0 limit=$((STEP_END_S - SECONDS))
    log "harness run --preset quick --backends cupy,torch,numpy --budget 0.05 --timeout 60" \
        "--out $OUT/results (stopped after ${limit}s) -> sweep.log"
    bounded "${HARNESS[@]}" run --preset quick --backends cupy,torch,numpy --budget 0.05 --timeout 60 \
        --out "$OUT/results" >"$OUT/sweep.log" 2>&1 || rc=$?
    tail -n 3 "$OUT/sweep.log" | while IFS= read -r line; do log "  $line"; done
    return "$rc"
}

# harness run exits 0 even when cases fail: count the records, and fail if a case broke or
# if no case ran on the GPU. Out-of-bound errors are counted, not failed: they are findings.
step_sweep_verdict() {
    local rc=0 line
    bounded "$PY" - "$OUT/results" >"$OUT/sweep-verdict.txt" 2>&1 <<'EOF' || rc=$?
import collections, sys
from harness.store import iter_runs

runs = list(iter_runs(sys.argv[1]))
counts, gpu_ok, broken, out_of_bound = collections.Counter(), set(), 0, 0
for path, header, records in runs:
    print(f"run file: {path} (machine {header.get('machine_id')})")
    for r in records:
        counts[(r["backend"], r["device"], r["status"])] += 1
        if r["status"] == "ok" and r["device"] != "cpu" and r["backend"] in ("cupy", "torch"):
            gpu_ok.add(r["backend"])
        broken += r["status"] not in ("ok", "skipped")
        out_of_bound += r["status"] == "ok" and not r.get("accuracy_ok")
for (backend, device, status), n in sorted(counts.items()):
    print(f"{backend:8} {device:10} {status:10} {n:5}")
print(f"{out_of_bound} ok case(s) beyond their error bound")
no_gpu = sorted({"cupy", "torch"} - gpu_ok)
problems = (["no run file"] if not runs else []) + \
    ([f"{broken} case(s) crashed, errored or timed out"] if broken else []) + \
    ([f"no case ran ok on the GPU for {', '.join(no_gpu)}"] if no_gpu else [])
print("FAIL: " + "; ".join(problems) if problems else "PASS")
sys.exit(1 if problems else 0)
EOF
    while IFS= read -r line; do log "  $line"; done <"$OUT/sweep-verdict.txt"
    return "$rc"
}

step_report() {
    bounded "${HARNESS[@]}" report --results "$OUT/results" --out "$OUT/report" >"$OUT/report.log" 2>&1 || return $?
    log "$(tail -n 1 "$OUT/report.log")"
}

write_summary() {
    local machine_id
    machine_id=$(sed -n 's/.*"machine_id": *"\([^"]*\)".*/\1/p' "$OUT"/results/*/*.jsonl 2>/dev/null |
        head -n 1) || true
    {
        echo "gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ), $((SECONDS - START_S)) s in all"
        echo "commit: $(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)"
        echo "machine_id: ${machine_id:-unknown}"
        echo
        printf '%-20s %6s %7s  %s\n' step exit seconds note
        printf '%s\n' "${SUMMARY_ROWS[@]}"
        echo
        if ((${#FAILED[@]})); then echo "FAILED: ${FAILED[*]}"; else echo "PASSED: every step"; fi
    } >"$OUT/summary.txt"
    cat "$OUT/summary.txt"
}

main() {
    parse_args "$@"
    check_gpu
    PY=${HARNESS_GPU_CHECK_PYTHON:-$(command -v python3 || command -v python || echo python3)}
    export HARNESS_RESULTS_DIR="$OUT/results"   # nothing goes to the repository's results/
    cd -- "$REPO"                               # so runs record this checkout's commit
    HARNESS=("$PY" -c 'from harness.cli import main; main(prog_name="harness")')
    log "python: $PY"
    #        name           cap  reserve  function
    run_step install        330  240      step_install
    run_step record         60   220      step_record
    run_step gpu-backends   30   210      step_gpu_backends
    run_step check-cupy     90   150      step_check_cupy
    run_step check-torch    90   110      step_check_torch
    run_step sweep          400  60       step_sweep
    run_step sweep-verdict  30   30       step_sweep_verdict
    run_step report         60   0        step_report
    write_summary
    if ((${#FAILED[@]})); then
        log "done: ${#FAILED[@]} step(s) failed: ${FAILED[*]}; exit $EXIT_FAILED"
        exit "$EXIT_FAILED"
    fi
    log "done: every step passed; results in $OUT"
}

main "$@"
