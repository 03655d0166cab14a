// Gradient descent for a·x² + b·x + c on n samples, two launches per step.
// qf_partial: each work-item accumulates r·x², r·x and r over a grid-stride slice
// (r = a x² + b x + c − y), then the work-group tree-reduces the three sums in local
// memory and writes one partial triple. qf_update: a single work-group reduces the
// partials the same way and work-item 0 updates θ ← θ − lr·scale·G (scale = 2/n).

// Tree reduction of s[0..L), s[L..2L), s[2L..3L) in place; the local size need not be a
// power of two (the tail is folded first). Every work-item of the group must call it.
static void reduce3(__local REAL *s, const int lid, const int L)
{
    int p = 1;
    while (p * 2 <= L) p *= 2;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid >= p)
        for (int j = 0; j < 3; ++j) s[j * L + lid - p] += s[j * L + lid];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = p / 2; h > 0; h >>= 1) {
        if (lid < h)
            for (int j = 0; j < 3; ++j) s[j * L + lid] += s[j * L + lid + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

__kernel void qf_partial(const int n, __global const REAL *x, __global const REAL *y,
                         __global const REAL *theta, __global REAL *partial, __local REAL *s)
{
    const int lid = get_local_id(0), L = get_local_size(0);
    const REAL a = theta[0], b = theta[1], c = theta[2];
    REAL g0 = 0, g1 = 0, g2 = 0;
    for (int i = get_global_id(0); i < n; i += get_global_size(0)) {
        const REAL xi = x[i], x2 = xi * xi;
        const REAL r = a * x2 + b * xi + c - y[i];
        g0 += r * x2;
        g1 += r * xi;
        g2 += r;
    }
    s[lid] = g0;
    s[L + lid] = g1;
    s[2 * L + lid] = g2;
    reduce3(s, lid, L);
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
    for (int g = lid; g < groups; g += L) {
        g0 += partial[3 * g];
        g1 += partial[3 * g + 1];
        g2 += partial[3 * g + 2];
    }
    s[lid] = g0;
    s[L + lid] = g1;
    s[2 * L + lid] = g2;
    reduce3(s, lid, L);
    if (lid == 0) {
        theta[0] -= lr * (scale * s[0]);
        theta[1] -= lr * (scale * s[L]);
        theta[2] -= lr * (scale * s[2 * L]);
    }
}
