// Block tree reductions in shared memory for the CUDA kernels (dot, softmax,
// quadratic_fit, mlp_xor): `#include "_reductions.cuh"`, spliced in by
// CupyDevice.compile. The block width must be a power of two; every thread of the block
// must call them, since they contain barriers (the first one makes the values each
// thread just stored visible). REAL is a build define.
#ifndef HARNESS_CUDA_REDUCTIONS_CUH
#define HARNESS_CUDA_REDUCTIONS_CUH

// s[r * width] = the sum of row r, s[r * width .. (r + 1) * width), for each r < rows;
// thread lid holds element lid of every row.
__device__ __forceinline__ void block_sum_rows(REAL *s, const int rows, const int width, const int lid)
{
    __syncthreads();
    for (int h = width / 2; h > 0; h >>= 1) {
        if (lid < h)
            for (int r = 0; r < rows; ++r) s[r * width + lid] += s[r * width + lid + h];
        __syncthreads();
    }
}

// s[0] = the maximum of s[0..width); thread lid holds s[lid].
__device__ __forceinline__ void block_max(REAL *s, const int width, const int lid)
{
    __syncthreads();
    for (int h = width / 2; h > 0; h >>= 1) {
        if (lid < h) s[lid] = fmax(s[lid], s[lid + h]);
        __syncthreads();
    }
}

// The dynamic shared memory of the launch, as REALs (the launcher sizes it).
extern __shared__ unsigned char smem[];
__device__ __forceinline__ REAL *dynamic_scratch()
{
    return reinterpret_cast<REAL *>(smem);
}

// partial[blockIdx.x] = the sum over the block of each thread's `value`, through
// blockDim.x REALs of dynamic shared memory.
__device__ __forceinline__ void block_sum_to(const REAL value, REAL *partial)
{
    REAL *scratch = dynamic_scratch();
    scratch[threadIdx.x] = value;
    block_sum_rows(scratch, 1, blockDim.x, threadIdx.x);
    if (threadIdx.x == 0) partial[blockIdx.x] = scratch[0];
}
#endif
