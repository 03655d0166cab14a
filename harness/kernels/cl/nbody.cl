// Leapfrog n-body with softening. Positions, velocities and accelerations are (n, 3)
// row-major. nbody_accel: one work-item per body i; the bodies j stream through local
// memory WG at a time (each group loads a tile once and every item reuses it), the
// classic GPU tiling of the all-pairs sum. The sum and the kick-drift are shared with
// the CUDA kernels (shared/nbody.h).
#ifndef WG
#define WG 128
#endif
#include "../shared/nbody.h"

__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void nbody_accel(const int n, __global const REAL *x, __global const REAL *m, const REAL eps2,
                 __global REAL *a)
{
    __local REAL tx[WG], ty[WG], tz[WG], tm[WG];
    nbody_accel_at(get_global_id(0), get_local_id(0), n, x, m, eps2, a, tx, ty, tz, tm);
}

// v += (h/2) a; x += h v, one work-item per coordinate.
__kernel void kick_drift(const int n3, __global REAL *x, __global REAL *v, __global const REAL *a,
                         const REAL hh, const REAL h)
{
    const int i = get_global_id(0);
    if (i < n3) kick_drift_at(i, x, v, a, hh, h);
}

// v += (h/2) a, one work-item per coordinate.
__kernel void kick(const int n3, __global REAL *v, __global const REAL *a, const REAL hh)
{
    const int i = get_global_id(0);
    if (i < n3) v[i] += hh * a[i];
}
