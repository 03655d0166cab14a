// Escape counts of z <- z^2 + c over an ny×nx grid, one thread per pixel (the count is
// shared/mandelbrot.h, as in mandelbrot.cl). REAL is set at compile time (-DREAL=float
// or double).
#include "../shared/mandelbrot.h"

extern "C" __global__ void mandelbrot(const int nx, const int ny, const int max_iter,
                                      const REAL *cx, const REAL *cy, int *counts)
{
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    const int i = blockIdx.y * blockDim.y + threadIdx.y;
    if (i >= ny || j >= nx) return;
    counts[i * nx + j] = escape_count(cx[j], cy[i], max_iter);
}
