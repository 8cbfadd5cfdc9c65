/* Cross-device consistency (clvae check): every op on random inputs and a short training run
 * on a device, compared with the reference backend. */
#ifndef CLVAE_TRAIN_CHECK_H
#define CLVAE_TRAIN_CHECK_H

#include <stdio.h>

#include "backend/backend.h"
#include "clvae/config.h"
#include "clvae/data.h"

typedef struct clvae_check_counts {
    int passed, failed, unsupported;
} clvae_check_counts;

/* Runs every op on `dev` and on `ref` with the same random inputs and prints one table row per
 * case (op, device, nmse, tolerance, PASS/FAIL) to `out`. */
int clvae_check_ops(clvae_backend *ref, clvae_backend *dev, const char *label, FILE *out,
                    clvae_check_counts *c);

/* Trains `steps` steps of cfg's model on the first samples of ds on backend `be` and stores
 * the per-step loss (negative ELBO per sample) in losses (steps). */
int clvae_check_trajectory(const clvae_config *cfg, const clvae_dataset *ds, clvae_backend *be,
                           int steps, double *losses);

#endif
