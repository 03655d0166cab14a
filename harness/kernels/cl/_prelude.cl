// Prepended by OpenCLDevice.compile to every program: what each kernel would
// otherwise repeat. The backend sets REAL (and REAL_IS_DOUBLE / REAL_IS_HALF) from
// the case dtype, so it also enables the matching extension here.
#ifdef REAL_IS_DOUBLE
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif
#ifdef REAL_IS_HALF
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
#endif
// Token pasting for vector widths: CAT(vload, VW) -> vload8.
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
