// One Adam step on f(w) = ½ Σ d (w − c)², one thread per parameter (the step is
// shared/adam.h, as in adam.cl). REAL is a build define.
#include "../shared/adam.h"

extern "C" __global__ void adam_step(const int n, REAL *w, REAL *m, REAL *v, const REAL *c, const REAL *d,
                                     const REAL lr, const REAL b1, const REAL b2, const REAL eps, const REAL bc1, const REAL bc2)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    adam_update(i, w, m, v, c, d, lr, b1, b2, eps, bc1, bc2);
}
