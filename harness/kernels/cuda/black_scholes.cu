// Black-Scholes call and put prices, one thread per option; out is (2, n): calls, then
// puts. REAL is a build define; the pricing is shared/black_scholes.h, as in
// black_scholes.cl.
#include "../shared/black_scholes.h"

extern "C" __global__ void black_scholes(const int n, const REAL *S, const REAL *K, const REAL *T,
                                         const REAL *r, const REAL *sigma, REAL *out)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    REAL call, put;
    bs_prices(S[i], K[i], T[i], r[i], sigma[i], &call, &put);
    out[i] = call;
    out[n + i] = put;
}
