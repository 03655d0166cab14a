// Leapfrog n-body with softening; (n, 3) row-major arrays. nbody_accel: one thread per
// body, bodies streamed through shared memory WG at a time. REAL and WG are build defines.
#ifndef WG
#define WG 256
#endif

extern "C" __global__ void nbody_accel(const int n, const REAL *x, const REAL *m, const REAL eps2, REAL *a)
{
    __shared__ REAL tx[WG], ty[WG], tz[WG], tm[WG];
    const int i = blockIdx.x * blockDim.x + threadIdx.x, lid = threadIdx.x;
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
        __syncthreads();
        const int cnt = min(WG, n - base);
        for (int q = 0; q < cnt; ++q) {
            const REAL dx = tx[q] - xi, dy = ty[q] - yi, dz = tz[q] - zi;
            const REAL s = dx * dx + dy * dy + dz * dz + eps2;
            const REAL w = tm[q] / (s * sqrt(s));
            ax += w * dx;
            ay += w * dy;
            az += w * dz;
        }
        __syncthreads();
    }
    if (i < n) {
        a[3 * i] = ax;
        a[3 * i + 1] = ay;
        a[3 * i + 2] = az;
    }
}

extern "C" __global__ void kick_drift(const int n3, REAL *x, REAL *v, const REAL *a, const REAL hh, const REAL h)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n3) return;
    const REAL vi = v[i] + hh * a[i];
    v[i] = vi;
    x[i] += h * vi;
}

extern "C" __global__ void kick(const int n3, REAL *v, const REAL *a, const REAL hh)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n3) v[i] += hh * a[i];
}
