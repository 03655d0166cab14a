// Row-wise softmax, max-subtracted, one block per row; blockDim.x must be a power of
// two (the launcher uses 256). REAL is set at compile time (-DREAL=float or double).
extern "C" __global__ void softmax_rows(const int cols, const REAL *x, REAL *out)
{
    extern __shared__ unsigned char smem[];
    REAL *scratch = reinterpret_cast<REAL *>(smem);
    const int tid = threadIdx.x;
    const REAL *xr = x + (long long)blockIdx.x * cols;
    REAL *yr = out + (long long)blockIdx.x * cols;

    REAL m = xr[0];  // cols >= 1; avoids INFINITY, which NVRTC does not define without headers
    for (int j = tid; j < cols; j += blockDim.x)
        m = fmax(m, xr[j]);
    scratch[tid] = m;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (tid < s) scratch[tid] = fmax(scratch[tid], scratch[tid + s]);
        __syncthreads();
    }
    m = scratch[0];
    __syncthreads();

    REAL sum = 0;
    for (int j = tid; j < cols; j += blockDim.x) {
        const REAL e = exp(xr[j] - m);
        yr[j] = e;
        sum += e;
    }
    scratch[tid] = sum;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (tid < s) scratch[tid] += scratch[tid + s];
        __syncthreads();
    }
    sum = scratch[0];
    for (int j = tid; j < cols; j += blockDim.x)
        yr[j] = yr[j] / sum;
}
