"""Shared helpers for kernel specs: sizes, cost models, precision of references, launch
geometry, and the launch of the elementwise OpenCL and CUDA kernels."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..accuracy import ErrorModel

#: Extended precision for float64 references: 64-bit significand on x86 (80-bit
#: x87 format), 113-bit on aarch64 Linux. Where longdouble is plain double (macOS
#: arm64, Windows) float64 references are only as good as the data, which the
#: harness records as `reference_precision`.
from ..references import LONGDOUBLE_BITS  # noqa: E402,F401  (re-exported)


#: The size ladder of the 1-D vector kernels (maps and reductions): from fitting in L1 to
#: far beyond the last-level cache, so that both the latency- and the bandwidth-bound
#: regimes are measured. Each kernel adds its own "test" sizes (vector_sizes).
VECTOR_LADDER = {"quick": (1000, 100_000, 1_000_000), "full": (1000, 10_000, 100_000, 1_000_000, 10_000_000)}


def vector_sizes(*test: int) -> dict[str, tuple[int, ...]]:
    """KernelSpec.sizes of a 1-D vector kernel: the shared ladder and its test sizes."""
    return {**VECTOR_LADDER, "test": tuple(test)}


#: The size ladder (of the side n) of the kernels that stream n×n elements: the RGB
#: images and softmax's matrix, from 64² elements, within the caches, to 4096², far
#: beyond the last-level cache. Each kernel adds its own "test" sizes (side_sizes).
SIDE_LADDER = {"quick": (64, 256, 1024), "full": (64, 256, 1024, 2048, 4096)}


def side_sizes(*test: int) -> dict[str, tuple[int, ...]]:
    """KernelSpec.sizes of a kernel over n×n elements: the shared ladder and its test sizes."""
    return {**SIDE_LADDER, "test": tuple(test)}


def streaming_cost(flops: float, values: float, steps: int = 1, dims: int = 1) -> dict[str, Callable]:
    """KernelSpec.flops and .bytes_moved of a kernel that streams its arrays once per pass.

    Per element: `flops` operations and `values` array elements read or written; over
    n**dims elements (n the size: a vector's length, or an image's or matrix's side)
    and `steps` passes. The cost model of the maps, the 1-D reductions and scans, and
    the iterative kernels that sweep their state once per step: written once, so the
    throughput and roofline figures of all of them are reckoned the same way.
    """
    f, v = float(flops), float(values)
    return {"flops": lambda n: f * n ** dims * steps, "bytes_moved": lambda n, b: v * n ** dims * b * steps}


def map_error_model(bound: Callable, source: str, **fields) -> ErrorModel:
    """The ErrorModel of a map (each output a few roundings of its own inputs): a
    rigorous normwise bound that does not grow with n (slope 0), and max_ulp per element
    is meaningful. One place, so every map is judged the same way; `fields`: the rest
    of the model (notes)."""
    return ErrorModel(metric="normwise", kind="rigorous", elementwise_ulp=True, bound=bound, growth_slope=0.0,
                      source=source, **fields)


def ref_dtype(dtype: str):
    """The dtype a reference is computed in: float64 for narrower formats, wider for float64."""
    return np.longdouble if dtype == "float64" else np.float64


def pow2_at_least(n: int) -> int:
    """The smallest power of two >= n (a tree reduction's width)."""
    p = 1
    while p < n:
        p *= 2
    return p


def n_groups(n: int, local: int, cap: int = 1024) -> int:
    return max(1, min(cap, -(-n // local)))


# --- OpenCL launch geometry from the device's own limits ---------------------------------


def cl_limits(device, kernel=None) -> dict:
    """The limits that decide a launch: work-group size (the kernel's own where it is
    lower than the device's), the preferred work-group multiple, local memory and
    compute units. Queried from the device, so nothing is tuned to one machine."""
    d = device.device
    limits = {"max_work_group_size": int(d.max_work_group_size), "preferred_multiple": 1,
              "local_mem_size": int(d.local_mem_size), "compute_units": int(d.max_compute_units)}
    if kernel is not None:
        info = device.cl.kernel_work_group_info
        limits["max_work_group_size"] = min(limits["max_work_group_size"],
                                            int(kernel.get_work_group_info(info.WORK_GROUP_SIZE, d)))
        limits["preferred_multiple"] = int(kernel.get_work_group_info(
            info.PREFERRED_WORK_GROUP_SIZE_MULTIPLE, d))
    return limits


def work_group_1d(device, items: int | None = None, kernel=None, target: int = 256,
                  cap: int | None = None) -> int:
    """The work-group size of a 1-D launch, from the device's own limits.

    Without `items` (the untuned kernels and the local-memory reductions, whose scratch
    is sized from it): the target, capped by the device's limit and by `cap`.
    With `items` (the tuned streaming kernels): the largest power of two up to the
    target that the device (and `kernel`) allow, halved while there would be fewer than
    two groups per compute unit, but never below the kernel's preferred multiple: wide
    groups amortise PoCL's per-group cost, enough groups keep every core busy.
    """
    if items is None:
        return max(1, min(target, device.max_work_group_size, cap if cap is not None else target))
    lim = cl_limits(device, kernel)
    local = 1
    while local * 2 <= min(target, lim["max_work_group_size"]):
        local *= 2
    floor = max(1, min(lim["preferred_multiple"], local))
    while local > floor and -(-items // local) < 2 * lim["compute_units"]:
        local //= 2
    return local


def square_tile(dev) -> int:
    """The side of the square work-group of the untuned 2-D kernels: 16 (256 work-items)
    where the device allows that many, else 8."""
    return 16 if dev.max_work_group_size >= 256 else 8


def local_2d(device, global_size: tuple[int, int], kernel=None, target: int = 64) -> tuple[int, int]:
    """Square-ish power-of-two work-group for a 2-D launch, shrunk (largest side first)
    while there would be fewer than two groups per compute unit or a side exceeds the
    global size."""
    lim = cl_limits(device, kernel)
    cap = min(target, lim["max_work_group_size"])
    l0 = l1 = 1
    while l0 * l1 * 2 <= cap:
        if l0 <= l1:
            l0 *= 2
        else:
            l1 *= 2

    def groups():
        return -(-global_size[0] // l0) * -(-global_size[1] // l1)

    while l0 * l1 > 1 and (groups() < 2 * lim["compute_units"] or l0 > global_size[0] or l1 > global_size[1]):
        if (l0 >= l1 and l0 > 1) or l1 == 1:
            l0 //= 2
        else:
            l1 //= 2
    return l0, l1


@dataclass(frozen=True)
class TwoStageReduction:
    """Where a two-launch work-group reduction runs: the first launch has `groups`
    groups of `local` work-items, each group writing one partial; the second, one group
    of `final` work-items, reduces the partials. `chunk`: elements per work-item of a
    streaming first launch (None: grid-stride); `items`: its work-items that hold data."""

    local: int
    groups: int
    final: int
    chunk: int | None = None
    items: int | None = None

    @property
    def first_launch(self) -> tuple[int]:
        return (self.groups * self.local,)

    def scratch(self, dtype, final: bool = False):
        """Local memory for one group's tree (of the first launch, or of the final one)."""
        import pyopencl as cl

        return cl.LocalMemory((self.final if final else self.local) * np.dtype(dtype).itemsize)

    def reduce_partials(self, dev, kernel, partial, out):
        """The second launch: one group of `final` work-items reduces the first launch's
        `groups` partials into out[0] with `kernel`; returns out as a 0-d array."""
        dev.launch(kernel, (self.final,), (self.final,), np.int32(self.groups), partial.data, out.data,
                   self.scratch(out.dtype, final=True))
        return out.reshape(())


def strided_reduction(device, n: int) -> TwoStageReduction:
    """The GPU-style geometry: groups of the preferred size, one grid-stride slice per
    work-item, at most 1024 groups, and a final group as wide as the first ones."""
    local = work_group_1d(device)
    return TwoStageReduction(local, n_groups(n, local), local)


def chunked_reduction(device, n: int, kernel, vw: int = 16) -> TwoStageReduction:
    """The CPU-tuned geometry: contiguous chunks of whole vectors, 16 per compute unit, in
    small groups: every core streams several chunks, the tree per group is a few
    barriers, and the final reduction of the partials is tiny."""
    items_max = 16 * cl_limits(device)["compute_units"]
    chunk = max(2 * vw, -(-n // items_max))
    chunk = -(-chunk // vw) * vw  # whole vectors, so each chunk starts aligned
    items = max(1, -(-n // chunk))
    local = work_group_1d(device, items, kernel, target=8)
    groups = -(-items // local)
    return TwoStageReduction(local, groups, max(1, min(groups, work_group_1d(device))), chunk, items)


def cl_empty(device, shape, dtype):
    """An output array from a per-device memory pool. Freshly allocated buffers cost a
    page fault per 4 KiB on first write (PoCL allocates host memory), which at 10⁷
    elements costs more than the kernel; a pool reuses the previous call's buffer, as
    CUDA caching allocators do. Held blocks are released beyond a small number."""
    import numpy as np
    import pyopencl.array as cla
    import pyopencl.tools as clt

    pool = getattr(device, "_harness_pool", None)
    if pool is None:
        pool = clt.MemoryPool(clt.ImmediateAllocator(device.queue))
        device._harness_pool = pool
    if pool.held_blocks > 8:
        pool.free_held()
    return cla.empty(device.queue, shape, np.dtype(dtype), allocator=pool)


#: The C type of each dtype a CUDA kernel is built for (-DREAL=...): they are written for
#: float and double only, so the kernels without a CuPy fallback for float16 (the
#: iterative ones, black_scholes, conv2d) are defined in these dtypes alone.
CUDA_REAL_TYPES = {"float32": "float", "float64": "double"}
REAL_DTYPES = tuple(CUDA_REAL_TYPES)


def real_type(dtype) -> str:
    """The C type name of `dtype` for a CUDA build (-DREAL=...)."""
    return CUDA_REAL_TYPES[str(dtype)]


def vector_width(dtype) -> int:
    """Elements per work-item for streaming kernels: one 64-byte cache line."""
    import numpy as np

    return max(1, min(16, 64 // np.dtype(dtype).itemsize))


def opencl_map(dev, source: str, kernel: str, out_shape, dtype, count: int, *args, tuned: bool = True,
               **defines):
    """Build `source` for `dtype` and launch its 1-D elementwise `kernel` over `count`
    elements (or pixels): kernel(count, *args, out). Returns `out`, of `out_shape`.

    The maps share everything but their arguments. Tuned: VW elements (one 64-byte
    cache line) per work-item, the work-group from the device's and the kernel's limits,
    the output from the device's buffer pool (see cl_empty). Untuned, as the *_scalar
    implementations kept for comparison: one element per work-item, the default
    work-group, a fresh output buffer. `defines`: further build options (-DNAME=value).
    """
    vw = vector_width(dtype) if tuned else 1
    prg = dev.compile(source, dtype=str(dtype), **({"VW": vw} if tuned else {}), **defines)
    out = cl_empty(dev, out_shape, dtype) if tuned else dev.empty(out_shape, dtype)
    items = -(-count // vw)
    local = work_group_1d(dev, items, getattr(prg, kernel)) if tuned else work_group_1d(dev)
    dev.launch(getattr(prg, kernel), (items,), (local,), np.int32(count), *args, out.data)
    return out


def cuda_map(kernel, count: int, args: tuple, threads: int = 256) -> None:
    """Launch a CUDA elementwise kernel: one thread per element, in blocks of `threads`
    (the last block partly idle), as adam, black_scholes and colorblind are written;
    the CUDA counterpart of opencl_map's untuned launch."""
    kernel((-(-count // threads),), (threads,), args)
