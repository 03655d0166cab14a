// C = A·B for n×n row-major matrices. Two kernels:
//
// matmul_block (the default): register blocking without local memory, tuned for CPU
//   OpenCL (PoCL). Each work-item computes an RM×VW block of C: per k it loads one
//   VW-wide vector of a row of B and RM scalars of A, and does RM vector FMAs into
//   RM vector accumulators that stay in registers. No barriers, so PoCL's work-group
//   loop stays one tight loop, and dimension 0 runs over row blocks so consecutive
//   work-items share the same strip of B in cache. Blocks on the right/bottom edge
//   take a scalar path, so n need not be a multiple of RM or VW.
//
// matmul_tiled: the textbook TS×TS local-memory tiling (one output per work-item),
//   kept as the "before" of the tuning and for GPUs.
#ifndef TS
#define TS 16
#endif
#ifndef RM
#define RM 4
#endif
#ifndef VW
#define VW 16
#endif

typedef CAT(REAL, VW) realv;
#define VLOAD CAT(vload, VW)
#define VSTORE CAT(vstore, VW)

__kernel void matmul_block(const int n, __global const REAL *A, __global const REAL *B,
                           __global REAL *C)
{
    const int i0 = get_global_id(0) * RM, j0 = get_global_id(1) * VW;
    if (i0 >= n || j0 >= n) return;
    if (i0 + RM <= n && j0 + VW <= n) {
        realv acc[RM];
        for (int r = 0; r < RM; ++r) acc[r] = (realv)0;
        __global const REAL *a = A + i0 * n;
        __global const REAL *b = B + j0;
        for (int k = 0; k < n; ++k) {
            const realv bk = VLOAD(0, b + k * n);
            for (int r = 0; r < RM; ++r)
                acc[r] += a[r * n + k] * bk;
        }
        for (int r = 0; r < RM; ++r)
            VSTORE(acc[r], 0, C + (i0 + r) * n + j0);
    } else {
        for (int r = 0; r < RM && i0 + r < n; ++r)
            for (int c = 0; c < VW && j0 + c < n; ++c) {
                REAL s = 0;
                for (int k = 0; k < n; ++k) s += A[(i0 + r) * n + k] * B[k * n + j0 + c];
                C[(i0 + r) * n + j0 + c] = s;
            }
    }
}

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
