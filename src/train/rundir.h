/* The run directory: creation, config.ini, metrics.jsonl lines. */
#ifndef CLVAE_TRAIN_RUNDIR_H
#define CLVAE_TRAIN_RUNDIR_H

#include <stdbool.h>

#include "clvae/config.h"
#include "core/fs.h"   /* clvae_mkdir_p, for the run directory's users */

typedef struct clvae_epoch_metrics {
    int epoch;
    long long step;
    double train_loss, test_loss, recon, kl, seconds, samples_per_s;
    bool has_valid;       /* a validation split exists: valid_loss is written */
    double valid_loss;
    const char *device, *backend;
    int layers;                /* stochastic layers: kl_layers has this many entries */
    const double *kl_layers;   /* test KL per layer, nearest x first */
    const char *objective;     /* "elbo" | "iwae": what train_loss is the negative of */
    double kl_weight;          /* beta after warm-up at the epoch's end */
    bool categorical;          /* a Gumbel-softmax top layer: tau and test_loss_onehot written */
    double tau, test_loss_onehot;   /* the last step's temperature; the one-hot test ELBO */
    int ranks;                 /* data-parallel processes (> 1: ranks and allreduce_share written) */
    double allreduce_share;    /* share of the epoch's training time spent summing gradients */
} clvae_epoch_metrics;

/* mkdir -p output.dir, writes config.ini and (unless resuming) starts an empty metrics.jsonl. */
int clvae_rundir_prepare(const clvae_config *cfg, bool resuming);
/* On resume: drops metrics.jsonl lines of epochs after `epoch` (the checkpoint's), written by a
 * run that died before its checkpoint, so no epoch appears twice. Atomic rewrite. */
int clvae_rundir_trim_metrics(const char *dir, int epoch);
int clvae_rundir_append_metrics(const char *dir, const clvae_epoch_metrics *em);

#endif
