// 3×3 convolution, NCHW, stride 1, zero padding 1 (gather form). One work-item per
// output pixel; a TS×TS work-group handles one tile of one (image, output channel) and,
// for each input channel, stages the (TS+2)² input patch in local memory and the 3×3
// filter slice in private registers: each input value is then read from global memory
// about once per group instead of nine times. Items past the image edge still help
// load the tile and reach every barrier, and write nothing.
#ifndef TS
#define TS 16
#endif

__kernel void conv2d_3x3(const int s, const int cin, const int cout,
                         __global const REAL *X, __global const REAL *W, __global REAL *out)
{
    __local REAL tile[TS + 2][TS + 2];
    const int lx = get_local_id(0), ly = get_local_id(1);
    const int x0 = get_group_id(0) * TS - 1, y0 = get_group_id(1) * TS - 1;
    const int no = get_global_id(2), n = no / cout, o = no % cout;
    const int x = x0 + 1 + lx, y = y0 + 1 + ly;
    REAL acc = 0;
    for (int c = 0; c < cin; ++c) {
        __global const REAL *plane = X + ((size_t)n * cin + c) * s * s;
        for (int idx = ly * TS + lx; idx < (TS + 2) * (TS + 2); idx += TS * TS) {
            const int ty = idx / (TS + 2), tx = idx % (TS + 2);
            const int gy = y0 + ty, gx = x0 + tx;
            tile[ty][tx] = (gy >= 0 && gy < s && gx >= 0 && gx < s) ? plane[gy * s + gx] : (REAL)0;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        __global const REAL *w = W + ((size_t)o * cin + c) * 9;
        for (int ky = 0; ky < 3; ++ky)
            for (int kx = 0; kx < 3; ++kx)
                acc += w[ky * 3 + kx] * tile[ly + ky][lx + kx];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (x < s && y < s)
        out[(((size_t)n * cout + o) * s + y) * s + x] = acc;
}
