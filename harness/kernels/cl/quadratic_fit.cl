// Gradient descent for a·x² + b·x + c on n samples, two launches per step.
// qf_partial: each work-item accumulates r·x², r·x and r over a grid-stride slice
// (r = a x² + b x + c − y), then the work-group tree-reduces the three sums in local
// memory (tree_sum_rows of _reductions.cl: the local size need not be a power of two)
// and writes one partial triple. qf_update: a single work-group reduces the partials the
// same way and work-item 0 updates θ ← θ − lr·scale·G (scale = 2/n). The per-sample
// terms and the update are shared with the CUDA kernels (shared/quadratic_fit.h).
#include "_reductions.cl"
#include "../shared/quadratic_fit.h"

__kernel void qf_partial(const int n, __global const REAL *x, __global const REAL *y,
                         __global const REAL *theta, __global REAL *partial, __local REAL *s)
{
    const int lid = get_local_id(0), L = get_local_size(0);
    const REAL a = theta[0], b = theta[1], c = theta[2];
    REAL g0 = 0, g1 = 0, g2 = 0;
    for (int i = get_global_id(0); i < n; i += get_global_size(0))
        qf_accumulate(a, b, c, x[i], y[i], &g0, &g1, &g2);
    qf_store_rows(s, L, lid, g0, g1, g2);
    tree_sum_rows(s, 3, L);
    if (lid == 0) {
        const int g = get_group_id(0);
        partial[3 * g] = s[0];
        partial[3 * g + 1] = s[L];
        partial[3 * g + 2] = s[2 * L];
    }
}

__kernel void qf_update(const int groups, __global const REAL *partial, __global REAL *theta,
                        const REAL lr, const REAL scale, __local REAL *s)
{
    const int lid = get_local_id(0), L = get_local_size(0);
    REAL g0 = 0, g1 = 0, g2 = 0;
    qf_sum_partials(partial, groups, lid, L, &g0, &g1, &g2);
    qf_store_rows(s, L, lid, g0, g1, g2);
    tree_sum_rows(s, 3, L);
    if (lid == 0) qf_step(theta, lr, scale, s[0], s[L], s[2 * L]);
}
