/* Fixed (once per run) binarization of a dataset in place; see binarize.h. The dynamic kind
 * runs on the device each step (the backend's binarize op, same generator). */
#include "data/binarize.h"

#include "core/philox.h"

void clvae_dataset_binarize(clvae_dataset *ds, uint64_t seed, bool test)
{
    uint32_t stream = test ? CLVAE_STREAM_BINARIZE_TEST : CLVAE_STREAM_BINARIZE_FIXED;
    for (size_t i = 0; i < ds->n; i++)
        for (size_t j = 0; j < ds->dim; j++) {
            float u = clvae_philox_uniform(seed, i, stream, j);
            size_t k = i * ds->dim + j;
            /* (float)v / 255.0f exactly as the gather does, so both agree on the threshold */
            if (ds->u8) ds->u8[k] = u < (float)ds->u8[k] / 255.0f ? 255 : 0;
            else ds->f32[k] = u < ds->f32[k] ? 1.0f : 0.0f;
        }
}
