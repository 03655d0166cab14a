// One Adam step on f(w) = ½ Σ d (w − c)², one work-item per parameter; the step itself
// is shared with the CUDA kernel (shared/adam.h).
#include "../shared/adam.h"

__kernel void adam_step(const int n, __global REAL *w, __global REAL *m, __global REAL *v,
                        __global const REAL *c, __global const REAL *d, const REAL lr,
                        const REAL b1, const REAL b2, const REAL eps, const REAL bc1, const REAL bc2)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    adam_update(i, w, m, v, c, d, lr, b1, b2, eps, bc1, bc2);
}
