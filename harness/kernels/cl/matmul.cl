// C = A·B for n×n row-major matrices, tiled in local memory: each work-group loads
// a TS×TS tile of A and of B per step, so every global element is read n/TS times
// instead of n. Edges are zero-padded in the tiles, so n need not be a multiple of TS.
#ifdef REAL_IS_DOUBLE
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif
#ifndef TS
#define TS 16
#endif

__kernel void matmul_tiled(const int n, __global const REAL *A, __global const REAL *B,
                           __global REAL *C)
{
    __local REAL As[TS][TS];
    __local REAL Bs[TS][TS];
    const int tr = get_local_id(1), tc = get_local_id(0);
    const int row = get_group_id(1) * TS + tr;
    const int col = get_group_id(0) * TS + tc;
    REAL acc = 0;
    for (int t = 0; t < n; t += TS) {
        As[tr][tc] = (row < n && t + tc < n) ? A[row * n + t + tc] : (REAL)0;
        Bs[tr][tc] = (t + tr < n && col < n) ? B[(t + tr) * n + col] : (REAL)0;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int k = 0; k < TS; ++k)
            acc += As[tr][k] * Bs[k][tc];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (row < n && col < n)
        C[row * n + col] = acc;
}
