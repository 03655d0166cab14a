"""The built-in kernel suite. Importing this package declares every kernel and its
implementations with the registry; kernel modules import only NumPy at module level
(backend libraries are reached through the device handle)."""
from . import saxpy, sum, matmul, mandelbrot  # noqa: F401
