// Chroma key: one work-item per pixel of interleaved RGB images. The pixel takes the
// background where its squared distance to the key colour is below t^2.
#ifdef REAL_IS_DOUBLE
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif
#ifdef REAL_IS_HALF
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
#endif

__kernel void chroma_key(const int pixels, __global const REAL *fg, __global const REAL *bg,
                         __constant REAL *key, const REAL t, __global REAL *out)
{
    const int p = get_global_id(0);
    if (p >= pixels) return;
    const REAL dr = fg[3 * p] - key[0], dg = fg[3 * p + 1] - key[1], db = fg[3 * p + 2] - key[2];
    const REAL d2 = dr * dr + dg * dg + db * db;
    __global const REAL *src = d2 < t * t ? bg : fg;
    out[3 * p] = src[3 * p];
    out[3 * p + 1] = src[3 * p + 1];
    out[3 * p + 2] = src[3 * p + 2];
}
