"""scripts/gpu-check.sh without a GPU: argument checks, the refusal to overwrite, and the
no-GPU exit (3) that installs nothing. The GPU path itself needs an NVIDIA machine."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "gpu-check.sh"
INSTALLERS = ("pip", "pip3", "python", "python3")


def _executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def spy(tmp_path):
    """A folder of fake pip/python that record any call; put first on PATH."""
    bin_dir = tmp_path / "spy-bin"
    bin_dir.mkdir()
    calls = tmp_path / "installer-calls.txt"
    for name in INSTALLERS:
        _executable(bin_dir / name, f'#!/bin/sh\necho "{name} $*" >> "{calls}"\nexit 0\n')
    return bin_dir, calls


def run(args, cwd, spy, nvidia_smi=None):
    bin_dir, _ = spy
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_GPU_CHECK_")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    if nvidia_smi is not None:
        env["HARNESS_GPU_CHECK_NVIDIA_SMI"] = str(nvidia_smi)
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=30)


def test_script_parses():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True, capture_output=True, timeout=10)


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_shellcheck_clean():
    out = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_exits_0(tmp_path, spy, flag):
    out = run([flag], tmp_path, spy)
    assert out.returncode == 0, out.stderr
    assert "usage: scripts/gpu-check.sh OUTDIR" in out.stdout
    assert "3 no NVIDIA GPU" in out.stdout
    assert not spy[1].exists()


@pytest.mark.parametrize("args, message", [
    ([], "missing OUTDIR"),
    (["a", "b"], "expected one argument, OUTDIR; got 2"),
    (["--bogus"], "unknown option --bogus"),
])
def test_usage_errors_exit_2(tmp_path, spy, args, message):
    work = tmp_path / "work"
    work.mkdir()
    out = run(args, work, spy)
    assert out.returncode == 2
    assert message in out.stderr
    assert "usage:" in out.stderr
    assert list(work.iterdir()) == []  # no OUTDIR made
    assert not spy[1].exists()


def test_non_empty_outdir_is_refused_and_untouched(tmp_path, spy):
    outdir = tmp_path / "earlier-results"
    outdir.mkdir()
    (outdir / "summary.txt").write_text("an earlier run\n")
    out = run([outdir], tmp_path, spy, nvidia_smi=tmp_path / "missing-smi")
    assert out.returncode == 2
    assert "not empty" in out.stderr and "refusing to overwrite" in out.stderr
    assert sorted(p.name for p in outdir.iterdir()) == ["summary.txt"]
    assert (outdir / "summary.txt").read_text() == "an earlier run\n"
    assert not spy[1].exists()


def test_outdir_that_is_a_file_is_refused(tmp_path, spy):
    f = tmp_path / "a-file"
    f.write_text("x")
    out = run([f], tmp_path, spy)
    assert out.returncode == 2
    assert "not a folder" in out.stderr
    assert f.read_text() == "x"


def _fake_smi(tmp_path, body):
    return _executable(tmp_path / "fake-nvidia-smi", f"#!/bin/sh\n{body}\n")


@pytest.mark.parametrize("make_smi, reason", [
    (lambda d: d / "no-such-dir" / "nvidia-smi", "not found"),
    (lambda d: _fake_smi(d, "exit 0"), "lists no GPU"),
    (lambda d: _fake_smi(d, "echo 'No devices were found'"), "lists no GPU"),
    (lambda d: _fake_smi(d, "echo 'NVIDIA-SMI has failed' >&2; exit 9"), "failed with exit 9"),
], ids=["missing", "prints-nothing", "no-devices", "fails"])
def test_no_gpu_exits_3_and_installs_nothing(tmp_path, spy, make_smi, reason):
    smi = make_smi(tmp_path)
    outdir = tmp_path / "out" / "gpu-check"  # parents are created too
    out = run([outdir], tmp_path, spy, nvidia_smi=smi)
    assert out.returncode == 3, out.stdout + out.stderr
    assert "no NVIDIA GPU: " in out.stdout and reason in out.stdout
    skipped = (outdir / "skipped.txt").read_text()
    assert reason in skipped and str(smi) in skipped
    assert not spy[1].exists(), f"installer called: {spy[1].read_text()}"
    assert sorted(p.name for p in outdir.iterdir()) == ["gpu-check.log", "skipped.txt"]


def test_empty_existing_outdir_is_used(tmp_path, spy):
    outdir = tmp_path / "empty"
    outdir.mkdir()
    out = run([outdir], tmp_path, spy, nvidia_smi=tmp_path / "missing-smi")
    assert out.returncode == 3
    assert (outdir / "skipped.txt").is_file()
    assert not spy[1].exists()
