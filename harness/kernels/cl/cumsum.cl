// Inclusive prefix sum as a three-phase parallel scan:
//   scan_blocks: each work-group scans one tile of L*K elements in local memory
//     (each work-item scans K consecutive elements serially, then a Hillis-Steele
//     scan over the L chunk totals (tree_scan of _reductions.cl), then adds its
//     exclusive prefix), and writes the tile total to block_sums;
//   the host scans block_sums recursively with the same kernel;
//   add_back: every element of tile g > 0 adds the scanned total of tiles 0..g-1.
// Loads and stores are coalesced (stride L across the tile); n need not be a
// multiple of anything.
#include "_reductions.cl"

__kernel void scan_blocks(const int n, const int K, __global const REAL *x, __global REAL *out,
                          __global REAL *block_sums, __local REAL *tile, __local REAL *sums)
{
    const int lid = get_local_id(0);
    const int L = get_local_size(0);
    const long base = (long)get_group_id(0) * L * K;

    for (int j = 0; j < K; ++j) {
        const long idx = base + (long)j * L + lid;
        tile[j * L + lid] = idx < n ? x[idx] : (REAL)0;
    }
    barrier(CLK_LOCAL_MEM_FENCE);

    const int c = lid * K;
    REAL run = 0;
    for (int j = 0; j < K; ++j) {
        run += tile[c + j];
        tile[c + j] = run;
    }
    sums[lid] = run;
    barrier(CLK_LOCAL_MEM_FENCE);
    tree_scan(sums);

    if (lid > 0) {
        const REAL excl = sums[lid - 1];
        for (int j = 0; j < K; ++j)
            tile[c + j] += excl;
    }
    barrier(CLK_LOCAL_MEM_FENCE);

    for (int j = 0; j < K; ++j) {
        const long idx = base + (long)j * L + lid;
        if (idx < n) out[idx] = tile[j * L + lid];
    }
    if (lid == L - 1) block_sums[get_group_id(0)] = sums[L - 1];
}

__kernel void add_back(const int n, const int tile_size, __global REAL *out,
                       __global const REAL *scanned_sums)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const int g = i / tile_size;
    if (g > 0) out[i] += scanned_sums[g - 1];
}
