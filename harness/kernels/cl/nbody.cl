// Leapfrog n-body with softening. Positions, velocities and accelerations are (n, 3)
// row-major. nbody_accel: one work-item per body i; the bodies j stream through local
// memory WG at a time (each group loads a tile once and every item reuses it), the
// classic GPU tiling of the all-pairs sum. Items past n still load and reach every
// barrier; padded tile slots have mass 0 and contribute nothing.
#ifndef WG
#define WG 128
#endif

__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void nbody_accel(const int n, __global const REAL *x, __global const REAL *m, const REAL eps2,
                 __global REAL *a)
{
    __local REAL tx[WG], ty[WG], tz[WG], tm[WG];
    const int i = get_global_id(0), lid = get_local_id(0);
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
        barrier(CLK_LOCAL_MEM_FENCE);
        const int cnt = min(WG, n - base);
        for (int q = 0; q < cnt; ++q) {
            const REAL dx = tx[q] - xi, dy = ty[q] - yi, dz = tz[q] - zi;
            const REAL s = dx * dx + dy * dy + dz * dz + eps2;
            const REAL w = tm[q] / (s * sqrt(s));
            ax += w * dx;
            ay += w * dy;
            az += w * dz;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (i < n) {
        a[3 * i] = ax;
        a[3 * i + 1] = ay;
        a[3 * i + 2] = az;
    }
}

// v += (h/2) a; x += h v, one work-item per coordinate.
__kernel void kick_drift(const int n3, __global REAL *x, __global REAL *v, __global const REAL *a,
                         const REAL hh, const REAL h)
{
    const int i = get_global_id(0);
    if (i >= n3) return;
    const REAL vi = v[i] + hh * a[i];
    v[i] = vi;
    x[i] += h * vi;
}

// v += (h/2) a, one work-item per coordinate.
__kernel void kick(const int n3, __global REAL *v, __global const REAL *a, const REAL hh)
{
    const int i = get_global_id(0);
    if (i < n3) v[i] += hh * a[i];
}
