// The OpenCL backend's proof of work (harness/backends/opencl_selftest.py): a device
// counts as available only after it has built this through the shared prelude, run
// both kernels and given the right answer. The vector kernel uses the same vloadN /
// vstoreN through private arrays as the tuned kernels, which is where a compiler
// that does not know the CPU fails.
#ifndef VW
#define VW 1
#endif

__kernel void twice_plus_one(__global const REAL *x, __global REAL *y) {
    const size_t i = get_global_id(0);
    y[i] = x[i] * (REAL)2 + (REAL)1;
}

__kernel void twice_plus_one_vec(__global const REAL *x, __global REAL *y) {
    const size_t i = get_global_id(0);
    REAL v[VW];
    CAT(vstore, VW)(CAT(vload, VW)(i, x), 0, v);
#pragma unroll
    for (int q = 0; q < VW; ++q)
        v[q] = v[q] * (REAL)2 + (REAL)1;
    CAT(vstore, VW)(CAT(vload, VW)(0, v), i, y);
}
