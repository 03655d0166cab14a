// The escape count of c = cr + i·ci: the iterations of z <- z² + c from z = 0 before
// |z|² > 4, at most max_iter.
#ifndef HARNESS_SHARED_MANDELBROT_H
#define HARNESS_SHARED_MANDELBROT_H
#include "device.h"

DEVICE_FN int escape_count(const REAL cr, const REAL ci, const int max_iter)
{
    REAL zr = 0, zi = 0;
    int k = 0;
    for (; k < max_iter; ++k) {
        const REAL zr2 = zr * zr, zi2 = zi * zi;
        if (zr2 + zi2 > (REAL)4) break;
        zi = (REAL)2 * zr * zi + ci;
        zr = zr2 - zi2 + cr;
    }
    return k;
}
#endif
