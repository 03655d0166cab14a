// Escape counts of z <- z^2 + c over an ny×nx grid.
//
// mandelbrot_vec (the default): each work-item computes VW adjacent pixels of a row
//   with vector types; the iteration runs until every lane has escaped, with a sticky
//   per-lane mask that stops counting escaped lanes. Same operations in the same order
//   per pixel as the scalar kernel, so counts agree with it.
// mandelbrot: one work-item per pixel (the "before"); its count (shared/mandelbrot.h) is
//   the CUDA kernel's too.
#include "../shared/mandelbrot.h"
#ifndef VW
#define VW 8
#endif

typedef CAT(REAL, VW) realv;
#if defined(REAL_IS_DOUBLE)
typedef CAT(long, VW) maskv;
#elif defined(REAL_IS_HALF)  /* a half comparison gives shorts */
typedef CAT(short, VW) maskv;
#else
typedef CAT(int, VW) maskv;
#endif
typedef CAT(int, VW) intv;
#define VLOAD CAT(vload, VW)
#define VSTORE CAT(vstore, VW)
#define CONVERT_INT CAT(convert_int, VW)

__kernel void mandelbrot(const int nx, const int ny, const int max_iter,
                         __global const REAL *cx, __global const REAL *cy, __global int *counts)
{
    const int j = get_global_id(0), i = get_global_id(1);
    if (i >= ny || j >= nx) return;
    counts[i * nx + j] = escape_count(cx[j], cy[i], max_iter);
}

__kernel void mandelbrot_vec(const int nx, const int ny, const int max_iter,
                             __global const REAL *cx, __global const REAL *cy,
                             __global int *counts)
{
    const int j0 = get_global_id(0) * VW, i = get_global_id(1);
    if (i >= ny || j0 >= nx) return;
    if (j0 + VW > nx) {  // right edge: scalar
        for (int j = j0; j < nx; ++j)
            counts[i * nx + j] = escape_count(cx[j], cy[i], max_iter);
        return;
    }
    const realv cr = VLOAD(0, cx + j0);
    const realv ci = (realv)cy[i];
    realv zr = (realv)0, zi = (realv)0;
    maskv active = (maskv)(-1);
    intv k = (intv)0;
    for (int it = 0; it < max_iter; ++it) {
        const realv zr2 = zr * zr, zi2 = zi * zi;
        active &= ~(zr2 + zi2 > (realv)4);  // as the scalar test; escaped lanes stay out
        if (!any(active)) break;
        k -= CONVERT_INT(active);          // a true lane is -1
        zi = (realv)2 * zr * zi + ci;
        zr = zr2 - zi2 + cr;
    }
    VSTORE(k, 0, counts + i * nx + j0);
}
