// Work-group and vector reductions shared by the reduction kernels (sum, dot, l2norm,
// softmax). A kernel file takes them with `#include "_reductions.cl"`, which
// OpenCLDevice.compile replaces by this file's text.
//
// ACC is the accumulation type (REAL unless the kernel file defines it first). Tree
// reductions work on scratch[0..local size) in local memory; the group size need not be
// a power of two (the tail above the largest power of two is folded first). Every
// work-item of the group must call them, since they contain barriers.
#ifndef ACC
#define ACC REAL
#endif

// The largest power of two not above the work-group size.
inline int tree_top(void)
{
    int p = 1;
    while (p * 2 <= (int)get_local_size(0)) p *= 2;
    return p;
}

// scratch[0] = the sum of scratch[0..local size).
inline void tree_sum(__local ACC *scratch)
{
    const int lid = get_local_id(0);
    const int p = tree_top();
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid >= p) scratch[lid - p] += scratch[lid];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = p / 2; s > 0; s >>= 1) {
        if (lid < s) scratch[lid] += scratch[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

// scratch[0] = the maximum of scratch[0..local size).
inline void tree_max(__local ACC *scratch)
{
    const int lid = get_local_id(0);
    const int p = tree_top();
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid >= p) scratch[lid - p] = fmax(scratch[lid - p], scratch[lid]);
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = p / 2; s > 0; s >>= 1) {
        if (lid < s) scratch[lid] = fmax(scratch[lid], scratch[lid + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

// Second stage of a two-launch reduction: each group sums a grid-stride slice of x
// (launched with one group over the first stage's partials, it gives the total).
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
// VW-wide vectors of ACC (VW = 8 or 16), loaded with VLOAD and widened with CONVERT.
typedef CAT(ACC, VW) accv;
#define VLOAD CAT(vload, VW)
#define CONVERT CAT(convert_, CAT(ACC, VW))

// Horizontal sum and maximum of one vector, pairwise (halves, then quarters, ...).
inline ACC hsum(const accv v)
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

inline ACC hmax(const accv v)
{
#if VW == 16
    const CAT(ACC, 8) h = fmax(v.lo, v.hi);
    const CAT(ACC, 4) q = fmax(h.lo, h.hi);
#elif VW == 8
    const CAT(ACC, 4) q = fmax(v.lo, v.hi);
#else
#error "VW must be 8 or 16"
#endif
    const CAT(ACC, 2) d = fmax(q.lo, q.hi);
    return fmax(d.x, d.y);
}
#endif
