// out[p] <- M · img[p] for every pixel p of an interleaved RGB image, one thread per
// pixel. REAL is set at compile time (-DREAL=float or double).
extern "C" __global__ void colorblind(const int pixels, const REAL *img, const REAL *M, REAL *out)
{
    const int p = blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= pixels) return;
    const REAL r = img[3 * p], g = img[3 * p + 1], b = img[3 * p + 2];
    out[3 * p]     = M[0] * r + M[1] * g + M[2] * b;
    out[3 * p + 1] = M[3] * r + M[4] * g + M[5] * b;
    out[3 * p + 2] = M[6] * r + M[7] * g + M[8] * b;
}
