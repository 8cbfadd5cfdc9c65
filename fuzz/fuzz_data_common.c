/* Loading and checking a data set for the data harnesses. */
#include "fuzz_data_common.h"

#include <stdlib.h>
#include <string.h>

#include "clvae/data.h"
#include "clvae/status.h"
#include "fuzz_util.h"

static void check_loaded(const clvae_dataset *ds, int with_labels, long limit)
{
    fuzz_check(ds->n > 0 && ds->dim > 0, "loaded data set is empty");
    fuzz_check(limit <= 0 || ds->n <= (size_t)limit, "limit not applied");
    fuzz_check((ds->u8 != NULL) != (ds->f32 != NULL), "exactly one of u8 / f32 must be set");
    fuzz_check(ds->rows > 0 && ds->cols > 0 && ds->channels >= 1 && ds->channels <= 4 &&
                   (size_t)ds->channels * ds->rows * ds->cols == ds->dim,
               "channels * rows * cols != dim");
    fuzz_check(!with_labels || ds->labels != NULL, "labels asked for but not loaded");
    if (ds->labels) {
        int max = 0;
        for (size_t i = 0; i < ds->n; i++)
            if (ds->labels[i] > max) max = ds->labels[i];
        fuzz_check(ds->n_classes == max + 1, "n_classes != max label + 1");
    }
    if (ds->dim > (1u << 22)) return; /* gathering a huge row proves nothing more */
    float *row = malloc(2 * ds->dim * sizeof *row); // (2, dim)
    fuzz_check(row != NULL, "out of memory");
    uint32_t idx[2] = {0, (uint32_t)(ds->n - 1)};
    clvae_dataset_gather(ds, idx, ds->n - 1 <= UINT32_MAX ? 2 : 1, row);
    for (size_t j = 0; j < 2 * ds->dim && ds->n - 1 <= UINT32_MAX; j++)
        fuzz_check(row[j] >= 0.0f && row[j] <= 1.0f, "gathered value outside [0, 1]");
    free(row);
}

void fuzz_load_dataset(const char *path, const char *labels, clvae_data_format format,
                       long limit)
{
    clvae_dataset ds;
    int st = clvae_dataset_load(&ds, path, labels, format, limit);
    if (st) {
        /* the message names whichever file is wrong */
        int names_one = strstr(clvae_last_error(), path) ||
                        (labels && strstr(clvae_last_error(), labels));
        fuzz_check(st == CLVAE_ERR_DATA,
                   "load failed with a status other than CLVAE_ERR_DATA (out of memory: a "
                   "header size was believed)");
        fuzz_check(names_one, "the data error message names no file");
        fuzz_check(ds.u8 == NULL && ds.f32 == NULL && ds.labels == NULL,
                   "a failed load left buffers behind");
        return;
    }
    check_loaded(&ds, labels != NULL, limit);
    clvae_dataset_free(&ds);
}
