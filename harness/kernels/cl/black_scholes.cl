// Black-Scholes call and put prices, one work-item per option; out is (2, n): calls,
// then puts. Uses the built-in log, sqrt, exp and erf (OpenCL 1.2 §7.4 accuracy).

__kernel void black_scholes(const int n, __global const REAL *S, __global const REAL *K,
                            __global const REAL *T, __global const REAL *r,
                            __global const REAL *sigma, __global REAL *out)
{
    const int i = get_global_id(0);
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
