// One Adam step on f(w) = ½ Σ d (w − c)², one thread per parameter; w, m, v updated in
// place. The bias corrections bc = 1 − βᵗ come from the host, in REAL (a build define).
extern "C" __global__ void adam_step(const int n, REAL *w, REAL *m, REAL *v, const REAL *c, const REAL *d,
                                     const REAL lr, const REAL b1, const REAL b2, const REAL eps, const REAL bc1, const REAL bc2)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
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
