// y <- a*x + y, one work-item per element; the global size is rounded up to the
// work-group size, so out-of-range items return.
#ifdef REAL_IS_DOUBLE
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

__kernel void saxpy(const int n, const REAL a, __global const REAL *x,
                    __global const REAL *y, __global REAL *out)
{
    const int i = get_global_id(0);
    if (i < n)
        out[i] = a * x[i] + y[i];
}
