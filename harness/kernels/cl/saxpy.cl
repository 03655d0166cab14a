// y <- a*x + y. Each work-item handles VW consecutive elements with one vector load
// of x and y and one vector store (a cache line for VW*sizeof(REAL) = 64), so PoCL's
// work-group loop streams memory instead of doing one scalar per iteration. The last
// item takes the scalar tail; items past n return.
#include "_vectors.cl"

__kernel void saxpy(const int n, const REAL a, __global const REAL *x,
                    __global const REAL *y, __global REAL *out)
{
    const int i = get_global_id(0) * VW;
    if (i + VW <= n) {
        VSTORE(a * VLOAD(0, x + i) + VLOAD(0, y + i), 0, out + i);
    } else {
        for (int j = i; j < n; ++j) out[j] = a * x[j] + y[j];
    }
}
