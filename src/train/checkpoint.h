/* Checkpoints as safetensors: parameters named and shaped like PyTorch nn.Linear, Adam/SGD
 * moments, the step/epoch position (all Philox counters derive from seed, step and epoch) and
 * the resolved config in the metadata. */
#ifndef CLVAE_TRAIN_CHECKPOINT_H
#define CLVAE_TRAIN_CHECKPOINT_H

#include "model/vae.h"

typedef struct clvae_ckpt_state {
    int epoch;            /* epochs fully completed */
    long long next_row;   /* first row of the epoch's permutation not yet trained (0 at a boundary) */
    double loss_sum;      /* mid-epoch: sum of the epoch's per-sample losses so far */
    long long samples;    /* mid-epoch: samples trained so far in the epoch */
} clvae_ckpt_state;

/* Writes dir/checkpoint.safetensors atomically; the previous file survives any failure.
 * config_text: the resolved INI, stored in the metadata. */
int clvae_checkpoint_save(clvae_model *m, const char *dir, const clvae_ckpt_state *s,
                          const char *config_text, const char *device);

/* The same, to / from a named file (checkpoint.best.safetensors). */
int clvae_checkpoint_save_file(clvae_model *m, const char *path, const clvae_ckpt_state *s,
                               const char *config_text, const char *device);
int clvae_checkpoint_load_file(clvae_model *m, const char *path, bool with_optimizer,
                               clvae_ckpt_state *s);

/* Loads parameters (and optimizer state and step when `with_optimizer`) into an initialized
 * model. A missing, corrupt or incompatible file is CLVAE_ERR_CHECKPOINT naming the problem. */
int clvae_checkpoint_load(clvae_model *m, const char *dir, bool with_optimizer,
                          clvae_ckpt_state *s);

/* Reads a whole small text file (config.ini) into a malloc'd string, or NULL with an error. */
char *clvae_read_text_file(const char *path);

#endif
