"""asv's median against `harness run`'s on the same 15 cases, for docs/asv.md.

Interleaved passes (asv, then harness, then asv again, ...) so that drift in machine
load falls on both tools alike; each tool's figure is the median over its passes.
asv runs with `--python=same` in a scratch clone (so it writes nothing here), the
harness with `--budget 1` into folders of that clone. Both import the installed
`harness`, so install this checkout first (`pip install -e .`).

Usage: git clone . SCRATCH && python scripts/asv_vs_harness.py SCRATCH OUT.md [--passes 4]
"""
from __future__ import annotations

import argparse
import glob
import itertools
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

BENCHMARKS = r"^time_kernels\.(Sum|Saxpy|Dot|Matmul|Softmax)Time\."
HARNESS_RUNS = (("sum,saxpy,dot", "100000"), ("matmul,softmax", "256"))
HARNESS_ARGS = ("--backends", "numpy,torch,opencl", "--dtypes", "float32", "--budget", "1", "--quiet")


def asv_pass(clone: Path, index: int) -> dict[tuple, float]:
    """One `asv run` of the time benchmarks; {(kernel, impl, backend, dtype, n): median s}."""
    commit = subprocess.check_output(["git", "rev-parse", "HEAD"], cwd=clone, text=True).strip()
    machine = subprocess.check_output(["harness", "asv-machine", "--id"], cwd=clone, text=True).strip()
    subprocess.run(["asv", "run", "--python=same", "--set-commit-hash", commit, "--record-samples",
                    "-b", BENCHMARKS, "--machine", machine], cwd=clone, check=True, stdout=subprocess.DEVNULL)
    files = [f for f in glob.glob(str(clone / "results/asv" / machine / "*.json")) if not f.endswith("machine.json")]
    newest = max(files, key=os.path.getmtime)
    data = json.loads(Path(newest).read_text())
    os.rename(newest, f"{newest}.pass{index}")  # the next pass writes the same name
    medians = {}
    for row in data["results"].values():
        result = dict(zip(data["result_columns"], row))
        params = [[p.strip("'") for p in ps] for ps in result["params"]]
        for (kernel, label, dtype, n), value in zip(itertools.product(*params), result["result"]):
            if value is not None and value == value:
                impl, _, backend = label.partition("@") if "@" in label else (label, "", label)
                medians[(kernel, impl, backend, dtype, int(n))] = value
    return medians


def harness_pass(clone: Path, index: int) -> dict[tuple, float]:
    """`harness run` over the same cases; {(kernel, impl, backend, dtype, n): median s}."""
    out_dir = clone / f"harness-pass{index}"
    for kernels, size in HARNESS_RUNS:
        subprocess.run(["harness", "run", "--kernels", kernels, "--sizes", size, *HARNESS_ARGS,
                        "--out", str(out_dir)], cwd=clone, check=True)
    medians = {}
    for path in glob.glob(str(out_dir / "*" / "*.jsonl")):
        for line in Path(path).read_text().splitlines():
            r = json.loads(line)
            if r.get("kind") == "record" and r.get("status") == "ok" and r.get("time_median_s"):
                medians[(r["kernel"], r["impl"], r["backend"], r["dtype"], int(r["size"]))] = r["time_median_s"]
    return medians


def fmt(seconds: float) -> str:
    return f"{seconds * 1e6:.2f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.3f} ms"


def table(asv: list[dict], harness: list[dict], loads: list[str]) -> str:
    """The markdown table: every pass of each tool, the medians of the passes, the difference."""
    rows, within = [], 0
    for key in sorted(set.intersection(*(set(p) for p in asv + harness))):
        a = statistics.median(p[key] for p in asv)
        h = statistics.median(p[key] for p in harness)
        within += abs(a / h - 1) <= 0.10
        kernel, impl, backend, dtype, n = key
        label = backend if impl == backend else f"{impl}@{backend}"
        rows.append(f"| {kernel} {label} {dtype} n={n} | {' / '.join(fmt(p[key]) for p in asv)} | {fmt(a)} | "
                    f"{' / '.join(fmt(p[key]) for p in harness)} | {fmt(h)} | {(a / h - 1) * 100:+.1f}% |")
    head = ["| case | asv passes | asv median of passes | harness passes | harness median of passes | asv vs harness |",
            "|---|---|---|---|---|---|"]
    return "\n".join(head + rows + [f"**{within} of {len(rows)} within 10%**", "", "load: " + "; ".join(loads)]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scratch", type=Path, help="a clone of this repository that asv may write into")
    parser.add_argument("out", type=Path, help="where the markdown table goes")
    parser.add_argument("--passes", type=int, default=4)
    args = parser.parse_args()
    if not (args.scratch / "asv.conf.json").is_file():
        parser.error(f"{args.scratch} is not a clone of this repository (no asv.conf.json)")
    asv, harness, loads = [], [], []

    def load(tag: str) -> None:
        loads.append(f"{tag} {time.strftime('%H:%M:%S', time.gmtime())} {os.getloadavg()[0]:.2f}")

    for i in range(1, args.passes + 1):
        load(f"asv {i} start")
        asv.append(asv_pass(args.scratch, i))
        harness.append(harness_pass(args.scratch, i))
        load(f"harness {i} end")
    text = table(asv, harness, loads)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
