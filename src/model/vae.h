/* The VAE: parameter table (one arena each for parameters, gradients and optimizer moments),
 * activation layout, and forward/backward/eval as sequences of backend ops. */
#ifndef CLVAE_MODEL_VAE_H
#define CLVAE_MODEL_VAE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "clvae/config.h"

#define CLVAE_MAX_PARAMS (4 * CLVAE_MAX_LAYERS + 16)

/* One named tensor in the parameter arena, shaped like PyTorch nn.Linear: weight (out, in). */
typedef struct clvae_param {
    char name[64];
    int rows, cols;       /* (out, in) for weights, (out, 1) for biases */
    size_t offset;        /* in floats, into every arena (params, grads, m, v) */
    int fan_in, fan_out;
    bool is_bias;
} clvae_param;

/* A dense layer: y (rows, out) = act(x (rows, in) W^T + b); offsets in floats. */
typedef struct clvae_layer {
    int in, out;
    size_t w, b;
    clvae_act act;
} clvae_layer;

typedef struct clvae_model {
    /* architecture */
    int dim, latent, dim_out;   /* D, R, D or 2D (gaussian-learned) */
    int n_enc, n_dec;
    clvae_layer enc[CLVAE_MAX_LAYERS], heads;   /* heads: out = 2R, [mu | logvar] */
    clvae_layer dec[CLVAE_MAX_LAYERS], out;
    clvae_likelihood likelihood;
    float sigma_x, beta;
    /* parameter table */
    clvae_param params[CLVAE_MAX_PARAMS];
    int n_params;
    size_t n_floats;
    /* device state */
    clvae_backend *be;
    int max_batch, samples;     /* activation arena sized for max_batch x samples rows */
    clvae_buffer *p_buf, *g_buf, *m_buf, *v_buf;   /* (n_floats) each */
    clvae_buffer *a_buf;                           /* activation arena */
    clvae_view x;              /* (B, D) */
    clvae_view enc_h[CLVAE_MAX_LAYERS];   /* (B, enc[i].out) */
    clvae_view hd;             /* (B, 2R) heads [mu | logvar] */
    clvae_view dhd;            /* (B, 2R) */
    clvae_view z, eps;         /* (S*B, R) */
    clvae_view kl;             /* (B) */
    clvae_view dec_h[CLVAE_MAX_LAYERS];   /* (S*B, dec[i].out) */
    clvae_view o, dout;        /* (S*B, dim_out) */
    clvae_view loss;           /* (S*B) */
    clvae_view d1, d2;         /* (S*B, max width) backward ping-pong */
    clvae_view acc;            /* (4): [recon sum, kl sum, unused, unused] */
    /* optimizer */
    clvae_optimizer opt;
    float lr, momentum;
    uint64_t step;             /* optimizer steps taken */
    uint64_t seed;
    clvae_init init;
} clvae_model;

/* Builds the parameter table from the config for input dimension `dim`. No device work. */
int clvae_model_layout(clvae_model *m, const clvae_config *cfg, int dim);

/* Allocates arenas on `be` for up to max_batch rows x samples, initializes parameters from
 * Philox (Xavier-uniform or He-normal weights, zero biases) and zeroes optimizer state. */
int clvae_model_init(clvae_model *m, clvae_backend *be, int max_batch, int samples, bool init_params);
void clvae_model_free(clvae_model *m);

/* Index of a parameter by name, or -1. */
int clvae_model_find_param(const clvae_model *m, const char *name);

/* One SGVB step on the batch already in m->x (b rows): forward, loss accumulation into m->acc,
 * backward, optimizer. Nothing is read back. */
int clvae_model_train_step(clvae_model *m, int b);

/* Forward and gradients only (no optimizer), for gradient checks: grads land in m->g_buf. */
int clvae_model_forward_backward(clvae_model *m, int b, uint64_t noise_step, uint32_t stream);

/* Forward only on m->x (b rows) with `samples` ε samples (<= m->samples): fills m->loss
 * (S*b), m->kl (b), m->z/eps. deterministic: ε = 0 (z = μ). */
int clvae_model_forward(clvae_model *m, int b, int samples, uint64_t noise_step, uint32_t stream,
                        bool deterministic);

/* Decoder only: m->o (rows, dim_out) from the latents already in m->z (rows, R). */
int clvae_model_decode(clvae_model *m, int rows);

/* Reads and zeroes the device loss accumulators: recon and KL sums since the last call. */
int clvae_model_take_losses(clvae_model *m, double *recon_sum, double *kl_sum);

/* Host copies of the parameter / gradient arenas (n_floats). */
int clvae_model_get_params(clvae_model *m, float *dst);
int clvae_model_set_params(clvae_model *m, const float *src);
int clvae_model_get_grads(clvae_model *m, float *dst);

#endif
