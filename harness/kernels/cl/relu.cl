// y <- max(x, 0). A select, not fmax, so that -0 and NaN behave like the reference
// (x > 0 ? x : 0).
//
// With VW > 1 (the default) each work-item handles VW consecutive elements (one 64-byte
// cache line) with one vector load, a vector select and one vector store; the last
// item takes the scalar tail. VW == 1 is the original one-element-per-item kernel.
#ifndef VW
#define VW 1
#endif

__kernel void relu(const int n, __global const REAL *x, __global REAL *y)
{
    const int i = get_global_id(0) * VW;
#if VW > 1
    if (i + VW <= n) {
        const CAT(REAL, VW) v = CAT(vload, VW)(0, x + i);
        // v > 0 is a vector mask (all ones where true); select takes v there, else 0.
        CAT(vstore, VW)(select((CAT(REAL, VW))0, v, v > (CAT(REAL, VW))0), 0, y + i);
        return;
    }
#endif
    for (int j = i; j < n && j < i + VW; ++j) {
        const REAL v = x[j];
        y[j] = v > (REAL)0 ? v : (REAL)0;
    }
}
