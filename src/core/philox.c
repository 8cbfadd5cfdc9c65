/* Host Philox helpers: bulk normals (for the reference backend and init), bounded integers
 * and the per-epoch shuffle. The generator itself is cl/philox.clh, shared with the kernels. */
#include "core/philox.h"

void clvae_philox_fill_normal(uint64_t seed, uint64_t step, uint32_t stream, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = clvae_philox_normal(seed, step, stream, i);
}

uint32_t clvae_philox_below(uint64_t seed, uint64_t step, uint32_t stream, uint64_t index,
                            uint32_t bound)
{
    clvae_philox4 r = clvae_philox_block(seed, step, stream, (uint32_t)(index >> 2));
    return (uint32_t)(((uint64_t)r.v[index & 3u] * bound) >> 32);
}

void clvae_philox_permutation(uint64_t seed, uint64_t epoch, uint32_t *perm, size_t n)
{
    for (size_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
    for (size_t i = n; i > 1; i--) {
        uint32_t j = clvae_philox_below(seed, epoch, CLVAE_STREAM_SHUFFLE, i - 1, (uint32_t)i);
        uint32_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
}
