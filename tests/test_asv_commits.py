"""asv across two commits, end to end, in a scratch copy of this checkout: commit A, then
commit B whose numpy sum is scaled by (1 + 1e-6) and slowed down. asv measures both
(`asv run --python=same --set-commit-hash`, one kernel, one backend), `harness
import-asv` brings them in, and `harness compare A B --fail-on-regression` must fail on
both the accuracy and the time regression, while A against itself passes. The scratch
copy is also the fresh clone of docs/asv.md's promise: asv and the import leave every
committed file alone (git status shows only this machine's two folders)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SUM_LINE = "    return xp.sum(x)\n"
SLOW_WRONG_SUM = "    time.sleep(5e-4)\n    return xp.sum(x) * (1 + 1e-6)\n"
BENCH = r"^(time_kernels\.SumTime|accuracy\.SumAccuracy)\.[a-z_]+\('sum', 'array_api@numpy', 'float32'"


def _git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def _scratch_clone(dest: Path) -> Path:
    """The tracked files of this checkout as they are now (uncommitted edits included),
    committed in a new repository: what a fresh clone of this tree holds."""
    files = _git(REPO, "ls-files", "-z").split("\0")
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    _git(dest, "init", "-q", "-b", "main")
    _git(dest, "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    _git(dest, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "A")
    return dest


def _run(cmd: list[str], cwd: Path, env: dict, limit: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=limit)


@pytest.fixture(scope="module")
def two_commits(tmp_path_factory):
    pytest.importorskip("asv")
    if shutil.which("git") is None:
        pytest.skip("git is needed by asv")
    clone = _scratch_clone(tmp_path_factory.mktemp("clone"))
    sum_py = clone / "harness" / "kernels" / "sum.py"
    text = sum_py.read_text()
    assert SUM_LINE in text and "\nimport numpy as np\n" in text, "the numpy sum moved; update this test"
    sum_py.write_text(text.replace(SUM_LINE, SLOW_WRONG_SUM, 1).replace("\nimport numpy as np\n",
                                                                       "\nimport time\n\nimport numpy as np\n", 1))
    _git(clone, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-am", "B: sum x (1+1e-6), slower")
    a, b = _git(clone, "rev-parse", "HEAD~1"), _git(clone, "rev-parse", "HEAD")
    home = tmp_path_factory.mktemp("home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASV_", "HARNESS_"))}
    env.update(HOME=str(home), PYTHONPATH=str(clone), ASV_PYTHONPATH=str(clone))
    harness = [sys.executable, "-c", "from harness.cli import main; main()"]
    mid = _run(harness + ["asv-machine", "--id"], clone, env).stdout.strip()
    steps = {"machine": _run(harness + ["asv-machine"], clone, env)}
    for name, commit in (("a", a), ("b", b)):
        _git(clone, "checkout", "-q", commit)  # --python=same imports the checked-out harness
        steps[name] = _run([sys.executable, "-m", "asv", "run", "--python=same", "--set-commit-hash", commit,
                            "--machine", mid, "--record-samples", "-a", "repeat=6", "-b", BENCH], clone, env)
    _git(clone, "checkout", "-q", "main")
    steps["import"] = _run(harness + ["import-asv"], clone, env)
    steps["compare"] = _run(harness + ["compare", "HEAD~1", "HEAD", "--fail-on-regression", "1.1"], clone, env)
    steps["same"] = _run(harness + ["compare", a[:10], a[:10], "--fail-on-regression", "1.1"], clone, env)
    steps["status"] = _run(["git", "status", "--porcelain", "--untracked-files=all"], clone, env)
    return clone, mid, steps


def _ok(step: subprocess.CompletedProcess) -> str:
    return (step.stdout + step.stderr)[-3000:]


@pytest.mark.slow
def test_compare_commits_gates_accuracy_and_time(two_commits):
    clone, mid, steps = two_commits
    for name in ("machine", "a", "b", "import"):
        assert steps[name].returncode == 0, f"{name}: {_ok(steps[name])}"
    cmp = steps["compare"]
    assert cmp.returncode == 1, _ok(cmp)
    assert "accuracy regression: sum numpy:array_api float32" in cmp.stdout, _ok(cmp)
    assert "slower ✗ regression" in cmp.stdout, _ok(cmp)  # the time gate too
    assert steps["same"].returncode == 0, _ok(steps["same"])  # the gate is not always closed


@pytest.mark.slow
def test_fresh_clone_touches_no_committed_file(two_commits):
    clone, mid, steps = two_commits
    lines = [line for line in steps["status"].stdout.splitlines() if line.strip()]
    assert lines, "asv and the import wrote nothing"
    own = (f"results/asv/{mid}/", f"results/{mid}/")
    for line in lines:  # new files, or this machine's own files rewritten (its machine.json)
        assert line[3:].startswith(own), f"touched outside this machine's folders: {line}"
    machine = json.loads((clone / "results" / "asv" / mid / "machine.json").read_text())
    assert machine["machine"] == mid and machine.get("os") and machine.get("ram")  # every field, one name
    header = json.loads((next((clone / "results" / mid).glob("asv-*.jsonl"))).read_text().splitlines()[0])
    assert header["machine_id"] == mid
