// Full-batch gradient descent for a 2-H-1 MLP (see mlp_xor.cl): block-level reduction of
// the per-sample gradients and loss into partial rows, then one thread per parameter
// sums the rows and updates θ. REAL, H and WG (a power of two, = blockDim.x) are defines;
// the per-sample pass and the update are shared/mlp_xor.h.
#ifndef WG
#define WG 64
#endif
#include "_reductions.cuh"
#include "../shared/mlp_xor.h"

extern "C" __global__ void mlp_partial(const int n, const REAL *X, const REAL *y, const REAL *theta, REAL *partial)
{
    __shared__ REAL th[NP];
    __shared__ REAL s[NP1 * WG];
    const int lid = threadIdx.x;
    for (int q = lid; q < NP; q += WG) th[q] = theta[q];
    __syncthreads();
    REAL acc[NP1];
    for (int q = 0; q < NP1; ++q) acc[q] = 0;
    for (int i = blockIdx.x * WG + lid; i < n; i += gridDim.x * WG)
        mlp_sample(X[2 * i], X[2 * i + 1], y[i], th, th + 2 * H, th + 3 * H, th[4 * H], acc);
    for (int q = 0; q < NP1; ++q) s[q * WG + lid] = acc[q];
    block_sum_rows(s, NP1, WG, lid);
    for (int q = lid; q < NP1; q += WG) partial[blockIdx.x * NP1 + q] = s[q * WG];
}

extern "C" __global__ void mlp_update(const int groups, const REAL *partial, REAL *theta, REAL *losses,
                                      const int slot, const int do_update, const REAL lr, const REAL inv_n)
{
    const int q = blockIdx.x * blockDim.x + threadIdx.x;
    if (q < NP1) mlp_update_at(q, groups, partial, theta, losses, slot, do_update, lr, inv_n);
}
