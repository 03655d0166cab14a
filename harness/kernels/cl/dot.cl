// Dot product as a work-group tree reduction in local memory. Each work-item first
// accumulates a grid-stride slice of x*y, the group folds its values pairwise and
// writes one partial; a second launch of sum_partial with a single group reduces the
// partials. The group size need not be a power of two, nor divide n.
#ifdef REAL_IS_DOUBLE
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif
#ifdef REAL_IS_HALF
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
#endif
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
