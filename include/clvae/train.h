/* Public entry points of the trainer: train a run, evaluate a model, the run-directory files. */
#ifndef CLVAE_TRAIN_H
#define CLVAE_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "clvae/config.h"

typedef struct clvae_train_result {
    double train_loss, test_loss;   /* negative ELBO per sample, nats */
    int epochs;
    long long steps;
    double samples_per_s;
    char device[256];
    char backend[32];
    int signal;         /* CLVAE_ERR_INTERRUPTED: the signal that stopped training */
} clvae_train_result;

typedef struct clvae_train_options {
    const char *resume_dir;     /* NULL = fresh run */
    const char *profile_path;   /* NULL = no trace */
    bool quiet;                 /* no progress output */
    const char *losses_path;    /* NULL, or a file for one JSON line per loss read-back */
    /* The library's fit (src/api/): the training and test sets from memory instead of the
     * config's files (copied, with their labels; data.limit_* do not apply), no signal
     * handlers, and a progress call every loss read-back: non-zero cancels like SIGINT. */
    const struct clvae_dataset *train_data, *test_data;
    bool no_signals;
    int (*progress)(void *user, int epoch, long long step, double train_loss);
    void *progress_user;
} clvae_train_options;

/* Trains per cfg; writes the run directory (metrics.jsonl, config.ini, checkpoint). */
int clvae_train(const clvae_config *cfg, const clvae_train_options *opt, clvae_train_result *res);

#endif
