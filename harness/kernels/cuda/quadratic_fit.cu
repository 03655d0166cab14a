// Gradient descent for a·x² + b·x + c on n samples, two launches per step (see
// quadratic_fit.cl): block tree reductions of the three gradient sums into partials,
// then one block reduces them and updates θ. REAL and WG (a power of two, = blockDim.x)
// are build defines.
#ifndef WG
#define WG 256
#endif

__device__ void reduce3(REAL *s, const int lid)
{
    __syncthreads();
    for (int h = WG / 2; h > 0; h >>= 1) {
        if (lid < h)
            for (int j = 0; j < 3; ++j) s[j * WG + lid] += s[j * WG + lid + h];
        __syncthreads();
    }
}

extern "C" __global__ void qf_partial(const int n, const REAL *x, const REAL *y, const REAL *theta, REAL *partial)
{
    __shared__ REAL s[3 * WG];
    const int lid = threadIdx.x;
    const REAL a = theta[0], b = theta[1], c = theta[2];
    REAL g0 = 0, g1 = 0, g2 = 0;
    for (int i = blockIdx.x * WG + lid; i < n; i += gridDim.x * WG) {
        const REAL xi = x[i], x2 = xi * xi;
        const REAL r = a * x2 + b * xi + c - y[i];
        g0 += r * x2;
        g1 += r * xi;
        g2 += r;
    }
    s[lid] = g0;
    s[WG + lid] = g1;
    s[2 * WG + lid] = g2;
    reduce3(s, lid);
    if (lid == 0) {
        partial[3 * blockIdx.x] = s[0];
        partial[3 * blockIdx.x + 1] = s[WG];
        partial[3 * blockIdx.x + 2] = s[2 * WG];
    }
}

extern "C" __global__ void qf_update(const int groups, const REAL *partial, REAL *theta, const REAL lr,
                                     const REAL scale)
{
    __shared__ REAL s[3 * WG];
    const int lid = threadIdx.x;
    REAL g0 = 0, g1 = 0, g2 = 0;
    for (int g = lid; g < groups; g += WG) {
        g0 += partial[3 * g];
        g1 += partial[3 * g + 1];
        g2 += partial[3 * g + 2];
    }
    s[lid] = g0;
    s[WG + lid] = g1;
    s[2 * WG + lid] = g2;
    reduce3(s, lid);
    if (lid == 0) {
        theta[0] -= lr * (scale * s[0]);
        theta[1] -= lr * (scale * s[WG]);
        theta[2] -= lr * (scale * s[2 * WG]);
    }
}
