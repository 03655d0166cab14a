// One Adam step on f(w) = ½ Σ d (w − c)², one work-item per parameter; w, m, v are
// updated in place. The bias corrections bc = 1 − βᵗ are the same for every parameter,
// so the host computes them once per step, in the working precision.

__kernel void adam_step(const int n, __global REAL *w, __global REAL *m, __global REAL *v,
                        __global const REAL *c, __global const REAL *d, const REAL lr,
                        const REAL b1, const REAL b2, const REAL eps, const REAL bc1, const REAL bc2)
{
    const int i = get_global_id(0);
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
