// One Jacobi sweep of the 5-point Poisson stencil: y = (N + S + W + E + b) / 4 on the
// interior of an n×n grid; the boundary ring is never written (it holds x0 in both
// ping-pong buffers). Each TS×TS work-group stages its tile plus a one-cell halo in
// local memory, so every x value is read from global memory about once, not five times.
// Items outside the grid still help load the tile and pass the barrier, then return.
#ifndef TS
#define TS 16
#endif

__kernel void jacobi_sweep(const int n, __global const REAL *x, __global const REAL *b,
                           __global REAL *y)
{
    __local REAL tile[TS + 2][TS + 2];
    const int lj = get_local_id(0), li = get_local_id(1);
    const int j0 = get_group_id(0) * TS - 1, i0 = get_group_id(1) * TS - 1;
    for (int idx = li * TS + lj; idx < (TS + 2) * (TS + 2); idx += TS * TS) {
        const int ti = idx / (TS + 2), tj = idx % (TS + 2);
        const int gi = i0 + ti, gj = j0 + tj;
        tile[ti][tj] = (gi >= 0 && gi < n && gj >= 0 && gj < n) ? x[gi * n + gj] : (REAL)0;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    const int i = i0 + 1 + li, j = j0 + 1 + lj;
    if (i < 1 || j < 1 || i >= n - 1 || j >= n - 1) return;
    const int ti = li + 1, tj = lj + 1;
    y[i * n + j] = (tile[ti - 1][tj] + tile[ti + 1][tj] + tile[ti][tj - 1] + tile[ti][tj + 1]
                    + b[i * n + j]) * (REAL)0.25;
}
