// out[p] <- M · img[p] for every pixel p of an interleaved RGB image, M (3x3,
// row-major) read once into private registers.
//
// colorblind_vec (built with VW > 1, the default): each work-item takes VW consecutive
//   pixels, i.e. 3·VW values = three 64-byte cache lines, loaded with three vector loads
//   into a private array and stored with three vector stores. The unrolled per-pixel
//   arithmetic between them is the same as the scalar kernel's, so the rounding is too.
//   The last item takes the tail pixels one by one.
// colorblind: the original one-work-item-per-pixel kernel, kept for comparison.
#ifndef VW
#define VW 1
#endif

__kernel void colorblind(const int pixels, __global const REAL *img, __constant REAL *M,
                         __global REAL *out)
{
    const int p = get_global_id(0);
    if (p >= pixels) return;
    const REAL r = img[3 * p], g = img[3 * p + 1], b = img[3 * p + 2];
    out[3 * p]     = M[0] * r + M[1] * g + M[2] * b;
    out[3 * p + 1] = M[3] * r + M[4] * g + M[5] * b;
    out[3 * p + 2] = M[6] * r + M[7] * g + M[8] * b;
}

#if VW > 1
#define VLOAD CAT(vload, VW)
#define VSTORE CAT(vstore, VW)

__kernel void colorblind_vec(const int pixels, __global const REAL *img, __constant REAL *M,
                             __global REAL *out)
{
    const int p0 = get_global_id(0) * VW;
    const REAL m0 = M[0], m1 = M[1], m2 = M[2], m3 = M[3], m4 = M[4], m5 = M[5],
               m6 = M[6], m7 = M[7], m8 = M[8];
    if (p0 + VW <= pixels) {
        __global const REAL *src = img + 3 * p0;
        __global REAL *dst = out + 3 * p0;
        REAL v[3 * VW], o[3 * VW];
        VSTORE(VLOAD(0, src), 0, v);
        VSTORE(VLOAD(1, src), 1, v);
        VSTORE(VLOAD(2, src), 2, v);
#pragma unroll
        for (int q = 0; q < VW; ++q) {
            const REAL r = v[3 * q], g = v[3 * q + 1], b = v[3 * q + 2];
            o[3 * q]     = m0 * r + m1 * g + m2 * b;
            o[3 * q + 1] = m3 * r + m4 * g + m5 * b;
            o[3 * q + 2] = m6 * r + m7 * g + m8 * b;
        }
        VSTORE(VLOAD(0, o), 0, dst);
        VSTORE(VLOAD(1, o), 1, dst);
        VSTORE(VLOAD(2, o), 2, dst);
        return;
    }
    for (int p = p0; p < pixels; ++p) {
        const REAL r = img[3 * p], g = img[3 * p + 1], b = img[3 * p + 2];
        out[3 * p]     = m0 * r + m1 * g + m2 * b;
        out[3 * p + 1] = m3 * r + m4 * g + m5 * b;
        out[3 * p + 2] = m6 * r + m7 * g + m8 * b;
    }
}
#endif
