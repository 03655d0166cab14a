// Row-wise softmax, max-subtracted, one work-group per row. Each work-item strides
// over the row's columns; the row maximum and the sum of exponentials are work-group
// tree reductions in local memory. The group size need not be a power of two, nor
// divide the row length (tree_max and tree_sum of _reductions.cl).

#include "_reductions.cl"

__kernel void softmax_rows(const int cols, __global const REAL *x, __global REAL *out,
                           __local REAL *scratch)
{
    const int lid = get_local_id(0);
    const int lsize = get_local_size(0);
    __global const REAL *xr = x + (long)get_group_id(0) * cols;
    __global REAL *yr = out + (long)get_group_id(0) * cols;

    REAL m = -INFINITY;
    for (int j = lid; j < cols; j += lsize)
        m = fmax(m, xr[j]);
    scratch[lid] = m;
    tree_max(scratch);
    m = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);  // everyone has read the max before scratch is reused

    REAL s = 0;
    for (int j = lid; j < cols; j += lsize) {
        const REAL e = exp(xr[j] - m);
        yr[j] = e;
        s += e;
    }
    scratch[lid] = s;
    tree_sum(scratch);
    s = scratch[0];

    for (int j = lid; j < cols; j += lsize)  // each item rescales only what it wrote
        yr[j] = yr[j] / s;
}
