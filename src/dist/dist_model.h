/* The model's arenas across ranks (see dist_model.c); no-ops for one rank. stage holds
 * n_floats + 1 floats. */
#ifndef CLVAE_DIST_DIST_MODEL_H
#define CLVAE_DIST_DIST_MODEL_H

#include "dist/dist.h"
#include "model/vae.h"

/* Rank 0's parameters, optimizer moments and step to every rank. */
int clvae_dist_bcast_model(clvae_model *m, float *stage);
/* Sums the gradient arena over the ranks in place (host staging); *flag is summed with it. */
int clvae_dist_sum_grads(clvae_model *m, float *stage, float *flag);
/* Checks that every rank holds the same parameter bits (a hash of the arena); a difference is
 * CLVAE_ERR_INTERNAL on every rank. */
int clvae_dist_check_params(clvae_model *m, float *stage);
/* Sums loss accumulators read back on each rank. */
int clvae_dist_sum_losses(clvae_losses *l);

#endif
