/* The C API's handles (include/clvae/clvae.h) and the helpers its files share. */
#ifndef CLVAE_API_INTERNAL_H
#define CLVAE_API_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "clvae/clvae.h"
#include "clvae/config.h"
#include "clvae/data.h"
#include "model/vae.h"
#include "train/trainer.h"

struct clvae_context {
    char device[256];   /* clvae_context_create's selection; "" = each config's */
};

struct clvae_vae {
    clvae_context *ctx;
    clvae_config cfg;       /* the user's config, the context's device applied */
    bool fitted;            /* `model` holds a trained model */
    clvae_config trained;   /* the trained model's resolved config (model.classes from labels) */
    clvae_backend be;       /* the vae's device, opened once (has_be) and lent to its trainers */
    bool has_be;
    clvae_model *model;     /* the trained model: &m (loaded) or the training session's */
    clvae_session *sess;    /* the trainer that fitted it, kept open (NULL: loaded or none) */
    unsigned gen;           /* counts changes of `model` (a trainer checks its own is current) */
    clvae_model m;          /* a loaded model (inference only) */
    unsigned char *ckpt;    /* a loaded model's checkpoint file (clvae_vae_save writes it) */
    size_t ckpt_size;
    int epochs;             /* a loaded model's epochs done */
};

/* Returns CLVAE_ERR_INPUT naming `what` when p is NULL. */
int api_need(const void *p, const char *what);

/* The context's device selection applied to cfg as [device] keys. */
int api_apply_device(const clvae_context *ctx, clvae_config *cfg);

/* A config from INI text (through a private temporary file); errors name "config string". */
int api_config_from_text(clvae_config *cfg, const char *text);

/* Opens vae's backend (once) and model from the checkpoint file at path (config = its resolved
 * config, dim = D) and keeps the file's bytes; the previous model (if any) is closed first. */
int api_open_trained(clvae_vae *vae, const clvae_config *trained, int dim, const char *path);
/* Drops the trained model (loaded, or the training session); the device stays open. */
void api_close_trained(clvae_vae *vae);

/* A borrowed (non-owning) dataset view of x (n, D) / (n, C, H, W) with labels; checks the
 * shape and dtype, and D against want_dim when want_dim > 0. Never freed. */
int api_wrap(const clvae_array *x, const uint8_t *labels, long long want_dim, const char *what,
             clvae_dataset *ds);

#endif
