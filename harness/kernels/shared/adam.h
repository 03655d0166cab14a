// One Adam step for parameter i on f(w) = ½ Σ d (w − c)²; w, m, v are updated in place.
// The bias corrections bc = 1 − βᵗ are the same for every parameter, so the host
// computes them once per step, in the working precision.
#ifndef HARNESS_SHARED_ADAM_H
#define HARNESS_SHARED_ADAM_H
#include "device.h"

DEVICE_FN void adam_update(const int i, GLOBAL_AS REAL *w, GLOBAL_AS REAL *m, GLOBAL_AS REAL *v,
                           GLOBAL_AS const REAL *c, GLOBAL_AS const REAL *d, const REAL lr,
                           const REAL b1, const REAL b2, const REAL eps, const REAL bc1,
                           const REAL bc2)
{
    const REAL one = (REAL)1;
    const REAL g = d[i] * (w[i] - c[i]);
    const REAL mi = b1 * m[i] + (one - b1) * g;
    const REAL vi = b2 * v[i] + (one - b2) * (g * g);
    m[i] = mi;
    v[i] = vi;
    const REAL mh = mi / bc1;
    const REAL vh = vi / bc2;
    w[i] -= lr * mh / (sqrt(vh) + eps);
}
#endif
