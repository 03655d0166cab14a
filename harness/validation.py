"""The validation stage: is an output the shape and the dtype the kernel promises?

Checked before any accuracy metric: an output of the wrong shape or dtype would be
compared element by element against a reference it does not correspond to (broadcast,
or silently cast), so its error would mean nothing. Such a case is `invalid`, with
the first problem found as its message.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .dtypes import storage_dtype


def expected_outputs(ref: Any, out_dtype: str) -> list[tuple[tuple[int, ...], np.dtype]]:
    """(shape, numpy dtype) of each output: the reference's shapes, in the storage dtype
    of the kernel's output dtype (what a backend hands back for it)."""
    refs = ref if isinstance(ref, (tuple, list)) else [ref]
    return [(np.shape(r), storage_dtype(out_dtype)) for r in refs]


def validate(out_host: Any, ref: Any, out_dtype: str) -> str | None:
    """The validation stage: None for a well-formed output, else what is wrong with it
    (the number of outputs, or the first output of the wrong shape or dtype)."""
    outs = out_host if isinstance(out_host, (tuple, list)) else [out_host]
    expected = expected_outputs(ref, out_dtype)
    if len(outs) != len(expected):
        return f"expected {len(expected)} output(s), got {len(outs)}"
    for i, (o, (shape, dt)) in enumerate(zip(outs, expected)):
        o = np.asarray(o)
        if o.shape != tuple(shape):
            return f"output {i}: wrong shape {o.shape}, expected {tuple(shape)}"
        if o.dtype != dt:
            return f"output {i}: wrong dtype {o.dtype}, expected {dt}"
    return None
