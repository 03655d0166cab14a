// Leapfrog n-body with softening; positions, velocities and accelerations are (n, 3)
// row-major. WG, the tile width (= the work-group size), is defined by the kernel file.
#ifndef HARNESS_SHARED_NBODY_H
#define HARNESS_SHARED_NBODY_H
#include "device.h"

// a[i] = Σ_j m_j (x_j − x_i) / (|x_j − x_i|² + eps2)^{3/2}, for the work-item with
// global index i and local index lid: the bodies j stream through the local tiles
// tx, ty, tz, tm (WG each) a tile at a time, each loaded once by the group and read by
// every item. Every item of the group calls it (items past n too: they load and reach
// every barrier but store nothing); padded tile slots have mass 0 and add nothing.
DEVICE_FN void nbody_accel_at(const int i, const int lid, const int n, GLOBAL_AS const REAL *x,
                              GLOBAL_AS const REAL *m, const REAL eps2, GLOBAL_AS REAL *a,
                              LOCAL_AS REAL *tx, LOCAL_AS REAL *ty, LOCAL_AS REAL *tz,
                              LOCAL_AS REAL *tm)
{
    const int ii = i < n ? i : 0;
    const REAL xi = x[3 * ii], yi = x[3 * ii + 1], zi = x[3 * ii + 2];
    REAL ax = 0, ay = 0, az = 0;
    for (int base = 0; base < n; base += WG) {
        const int j = base + lid;
        const bool in = j < n;
        tx[lid] = in ? x[3 * j] : (REAL)0;
        ty[lid] = in ? x[3 * j + 1] : (REAL)0;
        tz[lid] = in ? x[3 * j + 2] : (REAL)0;
        tm[lid] = in ? m[j] : (REAL)0;
        LOCAL_BARRIER();
        const int cnt = min(WG, n - base);
        for (int q = 0; q < cnt; ++q) {
            const REAL dx = tx[q] - xi, dy = ty[q] - yi, dz = tz[q] - zi;
            const REAL s = dx * dx + dy * dy + dz * dz + eps2;
            const REAL w = tm[q] / (s * sqrt(s));
            ax += w * dx;
            ay += w * dy;
            az += w * dz;
        }
        LOCAL_BARRIER();
    }
    if (i < n) {
        a[3 * i] = ax;
        a[3 * i + 1] = ay;
        a[3 * i + 2] = az;
    }
}

// Coordinate i (of n3): v += hh a, then x += h v (hh = h/2).
DEVICE_FN void kick_drift_at(const int i, GLOBAL_AS REAL *x, GLOBAL_AS REAL *v,
                             GLOBAL_AS const REAL *a, const REAL hh, const REAL h)
{
    const REAL vi = v[i] + hh * a[i];
    v[i] = vi;
    x[i] += h * vi;
}
#endif
