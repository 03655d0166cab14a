// Chroma key on interleaved RGB images. The pixel takes the background where its
// squared distance to the key colour is below t^2.
//
// chroma_key_vec (built with VW > 1, the default): each work-item takes VW consecutive
//   pixels, i.e. 3·VW values = three 64-byte cache lines of fg, of bg and of out, moved
//   with vector loads and stores through private arrays. The distance is computed per
//   pixel exactly as in the scalar kernel, so the mask is the same. The last item takes
//   the tail pixels one by one.
// chroma_key: the original one-work-item-per-pixel kernel, kept for comparison.
#ifndef VW
#define VW 1
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

#if VW > 1
#define VLOAD CAT(vload, VW)
#define VSTORE CAT(vstore, VW)

__kernel void chroma_key_vec(const int pixels, __global const REAL *fg, __global const REAL *bg,
                             __constant REAL *key, const REAL t, __global REAL *out)
{
    const int p0 = get_global_id(0) * VW;
    const REAL k0 = key[0], k1 = key[1], k2 = key[2], t2 = t * t;
    if (p0 + VW <= pixels) {
        const int base = 3 * p0;
        REAL f[3 * VW], b[3 * VW], o[3 * VW];
        VSTORE(VLOAD(0, fg + base), 0, f);
        VSTORE(VLOAD(1, fg + base), 1, f);
        VSTORE(VLOAD(2, fg + base), 2, f);
        VSTORE(VLOAD(0, bg + base), 0, b);
        VSTORE(VLOAD(1, bg + base), 1, b);
        VSTORE(VLOAD(2, bg + base), 2, b);
#pragma unroll
        for (int q = 0; q < VW; ++q) {
            const REAL dr = f[3 * q] - k0, dg = f[3 * q + 1] - k1, db = f[3 * q + 2] - k2;
            const bool keyed = dr * dr + dg * dg + db * db < t2;
            o[3 * q]     = keyed ? b[3 * q] : f[3 * q];
            o[3 * q + 1] = keyed ? b[3 * q + 1] : f[3 * q + 1];
            o[3 * q + 2] = keyed ? b[3 * q + 2] : f[3 * q + 2];
        }
        VSTORE(VLOAD(0, o), 0, out + base);
        VSTORE(VLOAD(1, o), 1, out + base);
        VSTORE(VLOAD(2, o), 2, out + base);
        return;
    }
    for (int p = p0; p < pixels; ++p) {
        const REAL dr = fg[3 * p] - k0, dg = fg[3 * p + 1] - k1, db = fg[3 * p + 2] - k2;
        __global const REAL *src = dr * dr + dg * dg + db * db < t2 ? bg : fg;
        out[3 * p] = src[3 * p];
        out[3 * p + 1] = src[3 * p + 1];
        out[3 * p + 2] = src[3 * p + 2];
    }
}
#endif
