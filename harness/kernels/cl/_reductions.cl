// Work-group and vector reductions and the work-group scan, shared by the reduction
// kernels (sum, dot, l2norm, softmax, quadratic_fit, mlp_xor) and cumsum. A kernel file
// takes them with `#include "_reductions.cl"`, which OpenCLDevice.compile replaces by
// this file's text.
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

// s[r * width] = the sum of row r, s[r * width .. (r + 1) * width), for each r < rows,
// where width is the local size (each work-item holds one element of every row).
inline void tree_sum_rows(__local ACC *s, const int rows, const int width)
{
    const int lid = get_local_id(0);
    const int p = tree_top();
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid >= p)
        for (int r = 0; r < rows; ++r) s[r * width + lid - p] += s[r * width + lid];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = p / 2; h > 0; h >>= 1) {
        if (lid < h)
            for (int r = 0; r < rows; ++r) s[r * width + lid] += s[r * width + lid + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

// scratch[0] = the sum of scratch[0..local size).
inline void tree_sum(__local ACC *scratch)
{
    tree_sum_rows(scratch, 1, get_local_size(0));
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

// partial[group] = the sum over the work-group of each work-item's `value`.
inline void group_sum_to(__local ACC *scratch, const ACC value, __global REAL *partial)
{
    scratch[get_local_id(0)] = value;
    tree_sum(scratch);
    if (get_local_id(0) == 0) partial[get_group_id(0)] = (REAL)scratch[0];
}

// partial[group] = the maximum over the work-group of each work-item's `value`.
inline void group_max_to(__local ACC *scratch, const ACC value, __global REAL *partial)
{
    scratch[get_local_id(0)] = value;
    tree_max(scratch);
    if (get_local_id(0) == 0) partial[get_group_id(0)] = (REAL)scratch[0];
}

// s[0..local size) <- its inclusive prefix sums (Hillis-Steele: log2 steps, each adding
// the value `off` places back).
inline void tree_scan(__local ACC *s)
{
    const int lid = get_local_id(0), L = get_local_size(0);
    for (int off = 1; off < L; off <<= 1) {
        const ACC t = lid >= off ? s[lid - off] : (ACC)0;
        barrier(CLK_LOCAL_MEM_FENCE);
        s[lid] += t;
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

// This work-item's chunk [*start, *end) of `chunk` consecutive elements of [0, n)
// (empty for the items past n).
inline void chunk_range(const int n, const int chunk, int *start, int *end)
{
    *start = min((int)get_global_id(0) * chunk, n);
    *end = min(*start + chunk, n);
}

// Second stage of a two-launch reduction: each group sums a grid-stride slice of x
// (launched with one group over the first stage's partials, it gives the total).
__kernel void sum_partial(const int n, __global const REAL *x, __global REAL *partial,
                          __local ACC *scratch)
{
    ACC acc = 0;
    for (int i = get_global_id(0); i < n; i += get_global_size(0))
        acc += x[i];
    group_sum_to(scratch, acc, partial);
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
