/* Test-set evaluation: negative ELBO (one ε sample, or z = μ) and the IWAE log-likelihood. */
#ifndef CLVAE_TRAIN_EVAL_H
#define CLVAE_TRAIN_EVAL_H

#include <stdbool.h>

#include "clvae/data.h"
#include "model/vae.h"

typedef struct clvae_eval_result {
    double loss, recon, kl;   /* per sample, nats; loss = recon + kl (beta = 1) */
    long n;
} clvae_eval_result;

/* Uploads samples [first, first+count) of ds into m->x (host staging in `stage`, (count, D)). */
int clvae_upload_range(clvae_model *m, const clvae_dataset *ds, size_t first, int count,
                       float *stage);

/* Negative ELBO over the whole dataset in chunks of m->max_batch. */
int clvae_eval_elbo(clvae_model *m, const clvae_dataset *ds, bool deterministic,
                    clvae_eval_result *r);

/* IWAE estimate of the mean test log-likelihood with k samples per input:
 * log (1/k) sum_k p(x|z_k) p(z_k) / q(z_k|x). Needs k <= m->max_batch * m->samples. */
int clvae_eval_iwae(clvae_model *m, const clvae_dataset *ds, int k, double *loglik);

#endif
