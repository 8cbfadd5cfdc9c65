/* The validation split: rows held out of the training set (data.valid), their loss per epoch
 * and the best checkpoint (checkpoint.best.safetensors at the lowest validation loss). */
#ifndef CLVAE_TRAIN_VALID_H
#define CLVAE_TRAIN_VALID_H

#include <stdbool.h>

#include "clvae/config.h"
#include "clvae/data.h"
#include "model/vae.h"

#define CLVAE_BEST_CHECKPOINT "checkpoint.best.safetensors"

typedef struct clvae_valid {
    clvae_dataset ds;     /* the held-out rows (n = 0: no validation split) */
    double best;          /* lowest validation loss so far (INFINITY before the first) */
    double last;          /* the latest epoch's validation loss */
} clvae_valid;

/* Moves data.valid rows (a count, or a fraction < 1 of the training rows) from `train` into
 * v->ds: the first rows of the Philox permutation of the seed's validation stream, kept in file
 * order; the training rows stay in file order, compacted in place (no second copy of the set).
 * A count that is not a whole number, or that leaves no training row, is CLVAE_ERR_CONFIG. */
int clvae_valid_split(const clvae_config *c, clvae_dataset *train, clvae_valid *v);

/* After an epoch: evaluates the held-out rows into v->last. *improved says whether it is the
 * lowest so far (the caller then writes the best checkpoint). No-op without a split. */
int clvae_valid_epoch(clvae_valid *v, clvae_model *m, bool *improved);

/* On resume: the lowest valid_loss in dir/metrics.jsonl (already trimmed to the checkpoint). */
void clvae_valid_resume(clvae_valid *v, const char *dir);

void clvae_valid_free(clvae_valid *v);

#endif
