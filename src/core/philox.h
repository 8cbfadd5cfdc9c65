/* Host side of the Philox4x32-10 generator: the shared definitions live in cl/philox.clh. */
#ifndef CLVAE_CORE_PHILOX_H
#define CLVAE_CORE_PHILOX_H

#include <stddef.h>
#include <stdint.h>

#include "philox.clh"

/* Fills out[0..n) with normals of (seed, step, stream), elements first..first+n. */
void clvae_philox_fill_normal(uint64_t seed, uint64_t step, uint32_t stream, float *out, size_t n);

/* Uniform integer in [0, bound) from the 32-bit draw `index` of (seed, step, stream)
 * (Lemire's multiply-shift; bias < bound / 2^32, documented and accepted). */
uint32_t clvae_philox_below(uint64_t seed, uint64_t step, uint32_t stream, uint64_t index,
                            uint32_t bound);

/* Fisher-Yates permutation of 0..n-1 for the epoch: perm is (n). Same on every device. */
void clvae_philox_permutation(uint64_t seed, uint64_t epoch, uint32_t *perm, size_t n);

#endif
