// Black-Scholes call and put prices, one thread per option; out is (2, n): calls, then
// puts. REAL is a build define; log/sqrt/exp/erf resolve to the float or double
// overloads of CUDA's math library.
extern "C" __global__ void black_scholes(const int n, const REAL *S, const REAL *K, const REAL *T,
                                         const REAL *r, const REAL *sigma, REAL *out)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const REAL s = S[i], k = K[i], t = T[i], rr = r[i], v = sigma[i];
    const REAL c = (REAL)0.7071067811865476;
    const REAL sq = v * sqrt(t);
    const REAL d1 = (log(s / k) + (rr + v * v * (REAL)0.5) * t) / sq;
    const REAL d2 = d1 - sq;
    const REAL disc = k * exp(-rr * t);
    const REAL h = (REAL)0.5;
    out[i] = s * (h + h * erf(d1 * c)) - disc * (h + h * erf(d2 * c));
    out[n + i] = disc * (h + h * erf(-d2 * c)) - s * (h + h * erf(-d1 * c));
}
