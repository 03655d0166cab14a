// out[p] <- M · img[p] for every pixel p of an interleaved RGB image: one work-item
// per pixel, M (3x3, row-major) read once into private registers.
#ifdef REAL_IS_DOUBLE
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif
#ifdef REAL_IS_HALF
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
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
