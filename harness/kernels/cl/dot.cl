// Dot product as a work-group tree reduction in local memory, in two launches; a
// second launch of sum_partial with a single group reduces the partials. The group
// size need not be a power of two, nor divide n.
//
// dot_chunks (the default, built with VW): tuned for CPU OpenCL (PoCL). Few, small
//   groups; each work-item streams one contiguous chunk of `chunk` elements with VW-wide
//   vector loads into two vector accumulators, then the group folds its values pairwise
//   in local memory (log2 of a small group's size barriers) and writes one partial.
// dot_partial: the GPU-style version (grid-stride slice per work-item, 256-wide
//   groups, up to 1024 groups); kept for comparison.
#ifndef ACC
#define ACC REAL
#endif

// Tree reduction of scratch[0..lsize) into scratch[0]; every work-item must call it.
inline void tree_sum(__local ACC *scratch)
{
    const int lid = get_local_id(0);
    const int lsize = get_local_size(0);
    int p = 1;
    while (p * 2 <= lsize) p *= 2;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid >= p) scratch[lid - p] += scratch[lid];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = p / 2; s > 0; s >>= 1) {
        if (lid < s) scratch[lid] += scratch[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

__kernel void dot_partial(const int n, __global const REAL *x, __global const REAL *y,
                          __global REAL *partial, __local ACC *scratch)
{
    ACC acc = 0;
    for (int i = get_global_id(0); i < n; i += get_global_size(0))
        acc += (ACC)x[i] * (ACC)y[i];
    scratch[get_local_id(0)] = acc;
    tree_sum(scratch);
    if (get_local_id(0) == 0) partial[get_group_id(0)] = (REAL)scratch[0];
}

__kernel void sum_partial(const int n, __global const REAL *x, __global REAL *partial,
                          __local ACC *scratch)
{
    ACC acc = 0;
    for (int i = get_global_id(0); i < n; i += get_global_size(0))
        acc += x[i];
    scratch[get_local_id(0)] = acc;
    tree_sum(scratch);
    if (get_local_id(0) == 0) partial[get_group_id(0)] = (REAL)scratch[0];
}

#ifdef VW
typedef CAT(ACC, VW) accv;
#define VLOAD CAT(vload, VW)
#define CONVERT CAT(convert_, CAT(ACC, VW))

ACC hsum(const accv v)
{
#if VW == 16
    const CAT(ACC, 8) h = v.lo + v.hi;
    const CAT(ACC, 4) q = h.lo + h.hi;
#elif VW == 8
    const CAT(ACC, 4) q = v.lo + v.hi;
#else
#error "VW must be 8 or 16"
#endif
    const CAT(ACC, 2) d = q.lo + q.hi;
    return d.x + d.y;
}

__kernel void dot_chunks(const int n, const int chunk, __global const REAL *x,
                         __global const REAL *y, __global REAL *partial, __local ACC *scratch)
{
    const int start = min((int)get_global_id(0) * chunk, n);
    const int end = min(start + chunk, n);
    // Two vector accumulators: independent add chains hide the add latency.
    accv acc0 = (accv)0, acc1 = (accv)0;
    int i = start;
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
    scratch[get_local_id(0)] = s;
    tree_sum(scratch);
    if (get_local_id(0) == 0) partial[get_group_id(0)] = (REAL)scratch[0];
}
#endif
