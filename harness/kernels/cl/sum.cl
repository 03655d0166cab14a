// Sum of a vector, in two launches.
//
// sum_chunks + sum_final (the default): tuned for CPU OpenCL (PoCL). Each work-item
//   sums one contiguous chunk of `chunk` elements with VW-wide vector loads into two
//   vector accumulators (2·VW interleaved partial sums), writes one partial, and a single
//   work-item adds the few partials. No local memory and no barriers: on PoCL every
//   barrier splits the work-group loop, and contiguous chunks stream from memory.
//
// sum_partial: the GPU-style tree reduction (grid-stride accumulation, then a tree in
//   local memory), one partial per work-group; kept for comparison.
//
// Every order is covered by the recursive-summation bound gamma_{n-1} sum|x_i|.
#ifndef ACC
#define ACC REAL
#endif
#ifndef VW
#define VW 8
#endif

typedef CAT(REAL, VW) realv;
#define VLOAD CAT(vload, VW)

REAL hsum(const realv v)
{
#if VW == 16
    const CAT(REAL, 8) h = v.lo + v.hi;
    const CAT(REAL, 4) q = h.lo + h.hi;
#elif VW == 8
    const CAT(REAL, 4) q = v.lo + v.hi;
#else
#error "VW must be 8 or 16"
#endif
    const CAT(REAL, 2) d = q.lo + q.hi;
    return d.x + d.y;
}

__kernel void sum_chunks(const int n, const int chunk, __global const REAL *x,
                         __global REAL *partial)
{
    const int start = get_global_id(0) * chunk;
    const int end = min(start + chunk, n);
    // Two vector accumulators: independent add chains hide the add latency.
    realv acc0 = (realv)0, acc1 = (realv)0;
    int i = start;
    for (; i + 2 * VW <= end; i += 2 * VW) {
        acc0 += VLOAD(0, x + i);
        acc1 += VLOAD(0, x + i + VW);
    }
    if (i + VW <= end) {
        acc0 += VLOAD(0, x + i);
        i += VW;
    }
    REAL s = hsum(acc0 + acc1);
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

__kernel void sum_partial(const int n, __global const REAL *x, __global REAL *partial,
                          __local ACC *scratch)
{
    const int lid = get_local_id(0);
    const int lsize = get_local_size(0);
    ACC acc = 0;
    for (int i = get_global_id(0); i < n; i += get_global_size(0))
        acc += x[i];
    scratch[lid] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    // lsize need not be a power of two: fold the tail first.
    int p = 1;
    while (p * 2 <= lsize) p *= 2;
    if (lid >= p) scratch[lid - p] += scratch[lid];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = p / 2; s > 0; s >>= 1) {
        if (lid < s) scratch[lid] += scratch[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) partial[get_group_id(0)] = (REAL)scratch[0];
}
