// Full-batch gradient descent for a 2-H-1 MLP (tanh hidden, sigmoid output, BCE loss).
// Parameters θ = [W1 (2×H row-major), b1 (H), W2 (H), b2] live on the device.
// mlp_partial: each work-item runs the forward and backward pass of a grid-stride slice
// of samples, accumulating the NP gradient entries and the loss privately; the work-group
// then tree-reduces the NP+1 sums in local memory (θ is staged there too) and writes one
// row of partials. mlp_update: one work-item per entry sums the rows in a fixed order,
// scales by 1/n, stores the loss in its checkpoint slot and updates θ. The per-sample
// pass and the update are shared with the CUDA kernels (shared/mlp_xor.h).
#ifndef WG
#define WG 64
#endif
#include "_reductions.cl"
#include "../shared/mlp_xor.h"

__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void mlp_partial(const int n, __global const REAL *X, __global const REAL *y,
                 __global const REAL *theta, __global REAL *partial)
{
    __local REAL th[NP];
    __local REAL s[NP1 * WG];
    const int lid = get_local_id(0);
    for (int q = lid; q < NP; q += WG) th[q] = theta[q];
    barrier(CLK_LOCAL_MEM_FENCE);
    REAL acc[NP1];
    for (int q = 0; q < NP1; ++q) acc[q] = 0;
    for (int i = get_global_id(0); i < n; i += get_global_size(0))
        mlp_sample(X[2 * i], X[2 * i + 1], y[i], th, th + 2 * H, th + 3 * H, th[4 * H], acc);
    for (int q = 0; q < NP1; ++q) s[q * WG + lid] = acc[q];
    tree_sum_rows(s, NP1, WG);
    for (int q = lid; q < NP1; q += WG) partial[get_group_id(0) * NP1 + q] = s[q * WG];
}

__kernel void mlp_update(const int groups, __global const REAL *partial, __global REAL *theta,
                         __global REAL *losses, const int slot, const int do_update,
                         const REAL lr, const REAL inv_n)
{
    const int q = get_global_id(0);
    if (q < NP1) mlp_update_at(q, groups, partial, theta, losses, slot, do_update, lr, inv_n);
}
