// Gradient descent for a·x² + b·x + c on n samples, two launches per step (see
// quadratic_fit.cl): block tree reductions of the three gradient sums into partials,
// then one block reduces them and updates θ. REAL and WG (a power of two, = blockDim.x)
// are build defines; the per-sample terms and the update are shared/quadratic_fit.h.
#ifndef WG
#define WG 256
#endif
#include "_reductions.cuh"
#include "../shared/quadratic_fit.h"

extern "C" __global__ void qf_partial(const int n, const REAL *x, const REAL *y, const REAL *theta, REAL *partial)
{
    __shared__ REAL s[3 * WG];
    const int lid = threadIdx.x;
    const REAL a = theta[0], b = theta[1], c = theta[2];
    REAL g0 = 0, g1 = 0, g2 = 0;
    for (int i = blockIdx.x * WG + lid; i < n; i += gridDim.x * WG)
        qf_accumulate(a, b, c, x[i], y[i], &g0, &g1, &g2);
    qf_store_rows(s, WG, lid, g0, g1, g2);
    block_sum_rows(s, 3, WG, lid);
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
    qf_sum_partials(partial, groups, lid, WG, &g0, &g1, &g2);
    qf_store_rows(s, WG, lid, g0, g1, g2);
    block_sum_rows(s, 3, WG, lid);
    if (lid == 0) qf_step(theta, lr, scale, s[0], s[WG], s[2 * WG]);
}
