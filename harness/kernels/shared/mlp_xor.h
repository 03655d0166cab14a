// Full-batch gradient descent for a 2-H-1 MLP (tanh hidden, sigmoid output, BCE loss).
// Parameters θ = [W1 (2×H row-major), b1 (H), W2 (H), b2]: NP of them; the partial rows
// hold the NP gradient sums and the loss (NP1 entries).
#ifndef HARNESS_SHARED_MLP_XOR_H
#define HARNESS_SHARED_MLP_XOR_H
#include "device.h"

#ifndef H
#define H 8
#endif
#define NP (4 * H + 1)
#define NP1 (NP + 1)

// acc[0..NP) += the gradient of sample (x0, x1) with label yi; acc[NP] += its loss.
DEVICE_FN void mlp_sample(const REAL x0, const REAL x1, const REAL yi, LOCAL_AS const REAL *W1,
                          LOCAL_AS const REAL *b1, LOCAL_AS const REAL *W2, const REAL b2,
                          REAL *acc)
{
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

// Entry q < NP1: sums column q of the `groups` partial rows in order and scales it by
// 1/n; the loss goes to losses[slot] (slot >= 0), a gradient entry updates θ (do_update).
DEVICE_FN void mlp_update_at(const int q, const int groups, GLOBAL_AS const REAL *partial,
                             GLOBAL_AS REAL *theta, GLOBAL_AS REAL *losses, const int slot,
                             const int do_update, const REAL lr, const REAL inv_n)
{
    REAL g = 0;
    for (int r = 0; r < groups; ++r) g += partial[r * NP1 + q];
    if (q == NP) {
        if (slot >= 0) losses[slot] = g * inv_n;
    } else if (do_update) {
        theta[q] -= lr * (g * inv_n);
    }
}
#endif
