// Escape counts of z <- z^2 + c over an ny×nx grid.
//
// mandelbrot_vec (the default): each work-item computes VW adjacent pixels of a row
//   with vector types; the iteration runs until every lane has escaped, with a sticky
//   per-lane mask that stops counting escaped lanes. Same operations in the same order
//   per pixel as the scalar kernel, so counts agree with it.
// mandelbrot: one work-item per pixel (the "before").
#ifndef VW
#define VW 8
#endif

typedef CAT(REAL, VW) realv;
#ifdef REAL_IS_DOUBLE
typedef CAT(long, VW) maskv;
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

__kernel void mandelbrot_vec(const int nx, const int ny, const int max_iter,
                             __global const REAL *cx, __global const REAL *cy,
                             __global int *counts)
{
    const int j0 = get_global_id(0) * VW, i = get_global_id(1);
    if (i >= ny || j0 >= nx) return;
    if (j0 + VW > nx) {  // right edge: scalar
        for (int j = j0; j < nx; ++j) {
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
