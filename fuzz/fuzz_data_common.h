/* Shared by the data harnesses (IDX, NPY, labels): load a file with clvae_dataset_load and check
 * what a loaded data set promises, or that the failure is a clear CLVAE_ERR_DATA. */
#ifndef CLVAE_FUZZ_DATA_COMMON_H
#define CLVAE_FUZZ_DATA_COMMON_H

#include "clvae/config.h"

/* Loads images `path` (+ `labels`, may be NULL) with `format` and `limit`; on success checks the
 * shape fields, the value range and the labels, and gathers the first and the last sample (so
 * ASan sees a buffer shorter than n * dim); on failure checks the status and message. */
void fuzz_load_dataset(const char *path, const char *labels, clvae_data_format format,
                       long limit);

#endif
