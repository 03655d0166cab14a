// Full-batch gradient descent for a 2-H-1 MLP (tanh hidden, sigmoid output, BCE loss).
// Parameters θ = [W1 (2×H row-major), b1 (H), W2 (H), b2] live on the device.
// mlp_partial: each work-item runs the forward and backward pass of a grid-stride slice
// of samples, accumulating the NP gradient entries and the loss privately; the work-group
// then tree-reduces the NP+1 sums in local memory (θ is staged there too) and writes one
// row of partials. mlp_update: one work-item per entry sums the rows in a fixed order,
// scales by 1/n, stores the loss in its checkpoint slot and updates θ.
#ifndef H
#define H 8
#endif
#ifndef WG
#define WG 64
#endif
#define NP (4 * H + 1)
#define NP1 (NP + 1)

__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void mlp_partial(const int n, __global const REAL *X, __global const REAL *y,
                 __global const REAL *theta, __global REAL *partial)
{
    __local REAL th[NP];
    __local REAL s[NP1 * WG];
    const int lid = get_local_id(0);
    for (int q = lid; q < NP; q += WG) th[q] = theta[q];
    barrier(CLK_LOCAL_MEM_FENCE);
    __local const REAL *W1 = th, *b1 = th + 2 * H, *W2 = th + 3 * H;
    const REAL b2 = th[4 * H];
    REAL acc[NP1];
    for (int q = 0; q < NP1; ++q) acc[q] = 0;
    for (int i = get_global_id(0); i < n; i += get_global_size(0)) {
        const REAL x0 = X[2 * i], x1 = X[2 * i + 1], yi = y[i];
        REAL h[H];
        REAL z2 = 0;
        for (int j = 0; j < H; ++j) {
            h[j] = tanh(x0 * W1[j] + x1 * W1[H + j] + b1[j]);
            z2 += h[j] * W2[j];
        }
        z2 += b2;
        const REAL p = (REAL)1 / ((REAL)1 + exp(-z2));
        acc[NP] += fmax(z2, (REAL)0) + log1p(exp(-fabs(z2))) - yi * z2;
        const REAL d = p - yi;
        for (int j = 0; j < H; ++j) {
            const REAL dz1 = d * W2[j] * ((REAL)1 - h[j] * h[j]);
            acc[j] += x0 * dz1;
            acc[H + j] += x1 * dz1;
            acc[2 * H + j] += dz1;
            acc[3 * H + j] += h[j] * d;
        }
        acc[4 * H] += d;
    }
    for (int q = 0; q < NP1; ++q) s[q * WG + lid] = acc[q];
    barrier(CLK_LOCAL_MEM_FENCE);
    int p2 = 1;
    while (p2 * 2 <= WG) p2 *= 2;
    if (lid >= p2)
        for (int q = 0; q < NP1; ++q) s[q * WG + lid - p2] += s[q * WG + lid];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int step = p2 / 2; step > 0; step >>= 1) {
        if (lid < step)
            for (int q = 0; q < NP1; ++q) s[q * WG + lid] += s[q * WG + lid + step];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int q = lid; q < NP1; q += WG) partial[get_group_id(0) * NP1 + q] = s[q * WG];
}

__kernel void mlp_update(const int groups, __global const REAL *partial, __global REAL *theta,
                         __global REAL *losses, const int slot, const int do_update,
                         const REAL lr, const REAL inv_n)
{
    const int q = get_global_id(0);
    if (q >= NP1) return;
    REAL g = 0;
    for (int r = 0; r < groups; ++r) g += partial[r * NP1 + q];
    if (q == NP) {
        if (slot >= 0) losses[slot] = g * inv_n;
    } else if (do_update) {
        theta[q] -= lr * (g * inv_n);
    }
}
