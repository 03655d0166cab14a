// Dot product as a work-group tree reduction in local memory, in two launches; a
// second launch of sum_partial (_reductions.cl) with a single group reduces the partials. The group
// size need not be a power of two, nor divide n.
//
// dot_chunks (the default, built with VW): tuned for CPU OpenCL (PoCL). Few, small
//   groups; each work-item streams one contiguous chunk of `chunk` elements with VW-wide
//   vector loads into two vector accumulators, then the group folds its values pairwise
//   in local memory (log2 of a small group's size barriers) and writes one partial.
// dot_partial: the GPU-style version (grid-stride slice per work-item, 256-wide
//   groups, up to 1024 groups); kept for comparison.
#include "_reductions.cl"

__kernel void dot_partial(const int n, __global const REAL *x, __global const REAL *y,
                          __global REAL *partial, __local ACC *scratch)
{
    ACC acc = 0;
    for (int i = get_global_id(0); i < n; i += get_global_size(0))
        acc += (ACC)x[i] * (ACC)y[i];
    group_sum_to(scratch, acc, partial);
}

#ifdef VW
__kernel void dot_chunks(const int n, const int chunk, __global const REAL *x,
                         __global const REAL *y, __global REAL *partial, __local ACC *scratch)
{
    int i, end;
    chunk_range(n, chunk, &i, &end);
    // Two vector accumulators: independent add chains hide the add latency.
    accv acc0 = (accv)0, acc1 = (accv)0;
    for (; i + 2 * VW <= end; i += 2 * VW) {
        acc0 += CONVERT(VLOAD(0, x + i)) * CONVERT(VLOAD(0, y + i));
        acc1 += CONVERT(VLOAD(0, x + i + VW)) * CONVERT(VLOAD(0, y + i + VW));
    }
    if (i + VW <= end) {
        acc0 += CONVERT(VLOAD(0, x + i)) * CONVERT(VLOAD(0, y + i));
        i += VW;
    }
    ACC s = hsum(acc0 + acc1);
    for (; i < end; ++i)
        s += (ACC)x[i] * (ACC)y[i];
    group_sum_to(scratch, s, partial);
}
#endif
