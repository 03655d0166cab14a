// Black-Scholes call and put prices, one work-item per option; out is (2, n): calls,
// then puts. The pricing is shared with the CUDA kernel (shared/black_scholes.h).
#include "../shared/black_scholes.h"

__kernel void black_scholes(const int n, __global const REAL *S, __global const REAL *K,
                            __global const REAL *T, __global const REAL *r,
                            __global const REAL *sigma, __global REAL *out)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    REAL call, put;
    bs_prices(S[i], K[i], T[i], r[i], sigma[i], &call, &put);
    out[i] = call;
    out[n + i] = put;
}
