// Device code shared by the OpenCL C (cl/) and CUDA C (cuda/) kernels: the files of
// harness/kernels/shared/ are written in the common subset of the two languages (scalar
// REAL arithmetic and math built-ins, no vector types, no C++), with these macros where
// the two differ. A kernel file includes them as "../shared/x.h"; both backends splice
// the text in (harness/backends/kernel_source.py), and REAL is a build define.
//   DEVICE_FN        a function called from kernels
//   GLOBAL_AS        the address space of a pointer into global (device) memory
//   LOCAL_AS         ... into work-group local memory (CUDA: shared memory)
//   LOCAL_BARRIER()  the barrier of a work-group (CUDA: of a block) on local memory
#ifndef HARNESS_SHARED_DEVICE_H
#define HARNESS_SHARED_DEVICE_H
#if defined(__OPENCL_VERSION__)
#define DEVICE_FN inline
#define GLOBAL_AS __global
#define LOCAL_AS __local
#define LOCAL_BARRIER() barrier(CLK_LOCAL_MEM_FENCE)
#elif defined(__CUDACC__)
#define DEVICE_FN __device__ __forceinline__
#define GLOBAL_AS
#define LOCAL_AS
#define LOCAL_BARRIER() __syncthreads()
#else
#error "harness/kernels/shared/ is compiled as OpenCL C or CUDA C only"
#endif
#endif
