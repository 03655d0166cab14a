// Gradient descent for a·x² + b·x + c: the gradient terms of one sample, and the update.
#ifndef HARNESS_SHARED_QUADRATIC_FIT_H
#define HARNESS_SHARED_QUADRATIC_FIT_H
#include "device.h"

// g += (r·x², r·x, r) for the sample (xi, yi), r = a xi² + b xi + c − yi.
DEVICE_FN void qf_accumulate(const REAL a, const REAL b, const REAL c, const REAL xi,
                             const REAL yi, REAL *g0, REAL *g1, REAL *g2)
{
    const REAL x2 = xi * xi;
    const REAL r = a * x2 + b * xi + c - yi;
    *g0 += r * x2;
    *g1 += r * xi;
    *g2 += r;
}

// g += the partial triples lid, lid + stride, ... below groups.
DEVICE_FN void qf_sum_partials(GLOBAL_AS const REAL *partial, const int groups, const int lid,
                               const int stride, REAL *g0, REAL *g1, REAL *g2)
{
    for (int g = lid; g < groups; g += stride) {
        *g0 += partial[3 * g];
        *g1 += partial[3 * g + 1];
        *g2 += partial[3 * g + 2];
    }
}

// s[r * width + lid] = g_r for r = 0, 1, 2: item lid's element of the three rows to reduce.
DEVICE_FN void qf_store_rows(LOCAL_AS REAL *s, const int width, const int lid, const REAL g0,
                             const REAL g1, const REAL g2)
{
    s[lid] = g0;
    s[width + lid] = g1;
    s[2 * width + lid] = g2;
}

// θ ← θ − lr·scale·G for the summed gradient G = (g0, g1, g2).
DEVICE_FN void qf_step(GLOBAL_AS REAL *theta, const REAL lr, const REAL scale, const REAL g0,
                       const REAL g1, const REAL g2)
{
    theta[0] -= lr * (scale * g0);
    theta[1] -= lr * (scale * g1);
    theta[2] -= lr * (scale * g2);
}
#endif
