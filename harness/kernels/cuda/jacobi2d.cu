// One Jacobi sweep of the 5-point Poisson stencil: y = (N + S + W + E + b) / 4 on the
// interior of an n×n grid; the boundary ring is never written. A 16×16 block stages
// its tile plus a one-cell halo in shared memory. REAL is set at compile time.
#define TS 16

extern "C" __global__ void jacobi_sweep(const int n, const REAL *x, const REAL *b, REAL *y)
{
    __shared__ REAL tile[TS + 2][TS + 2];
    const int lj = threadIdx.x, li = threadIdx.y;
    const int j0 = blockIdx.x * TS - 1, i0 = blockIdx.y * TS - 1;
    for (int idx = li * TS + lj; idx < (TS + 2) * (TS + 2); idx += TS * TS) {
        const int ti = idx / (TS + 2), tj = idx % (TS + 2);
        const int gi = i0 + ti, gj = j0 + tj;
        tile[ti][tj] = (gi >= 0 && gi < n && gj >= 0 && gj < n) ? x[gi * n + gj] : (REAL)0;
    }
    __syncthreads();
    const int i = i0 + 1 + li, j = j0 + 1 + lj;
    if (i < 1 || j < 1 || i >= n - 1 || j >= n - 1) return;
    const int ti = li + 1, tj = lj + 1;
    y[i * n + j] = (tile[ti - 1][tj] + tile[ti + 1][tj] + tile[ti][tj - 1] + tile[ti][tj + 1]
                    + b[i * n + j]) * (REAL)0.25;
}
