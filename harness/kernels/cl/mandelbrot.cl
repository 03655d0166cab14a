// Escape counts of z <- z^2 + c over an ny×nx grid, one work-item per pixel.
#ifdef REAL_IS_DOUBLE
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

__kernel void mandelbrot(const int nx, const int ny, const int max_iter,
                         __global const REAL *cx, __global const REAL *cy, __global int *counts)
{
    const int j = get_global_id(0), i = get_global_id(1);
    if (i >= ny || j >= nx) return;
    const REAL cr = cx[j], ci = cy[i];
    REAL zr = 0, zi = 0;
    int k = 0;
    for (; k < max_iter; ++k) {
        const REAL zr2 = zr * zr, zi2 = zi * zi;
        if (zr2 + zi2 > (REAL)4) break;
        zi = (REAL)2 * zr * zi + ci;
        zr = zr2 - zi2 + cr;
    }
    counts[i * nx + j] = k;
}
