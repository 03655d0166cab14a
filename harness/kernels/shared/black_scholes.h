// Black-Scholes call and put prices of one option, with the built-in log, sqrt, exp and
// erf (OpenCL 1.2 §7.4 accuracy; in CUDA the float or double overloads of its math
// library).
#ifndef HARNESS_SHARED_BLACK_SCHOLES_H
#define HARNESS_SHARED_BLACK_SCHOLES_H
#include "device.h"

DEVICE_FN void bs_prices(const REAL s, const REAL k, const REAL t, const REAL rr, const REAL v,
                         REAL *call, REAL *put)
{
    const REAL c = (REAL)0.7071067811865476;
    const REAL sq = v * sqrt(t);
    const REAL d1 = (log(s / k) + (rr + v * v * (REAL)0.5) * t) / sq;
    const REAL d2 = d1 - sq;
    const REAL disc = k * exp(-rr * t);
    const REAL h = (REAL)0.5;
    *call = s * (h + h * erf(d1 * c)) - disc * (h + h * erf(d2 * c));
    *put = disc * (h + h * erf(-d2 * c)) - s * (h + h * erf(-d1 * c));
}
#endif
