// Full-batch gradient descent for a 2-H-1 MLP (see mlp_xor.cl): block-level reduction of
// the per-sample gradients and loss into partial rows, then one thread per parameter
// sums the rows and updates θ. REAL, H and WG (a power of two, = blockDim.x) are defines.
#ifndef H
#define H 8
#endif
#ifndef WG
#define WG 64
#endif
#define NP (4 * H + 1)
#define NP1 (NP + 1)

extern "C" __global__ void mlp_partial(const int n, const REAL *X, const REAL *y, const REAL *theta, REAL *partial)
{
    __shared__ REAL th[NP];
    __shared__ REAL s[NP1 * WG];
    const int lid = threadIdx.x;
    for (int q = lid; q < NP; q += WG) th[q] = theta[q];
    __syncthreads();
    const REAL *W1 = th, *b1 = th + 2 * H, *W2 = th + 3 * H;
    const REAL b2 = th[4 * H];
    REAL acc[NP1];
    for (int q = 0; q < NP1; ++q) acc[q] = 0;
    for (int i = blockIdx.x * WG + lid; i < n; i += gridDim.x * WG) {
        const REAL x0 = X[2 * i], x1 = X[2 * i + 1], yi = y[i];
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
    for (int q = 0; q < NP1; ++q) s[q * WG + lid] = acc[q];
    __syncthreads();
    for (int step = WG / 2; step > 0; step >>= 1) {
        if (lid < step)
            for (int q = 0; q < NP1; ++q) s[q * WG + lid] += s[q * WG + lid + step];
        __syncthreads();
    }
    for (int q = lid; q < NP1; q += WG) partial[blockIdx.x * NP1 + q] = s[q * WG];
}

extern "C" __global__ void mlp_update(const int groups, const REAL *partial, REAL *theta, REAL *losses,
                                      const int slot, const int do_update, const REAL lr, const REAL inv_n)
{
    const int q = blockIdx.x * blockDim.x + threadIdx.x;
    if (q >= NP1) return;
    REAL g = 0;
    for (int r = 0; r < groups; ++r) g += partial[r * NP1 + q];
    if (q == NP) {
        if (slot >= 0) losses[slot] = g * inv_n;
    } else if (do_update) {
        theta[q] -= lr * (g * inv_n);
    }
}
