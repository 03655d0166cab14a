// Work-group tree reduction. Each work-item first accumulates a grid-stride slice of
// the input, then the group reduces in local memory and writes one partial sum.
// Launched twice: n -> n_groups partials, then partials -> 1 with a single group.
#ifdef REAL_IS_DOUBLE
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif
#ifndef ACC
#define ACC REAL
#endif

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
