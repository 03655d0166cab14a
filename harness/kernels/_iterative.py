"""Shared pieces of the iterative kernels (jacobi2d, nbody, adam, mlp_xor, quadratic_fit).

Every iterative kernel returns its state at a fixed set of checkpoints, stacked along
axis 0, and the reference returns the same checkpoints of the float64 (long double
for float64 cases) trajectory. The error model's `evaluate` then reports the error
at every checkpoint as a profile, and the error at the last one as `rel_error`.
Checkpoint 0 is always the initial state, so every backend starts from the same
(bit-identical) values.
"""
from __future__ import annotations

import hashlib
from typing import Any, Callable, Sequence

import numpy as np

from ..accuracy import ErrorModel
from ..spec import KernelSpec
from ._common import REAL_DTYPES


def iterative_spec(name: str, generate: Callable, reference: Callable, **fields: Any) -> KernelSpec:
    """The KernelSpec of an iterative kernel: what all of them share, stated once; the
    kernel's name and its two functions (inputs, float64 trajectory) come first. The
    iteration count `k` stays an exact integer input whatever the case dtype (so every
    backend runs the same number of steps), the dtypes are REAL_DTYPES (their CUDA
    builds have no float16 fallback), and reports group them as "iterative"."""
    return KernelSpec(name=name, generate=generate, reference=reference, keep_exact=frozenset({"k"}),
                      dtypes=REAL_DTYPES, category="iterative", **fields)


def checkpoint_error_model(bounds: Callable[[Any], list[float]], evaluate: Callable, metric: str, measured: str,
                           growth_slope: float, source: str) -> ErrorModel:
    """The ErrorModel of an iterative kernel: a first-order running error bound at every
    checkpoint (`bounds(ctx)`, which `evaluate` puts in the profile beside the errors),
    the verdict taken at the last checkpoint, where rel_error is measured; `measured`
    says what that error is of (the metric_description before ", at the last checkpoint")."""
    def bound(c) -> float:
        return bounds(c)[-1]

    return ErrorModel(metric=metric, metric_description=f"{measured}, at the last checkpoint", kind="first_order",
                      bound=bound, growth_slope=growth_slope, evaluate=evaluate, source=source)


def checkpoint_evaluate(bounds: Callable[[Any], list[float]], norm: str = "2",
                        n_checkpoints: int = 9) -> Callable[[Any, Any, Any], dict[str, Any]]:
    """ErrorModel.evaluate of an iterative kernel judged on its state alone: the relative
    error (rel_err in `norm`) at every checkpoint, the last one as rel_error, and the
    profile of those errors beside bounds(ctx)."""
    def evaluate(out, ref, c) -> dict[str, Any]:
        steps = checkpoint_steps(c.inputs["k"], n_checkpoints)
        errs = [rel_err(out[i], ref[i], norm) for i in range(len(steps))]
        return {"rel_error": errs[-1], "profile": profile(steps, errs, bounds(c))}

    return evaluate


def checkpoint_steps(k: int, n_checkpoints: int = 9) -> list[int]:
    """Iteration indices at which states are kept: 0, ..., k, strictly increasing."""
    k = int(k)
    if k <= 0:
        return [0]
    return sorted({int(round(i)) for i in np.linspace(0, k, min(n_checkpoints, k + 1))})


def profile(steps: Sequence[int], errors: Sequence[float], bounds: Sequence[float] | None = None,
            **extra: Sequence[float]) -> dict[str, Any]:
    """The record's "profile": error (and its bound) along the iterations."""
    p: dict[str, Any] = {"x_label": "iteration", "x": [int(s) for s in steps],
                         "error": [float(e) for e in errors]}
    if bounds is not None:
        p["bound"] = [float(b) for b in bounds]
    for k, v in extra.items():
        p[k] = [float(x) for x in v]
    return p


def rel_err(out: np.ndarray, ref: np.ndarray, norm: str = "2") -> float:
    """Relative error of one checkpoint; absolute where the reference is zero."""
    o = np.asarray(out, dtype=np.float64).ravel()
    r = np.asarray(ref, dtype=np.float64).ravel()
    if norm == "inf":
        num = float(np.max(np.abs(o - r))) if r.size else 0.0
        den = float(np.max(np.abs(r))) if r.size else 0.0
    else:
        num, den = float(np.linalg.norm(o - r)), float(np.linalg.norm(r))
    if not np.isfinite(num):
        return float("inf")
    return num / den if den else num


def safe_div(num: float, den: float) -> float:
    return num / den if den else (0.0 if num == 0 else float("inf"))


_CACHE: dict[str, Any] = {}


def cached(name: str, inputs: dict[str, Any], fn: Callable[[], Any]) -> Any:
    """Memoise an expensive, u-independent bound computation on the exact inputs.

    The bound is evaluated once per case; cases of the same inputs (every backend)
    share it. Keeps at most a few entries, so large inputs are not pinned in memory.
    """
    h = hashlib.sha256(name.encode())
    for key in sorted(inputs):
        v = inputs[key]
        h.update(key.encode())
        h.update(np.ascontiguousarray(v).tobytes() if isinstance(v, np.ndarray) else repr(v).encode())
    key = h.hexdigest()
    if key not in _CACHE:
        if len(_CACHE) > 16:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = fn()
    return _CACHE[key]


def opencl_copy_into(dev, dst, index: int, src) -> None:
    """Copy a whole device array `src` into slot `index` of the stacked array `dst` (on the device)."""
    import pyopencl as cl

    nbytes = src.nbytes
    cl.enqueue_copy(dev.queue, dst.data, src.data, byte_count=nbytes, dst_offset=index * nbytes)


def opencl_clone(dev, arr):
    """A device copy of an input array (implementations never write into their inputs)."""
    import pyopencl as cl

    out = dev.empty(arr.shape, arr.dtype)
    cl.enqueue_copy(dev.queue, out.data, arr.data, byte_count=arr.nbytes)
    return out
