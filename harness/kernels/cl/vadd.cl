// z <- x + y, one work-item per element; the global size is rounded up to the
// work-group size, so out-of-range items return.
#ifdef REAL_IS_DOUBLE
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif
#ifdef REAL_IS_HALF
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
#endif

__kernel void vadd(const int n, __global const REAL *x, __global const REAL *y,
                   __global REAL *z)
{
    const int i = get_global_id(0);
    if (i < n)
        z[i] = x[i] + y[i];
}
