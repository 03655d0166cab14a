// Overflow-safe 2-norm as GPU-style work-group tree reductions in local memory:
//   1. maxabs_partial: m = max|x_i| (launched n -> groups, then groups -> 1);
//   2. sumsq_partial: the sum of (x_i * 2^-e)^2 with 2^e > m, a power of two so that
//      the scaling is exact and cannot overflow (Blue 1978; LAPACK xNRM2);
//   3. sum_finalize: one group sums the partials and writes sqrt(s) * 2^e.
// Group sizes need not be powers of two, nor divide n.
//
// maxabs_chunks and sumsq_chunks (the default, built with VW) replace the first launch
// of steps 1 and 2 on CPU OpenCL (PoCL): few, small groups, each work-item streams one
// contiguous chunk with VW-wide vector loads, then the group's tree in local memory
// (log2 of a small group's size barriers). maxabs_partial and sumsq_partial are the
// GPU-style grid-stride versions, kept for comparison.

#include "_reductions.cl"

// 2^-e with 2^e > m (1 when m is 0 or not finite).
inline REAL inv_scale(const REAL m, int *e)
{
    *e = 0;
    if (!(m > (REAL)0) || isinf(m)) return (REAL)1;
    frexp(m, e);
    return ldexp((REAL)1, -*e);
}

__kernel void maxabs_partial(const int n, __global const REAL *x, __global REAL *partial,
                             __local REAL *scratch)
{
    REAL m = 0;
    for (int i = get_global_id(0); i < n; i += get_global_size(0))
        m = fmax(m, fabs(x[i]));
    group_max_to(scratch, m, partial);
}

__kernel void sumsq_partial(const int n, __global const REAL *x, __global const REAL *maxabs,
                            __global REAL *partial, __local REAL *scratch)
{
    int e;
    const REAL inv = inv_scale(maxabs[0], &e);
    REAL acc = 0;
    for (int i = get_global_id(0); i < n; i += get_global_size(0)) {
        const REAL v = x[i] * inv;
        acc += v * v;
    }
    group_sum_to(scratch, acc, partial);
}

__kernel void sum_finalize(const int n, __global const REAL *partial, __global const REAL *maxabs,
                           __global REAL *out, __local REAL *scratch)
{
    REAL acc = 0;
    for (int i = get_local_id(0); i < n; i += get_local_size(0))
        acc += partial[i];
    scratch[get_local_id(0)] = acc;
    tree_sum(scratch);
    if (get_local_id(0) == 0) {
        int e;
        inv_scale(maxabs[0], &e);
        out[0] = ldexp(sqrt(scratch[0]), e);
    }
}

#ifdef VW
__kernel void maxabs_chunks(const int n, const int chunk, __global const REAL *x,
                            __global REAL *partial, __local REAL *scratch)
{
    int i, end;
    chunk_range(n, chunk, &i, &end);
    accv m0 = (accv)0, m1 = (accv)0;
    for (; i + 2 * VW <= end; i += 2 * VW) {
        m0 = fmax(m0, fabs(VLOAD(0, x + i)));
        m1 = fmax(m1, fabs(VLOAD(0, x + i + VW)));
    }
    REAL m = hmax(fmax(m0, m1));
    for (; i < end; ++i)
        m = fmax(m, fabs(x[i]));
    group_max_to(scratch, m, partial);
}

__kernel void sumsq_chunks(const int n, const int chunk, __global const REAL *x,
                           __global const REAL *maxabs, __global REAL *partial,
                           __local REAL *scratch)
{
    int e;
    const REAL inv = inv_scale(maxabs[0], &e);
    int i, end;
    chunk_range(n, chunk, &i, &end);
    // Two vector accumulators: independent add chains hide the add latency.
    accv acc0 = (accv)0, acc1 = (accv)0;
    for (; i + 2 * VW <= end; i += 2 * VW) {
        const accv v0 = VLOAD(0, x + i) * inv, v1 = VLOAD(0, x + i + VW) * inv;
        acc0 += v0 * v0;
        acc1 += v1 * v1;
    }
    REAL acc = hsum(acc0 + acc1);
    for (; i < end; ++i) {
        const REAL v = x[i] * inv;
        acc += v * v;
    }
    group_sum_to(scratch, acc, partial);
}
#endif
