// Escape counts of z <- z^2 + c over an ny×nx grid, one thread per pixel.
// REAL is set at compile time (-DREAL=float or double).
extern "C" __global__ void mandelbrot(const int nx, const int ny, const int max_iter,
                                      const REAL *cx, const REAL *cy, int *counts)
{
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    const int i = blockIdx.y * blockDim.y + threadIdx.y;
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
