"""Implementations of saxpy on numpy that attack the harness itself (issue 16, F1-F15):
forking, exiting behind its back, allocating without bound, holding a case open.

Loaded only through HARNESS_EXTRA_MODULES=attack_impls (with tests/ on PYTHONPATH) in
subprocesses, and always picked with --impls, so no other sweep runs them. Where a test
needs to find a process again, the pid goes to the file named by ATTACK_PID_FILE.
"""
from __future__ import annotations

import os
import signal
import time

import numpy as np

from harness.plugin_api import implementation

_slept = False


def _fork_sleeper() -> int:
    """A child that sleeps 30 s holding every descriptor the worker had (stdout, the pipe)."""
    pid = os.fork()
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    with open(os.environ["ATTACK_PID_FILE"], "w") as f:
        f.write(str(pid))
    return pid


@implementation("saxpy", "numpy", "forks_child")
def saxpy_forks_child(dev, a, x, y):
    """Leaves a child behind, once per worker, and otherwise computes correctly."""
    global _slept
    if not _slept:
        _slept = True
        _fork_sleeper()
    return a * x + y


@implementation("saxpy", "numpy", "fork_exit")
def saxpy_fork_exit(dev, a, x, y):
    """Forks (the child keeps the worker's end of the pipe open), then exits without a result."""
    _fork_sleeper()
    os._exit(0)


@implementation("saxpy", "numpy", "runaway")
def saxpy_runaway(dev, a, x, y):
    """Allocates (and touches) 64 MiB blocks up to 1 GiB: without a limit it ends well on
    this machine, under a worker limit of a few hundred MiB it must fail as `oom`."""
    held = [np.ones(8 << 20) for _ in range(16)]
    del held
    return a * x + y


@implementation("saxpy", "numpy", "killed_fat")
def saxpy_killed_fat(dev, a, x, y):
    """Holds 192 MiB resident, then dies by SIGKILL, as under the host's OOM killer."""
    held = np.ones(24 << 20)
    time.sleep(1.0)  # the parent samples the worker's RSS every 0.25 s
    os.kill(os.getpid(), signal.SIGKILL)
    return held


@implementation("saxpy", "numpy", "sleepy")
def saxpy_sleepy(dev, a, x, y):
    """Keeps its first case (in each worker) going for 4 s: a run that is still going."""
    global _slept
    if not _slept:
        _slept = True
        time.sleep(4.0)
    return a * x + y
