// z <- x + y.
//
// vadd (VW > 1, the default): each work-item adds VW consecutive elements with one
//   vector load of x and y and one vector store (one 64-byte cache line), so PoCL's
//   work-group loop streams memory instead of doing one scalar per iteration. The
//   last item takes the scalar tail; items past n return.
// vadd with VW == 1: the original one-element-per-work-item kernel, kept for comparison.
#include "_vectors.cl"

__kernel void vadd(const int n, __global const REAL *x, __global const REAL *y,
                   __global REAL *z)
{
    const int i = get_global_id(0) * VW;
    if (i + VW <= n) {
        VSTORE(VLOAD(0, x + i) + VLOAD(0, y + i), 0, z + i);
    } else {
        for (int j = i; j < n; ++j) z[j] = x[j] + y[j];
    }
}
