// STREAM copy and triad for `harness machine`: REALV is REAL widened to a cache line
// per work-item; launched on whole work-groups only, so there is no bounds test.
#define REALV CAT(REAL, VW)

__kernel void stream_copy(__global const REALV *a, __global REALV *b)
{ const size_t i = get_global_id(0); b[i] = a[i]; }

__kernel void stream_triad(const REAL s, __global REALV *a, __global const REALV *b,
                           __global const REALV *c)
{ const size_t i = get_global_id(0); a[i] = b[i] + s * c[i]; }
