// y <- max(x, 0), one work-item per element. A select, not fmax, so that -0 and NaN
// behave like the reference (x > 0 ? x : 0).
#ifdef REAL_IS_DOUBLE
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif
#ifdef REAL_IS_HALF
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
#endif

__kernel void relu(const int n, __global const REAL *x, __global REAL *y)
{
    const int i = get_global_id(0);
    if (i < n) {
        const REAL v = x[i];
        y[i] = v > (REAL)0 ? v : (REAL)0;
    }
}
