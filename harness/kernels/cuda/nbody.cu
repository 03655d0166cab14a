// Leapfrog n-body with softening; (n, 3) row-major arrays. nbody_accel: one thread per
// body, bodies streamed through shared memory WG at a time. REAL and WG are build
// defines; the sum and the kick-drift are shared/nbody.h, as in nbody.cl.
#ifndef WG
#define WG 256
#endif
#include "../shared/nbody.h"

extern "C" __global__ void nbody_accel(const int n, const REAL *x, const REAL *m, const REAL eps2, REAL *a)
{
    __shared__ REAL tx[WG], ty[WG], tz[WG], tm[WG];
    nbody_accel_at(blockIdx.x * blockDim.x + threadIdx.x, threadIdx.x, n, x, m, eps2, a, tx, ty, tz, tm);
}

extern "C" __global__ void kick_drift(const int n3, REAL *x, REAL *v, const REAL *a, const REAL hh, const REAL h)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n3) kick_drift_at(i, x, v, a, hh, h);
}

extern "C" __global__ void kick(const int n3, REAL *v, const REAL *a, const REAL hh)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n3) v[i] += hh * a[i];
}
