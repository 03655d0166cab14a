// Dot product as a block tree reduction in shared memory, in two launches:
// dot_partial (n -> one partial per block), then sum_partial with one block.
// REAL is set at compile time (-DREAL=float or double); blockDim.x must be a power of
// two (the launcher uses 256); n need not be a multiple of it.
#include "_reductions.cuh"

extern "C" __global__ void dot_partial(const int n, const REAL *x, const REAL *y, REAL *partial)
{
    REAL acc = 0;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
        acc += x[i] * y[i];
    block_sum_to(acc, partial);
}

extern "C" __global__ void sum_partial(const int n, const REAL *x, REAL *partial)
{
    REAL acc = 0;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
        acc += x[i];
    block_sum_to(acc, partial);
}
