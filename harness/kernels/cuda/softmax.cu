// Row-wise softmax, max-subtracted, one block per row; blockDim.x must be a power of
// two (the launcher uses 256). REAL is set at compile time (-DREAL=float or double).
#include "_reductions.cuh"

extern "C" __global__ void softmax_rows(const int cols, const REAL *x, REAL *out)
{
    REAL *scratch = dynamic_scratch();
    const int tid = threadIdx.x;
    const REAL *xr = x + (long long)blockIdx.x * cols;
    REAL *yr = out + (long long)blockIdx.x * cols;

    REAL m = xr[0];  // cols >= 1; avoids INFINITY, which NVRTC does not define without headers
    for (int j = tid; j < cols; j += blockDim.x)
        m = fmax(m, xr[j]);
    scratch[tid] = m;
    block_max(scratch, blockDim.x, tid);
    m = scratch[0];
    __syncthreads();

    REAL sum = 0;
    for (int j = tid; j < cols; j += blockDim.x) {
        const REAL e = exp(xr[j] - m);
        yr[j] = e;
        sum += e;
    }
    scratch[tid] = sum;
    block_sum_rows(scratch, 1, blockDim.x, tid);
    sum = scratch[0];
    for (int j = tid; j < cols; j += blockDim.x)
        yr[j] = yr[j] / sum;
}
