/* The trainer held open across calls: the library's fit (src/api/) keeps the device, the model,
 * its optimizer state, the data and the batch scheduler between calls, and runs the same loop
 * as `clvae train` (clvae_train is open + one run + close of the same trainer). */
#ifndef CLVAE_TRAIN_TRAINER_H
#define CLVAE_TRAIN_TRAINER_H

#include "backend/backend.h"
#include "clvae/train.h"
#include "model/vae.h"

typedef struct trainer clvae_session;

typedef struct clvae_session_options {
    const clvae_train_options *train; /* copied; train_data is required (no run directory) */
    clvae_backend *backend;           /* lent for the session's life; NULL = open cfg's device */
    const clvae_session *from;        /* NULL; or continue from this session's parameters,
                                         optimizer moments and position (same layout) */
} clvae_session_options;

/* Sets up training on opt->train->train_data per cfg without a run directory: fresh
 * parameters, or those of opt->from, or of the checkpoint in opt->train->resume_dir.
 * Nothing is written anywhere. res gets the device and backend names. */
int clvae_session_open(const clvae_config *cfg, const clvae_session_options *opt,
                       clvae_session **out, clvae_train_result *res);

/* Trains from where the session stands: `epochs` more epochs (the current one finished counts
 * as the first), or (epochs = 0) `steps` more optimizer steps, or (both 0) up to the config's
 * train.epochs / train.max_steps. A cancel through the progress callback stops after the
 * current step (CLVAE_ERR_INTERRUPTED) with the session where it stopped, able to continue. */
int clvae_session_run(clvae_session *s, int epochs, long long steps, clvae_train_result *res);

/* The progress callback of later runs (see clvae_train_options). */
void clvae_session_set_progress(clvae_session *s,
                                int (*fn)(void *, int, long long, double), void *user);

/* The model being trained (its parameters as of the last run) and its resolved config. */
clvae_model *clvae_session_model(clvae_session *s);
const clvae_config *clvae_session_config(const clvae_session *s);
int clvae_session_epochs_done(const clvae_session *s);

/* Frees the session's copies of the data and its batch feeding (no more runs; the model,
 * optimizer state and position stay for inference, saving and a successor session). */
void clvae_session_release_data(clvae_session *s);

/* Writes the session's checkpoint at path (the format of `clvae train`'s). */
int clvae_session_save(clvae_session *s, const char *path);

void clvae_session_close(clvae_session *s);

#endif
