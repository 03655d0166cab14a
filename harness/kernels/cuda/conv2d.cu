// 3×3 convolution, NCHW, stride 1, zero padding 1 (gather form). One thread per output
// pixel; a 16×16 block handles one tile of one (image, output channel) and stages the
// 18×18 input patch of each input channel in shared memory. REAL is a build define.
#define TS 16

extern "C" __global__ void conv2d_3x3(const int s, const int cin, const int cout,
                                      const REAL *X, const REAL *W, REAL *out)
{
    __shared__ REAL tile[TS + 2][TS + 2];
    const int lx = threadIdx.x, ly = threadIdx.y;
    const int x0 = blockIdx.x * TS - 1, y0 = blockIdx.y * TS - 1;
    const int no = blockIdx.z, n = no / cout, o = no % cout;
    const int x = x0 + 1 + lx, y = y0 + 1 + ly;
    REAL acc = 0;
    for (int c = 0; c < cin; ++c) {
        const REAL *plane = X + ((size_t)n * cin + c) * s * s;
        for (int idx = ly * TS + lx; idx < (TS + 2) * (TS + 2); idx += TS * TS) {
            const int ty = idx / (TS + 2), tx = idx % (TS + 2);
            const int gy = y0 + ty, gx = x0 + tx;
            tile[ty][tx] = (gy >= 0 && gy < s && gx >= 0 && gx < s) ? plane[gy * s + gx] : (REAL)0;
        }
        __syncthreads();
        const REAL *w = W + ((size_t)o * cin + c) * 9;
        for (int ky = 0; ky < 3; ++ky)
            for (int kx = 0; kx < 3; ++kx)
                acc += w[ky * 3 + kx] * tile[ly + ky][lx + kx];
        __syncthreads();
    }
    if (x < s && y < s)
        out[(((size_t)n * cout + o) * s + y) * s + x] = acc;
}
