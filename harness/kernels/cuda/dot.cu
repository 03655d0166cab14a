// Dot product as a block tree reduction in shared memory, in two launches:
// dot_partial (n -> one partial per block), then sum_partial with one block.
// REAL is set at compile time (-DREAL=float or double); blockDim.x must be a power of
// two (the launcher uses 256); n need not be a multiple of it.
extern "C" __global__ void dot_partial(const int n, const REAL *x, const REAL *y, REAL *partial)
{
    extern __shared__ unsigned char smem[];
    REAL *scratch = reinterpret_cast<REAL *>(smem);
    REAL acc = 0;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
        acc += x[i] * y[i];
    scratch[threadIdx.x] = acc;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) scratch[threadIdx.x] += scratch[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = scratch[0];
}

extern "C" __global__ void sum_partial(const int n, const REAL *x, REAL *partial)
{
    extern __shared__ unsigned char smem[];
    REAL *scratch = reinterpret_cast<REAL *>(smem);
    REAL acc = 0;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
        acc += x[i];
    scratch[threadIdx.x] = acc;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) scratch[threadIdx.x] += scratch[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = scratch[0];
}
