/* Test-set evaluation of any model of the chain: the negative ELBO (one sample, or z = mu) with
 * each layer's KL, and the importance-weighted estimate of log p(x) with K samples, in chunks
 * of samples so that memory stays bounded for any K, with each layer's active units. */
#ifndef CLVAE_TRAIN_EVAL_H
#define CLVAE_TRAIN_EVAL_H

#include <stdbool.h>

#include "clvae/data.h"
#include "model/vae.h"

typedef struct clvae_eval_result {
    double loss, recon, kl;   /* per sample, nats; loss = recon + kl (beta = 1) */
    double kl_layer[CLVAE_MAX_STOCH];   /* the top: analytic KL; below: E[log q - log p] */
    int layers;
    long n;
    /* a categorical top layer: test_loss is the relaxed figure at the eval temperature `tau`
     * (not a bound); loss_onehot = recon_onehot + kl is the ELBO of the discrete model, the
     * decoder fed exact one-hot samples of the same Gumbel draws (argmax of logits + g) */
    bool categorical;
    double loss_onehot, recon_onehot, tau;
} clvae_eval_result;

typedef struct clvae_iwae_result {
    double loglik;                      /* mean over the set of log (1/K sum_k w_k) */
    int active[CLVAE_MAX_STOCH];        /* units with Cov_x(E_q[z_j]) > 0.01, per layer */
    int layers;
    long n;
} clvae_iwae_result;

/* Uploads samples [first, first+count) of ds into m->x (host staging in `stage`, (count, D)). */
int clvae_upload_range(clvae_model *m, const clvae_dataset *ds, size_t first, int count,
                       float *stage);

/* Negative ELBO over the whole dataset in chunks of m->max_batch (and, for a categorical top
 * layer unless deterministic, the one-hot ELBO too). */
int clvae_eval_elbo(clvae_model *m, const clvae_dataset *ds, bool deterministic,
                    clvae_eval_result *r);

/* log p(x) >= log (1/k) sum_k p(x, z_k) / q(z_k|x) with the joint weight over all layers,
 * averaged over ds: m->max_batch inputs at a time with m->samples samples per pass, as many
 * passes per input as k needs (any k). E_q[z] of layer l for the active units is the mean of
 * q's mean over the k samples of the layers below (exact for layer 0). A categorical layer is
 * sampled one-hot (Gumbel-max, exact categorical densities, uniform prior; Jang et al. 2016)
 * and its "units" are its G*K probabilities, E_q[z] = softmax(logits) per group. */
int clvae_eval_iwae(clvae_model *m, const clvae_dataset *ds, int k, clvae_iwae_result *r);

/* The pass clvae_eval_iwae runs for k samples per input, for a model laid out but not yet
 * initialized: *batch inputs x *samples samples, at most 4096 samples and 16384 rows (large
 * GEMMs, bounded memory for any k), shrunk until the activations fit in 256 MB (a conv net's maps
 * and im2col columns take far more per row than a dense net's, whose pass is left as it is).
 * `clvae eval --iw` and the C API size their models with it. */
void clvae_eval_iw_pass(const clvae_model *m, int k, int *batch, int *samples);

#endif
