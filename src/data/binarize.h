/* Fixed binarization of a whole dataset: each value v in [0, 1] becomes 1 with probability v,
 * drawn once from Philox, the same on every machine. */
#ifndef CLVAE_DATA_BINARIZE_H
#define CLVAE_DATA_BINARIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "clvae/data.h"

/* Row i, element j: 1 when clvae_philox_uniform(seed, i, stream, j) < value (u8 data: value / 255,
 * stored back as 0 or 255). test: stream CLVAE_STREAM_BINARIZE_TEST (evaluation sets), else
 * CLVAE_STREAM_BINARIZE_FIXED (a training set under data.binarize = fixed). */
void clvae_dataset_binarize(clvae_dataset *ds, uint64_t seed, bool test);

#endif
