"""asv benchmarks of kernel-harness, generated from the harness registry.

time_kernels  time per call (asv samples, harness timing protocol)
accuracy      rel_error, error_ratio and max_ulp of each case (asv track_)
peakmem       peak resident memory of host-memory implementations

See docs/asv.md for the workflow and the presets (HARNESS_ASV_PRESET).
"""
