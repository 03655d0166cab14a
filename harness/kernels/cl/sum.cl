// Sum of a vector, in two launches.
//
// sum_chunks + sum_final (the default): tuned for CPU OpenCL (PoCL). Each work-item
//   sums one contiguous chunk of `chunk` elements with VW-wide vector loads into two
//   vector accumulators (2·VW interleaved partial sums), writes one partial, and a single
//   work-item adds the few partials. No local memory and no barriers: on PoCL every
//   barrier splits the work-group loop, and contiguous chunks stream from memory.
//
// sum_partial (in _reductions.cl): the GPU-style tree reduction (grid-stride
//   accumulation, then a tree in local memory), one partial per work-group; kept for
//   comparison.
//
// Every order is covered by the recursive-summation bound gamma_{n-1} sum|x_i|.
#ifndef VW
#define VW 8
#endif
#include "_reductions.cl"

__kernel void sum_chunks(const int n, const int chunk, __global const REAL *x,
                         __global REAL *partial)
{
    const int start = get_global_id(0) * chunk;
    const int end = min(start + chunk, n);
    // Two vector accumulators: independent add chains hide the add latency.
    accv acc0 = (accv)0, acc1 = (accv)0;
    int i = start;
    for (; i + 2 * VW <= end; i += 2 * VW) {
        acc0 += VLOAD(0, x + i);
        acc1 += VLOAD(0, x + i + VW);
    }
    if (i + VW <= end) {
        acc0 += VLOAD(0, x + i);
        i += VW;
    }
    ACC s = hsum(acc0 + acc1);
    for (; i < end; ++i)
        s += x[i];
    partial[get_global_id(0)] = s;
}

__kernel void sum_final(const int m, __global const REAL *partial, __global REAL *out)
{
    REAL s = 0;
    for (int i = 0; i < m; ++i) s += partial[i];
    out[0] = s;
}
