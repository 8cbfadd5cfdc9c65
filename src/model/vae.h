/* The VAE as a chain of stochastic layers (hierarchical VAE; one layer = the classic VAE):
 * parameter table (one arena each for parameters, gradients and optimizer moments), activation
 * layout, and forward/backward/eval as sequences of backend ops.
 *
 * Layers l = 0..T-1, layer 0 nearest x. Inference is bottom-up: q(z_0|x) q(z_1|z_0) ...
 * q(z_T-1|z_T-2); generation is top-down: p(z_T-1) = N(0, I), p(z_l|z_l+1) through prior MLPs,
 * p(x|z_0) through the decoder. Every MLP ends in one "head" layer: [mu | logvar] (2R) for a
 * Gaussian, the likelihood's parameters for the decoder. With S samples per input, layer 0's
 * q heads have B rows (shared by the S samples); everything after the first sample has S*B rows,
 * row r = s*B + b.
 * A categorical (Gumbel-softmax) layer has G groups of K categories instead: its inference
 * MLP's head is the logits (G*K), its sample the relaxed one-hot softmax((logits + g) / tau)
 * per group (R = G*K units for its consumers), its prior uniform; it is the top layer (the
 * only one without a prior MLP) and trains on the ELBO with its closed-form KL. */
#ifndef CLVAE_MODEL_VAE_H
#define CLVAE_MODEL_VAE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "clvae/config.h"
#include "clvae/data.h"
#include "model/vae_conv.h"

#define CLVAE_MAX_PARAMS (3 * CLVAE_MAX_STOCH * (2 * CLVAE_MAX_LAYERS + 4))
#define CLVAE_MAX_GRAPHS 6 /* recorded steps per model: the upload slots and a short batch */
#define CLVAE_ACC_FLOATS (4 + CLVAE_MAX_STOCH) /* [recon, kl, -bound, unused, kl per layer] */

/* How a parameter starts: fan-based random weights (init = xavier | he), zeros, ones; the
 * STAT kinds are BatchNorm's running statistics, which the optimizer never changes (their
 * gradient stays 0, so Adam and SGD leave them bit for bit) and the forward pass updates. */
typedef enum {
    CLVAE_PINIT_WEIGHT, CLVAE_PINIT_ZERO, CLVAE_PINIT_ONE, CLVAE_PINIT_STAT_ZERO,
    CLVAE_PINIT_STAT_ONE
} clvae_pinit;

/* One named tensor in the parameter arena, shaped like PyTorch's: nn.Linear weight (out, in),
 * Conv2d weight (out, in, kh, kw), ConvTranspose2d weight (in, out, kh, kw), vectors (out). */
typedef struct clvae_param {
    char name[96];
    int rows, cols;       /* (out, in) for weights, (out, 1) for biases; conv: (dim 0, the rest) */
    size_t offset;        /* in floats, into every arena (params, grads, m, v) */
    int fan_in, fan_out;
    bool is_bias;         /* a vector (zeros, ones or statistics) */
    clvae_pinit init;
    int ndim;             /* of the checkpoint tensor: 1 (vectors), 2 (Linear), 4 (conv) */
    size_t shape[4];
} clvae_param;

/* A dense layer: y (rows, out) = act(x (rows, in) W^T + b); offsets in floats. A conditioned
 * first layer reads [x | onehot(y)] (rows, in + cond): W is (out, in + cond), PyTorch's
 * nn.Linear(in + cond, out) on torch.cat([x, onehot], 1). */
typedef struct clvae_layer {
    int in, out;
    int cond;             /* one-hot columns appended to the input (0: none) */
    size_t w, b;
    clvae_act act;
} clvae_layer;

/* A net: map layers (conv), hidden dense layers, then the head (or the map layers end it). rows_per_input: 1 when it runs on B rows, S on S*B. */
typedef struct clvae_mlp {
    clvae_convnet conv;       /* map layers: before the dense ones (encoder), or ending the net */
    int n_hidden;
    clvae_layer hidden[CLVAE_MAX_LAYERS], head;
    int rows_per_input;
    clvae_view h[CLVAE_MAX_LAYERS];   /* (rows, hidden[i].out) */
    clvae_view out, dout;             /* (rows, head.out) */
} clvae_mlp;

/* A stochastic layer: diagonal Gaussian, or categorical (G x K, top layer only). */
typedef struct clvae_stoch {
    int R;                    /* units of z: the Gaussian's latent size, or G*K */
    bool categorical;
    int G, K;                 /* categorical: groups, categories per group */
    clvae_mlp q;              /* inference MLP: input x (layer 0) or the sample of the layer below */
    clvae_mlp p;              /* prior MLP from the sample of the layer above (not the top) */
    bool has_prior;
    clvae_view z, eps, dz;    /* (S*B, R); categorical: eps is the Gumbel noise */
    clvae_view y;             /* (S*B, R) categorical: the relaxed sample behind a hard z */
    clvae_view kl;            /* (S*B): analytic KL (top, ELBO: q rows only) or log q - log p */
} clvae_stoch;

/* Which loss terms a forward pass computes for the layers. */
typedef enum clvae_terms {
    CLVAE_TERMS_ELBO, /* top: closed-form KL to N(0, I); lower layers: log q - log p */
    CLVAE_TERMS_MC    /* every layer log q - log p at the sample (log importance weights) */
} clvae_terms;

typedef struct clvae_model {
    /* architecture */
    int dim, dim_out;          /* D; D or 2D (gaussian-learned) */
    int img_c, img_h, img_w;   /* the image x is (C, H, W), NCHW rows; 0: not an image */
    float slope;               /* leaky_relu's negative slope */
    bool has_conv, has_bn;
    bool training;             /* the pass in progress: batch norm from batch statistics */
    int T;                     /* stochastic layers */
    clvae_stoch lat[CLVAE_MAX_STOCH];
    clvae_mlp dec;             /* z_0 -> likelihood parameters (S*B rows) */
    clvae_likelihood likelihood;
    float sigma_x, beta;
    long beta_warmup;
    clvae_objective objective;
    clvae_binarize binarize;
    int classes;               /* conditional model: C of onehot(y), appended to every MLP's
                                  input; 0: unconditional */
    bool hard;                 /* categorical: straight-through one-hot forward */
    bool cat_onehot;           /* categorical: exact one-hot samples (evaluation), set by eval */
    float tau0, tau_min;       /* temperature schedule (clvae_model_tau) */
    double tau_decay;
    float tau_now;             /* the temperature of the pass in progress (set by its entry) */
    /* the top layer, as sample/latents/interpolate see it: z_top ~ N(0, I) (Gaussian) or
     * uniform one-hot codes (categorical) */
    int latent;                /* R of the top layer */
    clvae_view z, hd;          /* top z (S*B, R) and its q heads (rows, 2R) */
    /* parameter table */
    clvae_param params[CLVAE_MAX_PARAMS];
    int n_params;
    size_t n_floats;
    /* device state */
    clvae_backend *be;
    int max_batch, samples;    /* activation arena sized for max_batch x samples rows */
    clvae_buffer *p_buf, *g_buf, *m_buf, *v_buf;   /* (n_floats) each */
    clvae_buffer *a_buf;                           /* activation arena */
    clvae_view x;              /* (B, D) */
    clvae_view lab;            /* (B) labels as floats (conditional), like x per batch */
    clvae_view onehot;         /* (S*B, C) onehot(lab[r % b]) */
    clvae_view o, dout;        /* (S*B, dim_out) = dec.out, dec.dout */
    clvae_view loss;           /* (S*B) negative log-likelihood per row */
    clvae_view kl;             /* the top layer's kl: (B) for a one-layer ELBO forward */
    clvae_view eps;            /* layer 0's eps (S*B, R_0) */
    clvae_view kl_sum;         /* (S*B) sum of the layers' log q - log p (TERMS_MC) */
    clvae_view iw, bound;      /* (S*B) normalized importance weights, (B) bounds */
    clvae_view d1, d2;         /* (S*B, max width) backward ping-pong */
    clvae_view acc;            /* (CLVAE_ACC_FLOATS) device-side loss sums */
    /* optimizer */
    clvae_optimizer opt;
    float lr, momentum;
    uint64_t step;             /* optimizer steps taken */
    uint64_t seed;
    clvae_init init;
    /* data-parallel shard of the running train step (clvae_model_train_grads): this process's
     * shard_rows rows start at global row shard_row0 of a batch of shard_batch rows (0: not
     * sharded) */
    int shard_row0, shard_rows, shard_batch;
    /* Synchronized BatchNorm of a sharded step: sums n floats in place over every process (the
     * same bits on each; src/dist/ sets clvae_dist_sum_f32), NULL for one process. */
    int (*bn_sum)(float *buf, size_t n);
    /* Recorded training steps (backend graph slots; vae_backward.c): one per batch size and
     * input view (the scheduler's upload slots), replayed by clvae_model_train_step; g NULL:
     * that key's step could not be recorded (runs op by op). */
    struct clvae_step_graph {
        clvae_graph *g;
        int b;
        clvae_view x;
        float lr, kw;
    } graphs[CLVAE_MAX_GRAPHS];
    int n_graphs;
    bool graphs_off;           /* not offered, refused once, or a replay failed */
} clvae_model;

/* Frees the recorded steps (clvae_model_free does). */
void clvae_model_graphs_free(clvae_model *m);

/* Loss sums read back from the device (per data row sums since the last read). */
typedef struct clvae_losses {
    double recon, kl, neg_bound;
    double kl_layer[CLVAE_MAX_STOCH];
} clvae_losses;

/* Builds the parameter table from the config for input dimension `dim`. No device work. The
 * image shape of conv layers comes from data.image_shape (HxW, HxWxC; auto: a square of one
 * channel, or of three); clvae_model_layout_image takes it from the caller (chw NULL or C = 0:
 * not an image). */
int clvae_model_layout(clvae_model *m, const clvae_config *cfg, int dim);
int clvae_model_layout_image(clvae_model *m, const clvae_config *cfg, int dim, const int chw[3]);
/* The same for the data set the model reads: data.image_shape = auto takes the data's own
 * rows x cols (IDX, NPY (n, h, w[, c])) with ds->dim / (rows * cols) channels. */
int clvae_model_layout_data(clvae_model *m, const clvae_config *cfg, const clvae_dataset *ds);

/* Adds a tensor of rows x cols floats to the table (vae_layout.c); PyTorch's 1-D / 2-D shape. */
clvae_param *clvae_model_add_param(clvae_model *m, const char *name, int rows, int cols,
                                   int fan_in, int fan_out, clvae_pinit init);

/* Allocates arenas on `be` for up to max_batch rows x samples, initializes parameters from
 * Philox (Xavier-uniform or He-normal weights, zero biases) and zeroes optimizer state. */
int clvae_model_init(clvae_model *m, clvae_backend *be, int max_batch, int samples, bool init_params);
/* Shrinks a pass of *batch inputs x *samples samples (batch first, then samples, each to at
 * least 1) until the model's activation arena fits in `bytes`: the IWAE pass of a conv net, whose
 * maps and im2col columns take far more per row than a dense net's. Call after the layout and
 * before clvae_model_init; a pass that already fits is left as it is. */
void clvae_model_fit_pass(const clvae_model *m, size_t bytes, int *batch, int *samples);
void clvae_model_free(clvae_model *m);

/* Index of a parameter by name, or -1. */
int clvae_model_find_param(const clvae_model *m, const char *name);

/* The KL weight of the next step: beta, ramped linearly from 0 over beta_warmup steps. */
float clvae_model_kl_weight(const clvae_model *m);

/* The Gumbel-softmax temperature of optimizer step `step` (counted from 0):
 * max(tau_min, tau * exp(-tau_decay * step)), a pure function of the step (resume continues
 * it bit-exactly). Training step m->step uses clvae_model_tau(m, m->step); evaluation the
 * temperature of the last step taken (clvae_model_eval_tau). */
float clvae_model_tau(const clvae_model *m, uint64_t step);
float clvae_model_eval_tau(const clvae_model *m);
/* True when the top layer is categorical. */
bool clvae_model_categorical(const clvae_model *m);

/* One training step on the batch already in m->x (b rows): dynamic binarization, forward,
 * loss accumulation into m->acc, backward (ELBO or IWAE), optimizer. Nothing is read back. */
int clvae_model_train_step(clvae_model *m, int b);
/* The same, always op by op (never recorded or replayed). */
int clvae_model_train_step_plain(clvae_model *m, int b);

/* The same step in two halves, for data-parallel training (src/dist/): train_grads computes
 * the gradients of rows [row0, row0 + b) of a global batch of gb rows into m->g_buf, normalized
 * by the global batch and with the noise of the global rows (gb = b, row0 = 0: train_step's);
 * the caller sums the processes' gradients, then apply_grads runs the optimizer. */
int clvae_model_train_grads(clvae_model *m, int b, int row0, int gb);
int clvae_model_apply_grads(clvae_model *m);

/* Forward and gradients only (no optimizer), for gradient checks: grads land in m->g_buf. */
int clvae_model_forward_backward(clvae_model *m, int b, uint64_t noise_step, uint32_t stream);

/* Forward only on m->x (b rows) with `samples` samples (<= m->samples): fills m->loss (S*b),
 * each layer's kl (and m->kl_sum (S*b) for TERMS_MC). deterministic: eps = 0 (z = mu). */
int clvae_model_forward_terms(clvae_model *m, int b, int samples, uint64_t noise_step,
                              uint32_t stream, bool deterministic, clvae_terms terms);
/* forward_terms with TERMS_ELBO (the one-layer model's kl is then (b)). */
int clvae_model_forward(clvae_model *m, int b, int samples, uint64_t noise_step, uint32_t stream,
                        bool deterministic);

/* Decoder means m->o (rows, dim_out) from the top latents in m->z (rows, R_top), through the
 * prior means of the layers below (deterministic). */
int clvae_model_decode(clvae_model *m, int rows);
/* (Conditional models: row r of m->z is decoded with label m->lab[r], set by the caller.) */
/* The same with the layers below the top drawn from their priors (noise of (seed, draw,
 * CLVAE_STREAM_LAYER(SAMPLE, l))): ancestral sampling. */
int clvae_model_decode_sampled(clvae_model *m, int rows, uint64_t draw);

/* Conditional models: uploads n labels (0..C-1) into m->lab (the model's own view); a no-op
 * for an unconditional model. */
int clvae_model_set_labels(clvae_model *m, const uint8_t *labels, int n);
/* The same with n copies of one label (a conditional model's samples of one class). */
int clvae_model_fill_labels(clvae_model *m, int label, int n);

/* Reads and zeroes the device loss accumulators. */
int clvae_model_take_all_losses(clvae_model *m, clvae_losses *out);
/* The same, keeping only the recon and KL sums. */
int clvae_model_take_losses(clvae_model *m, double *recon_sum, double *kl_sum);

/* Host copies of the parameter / gradient arenas (n_floats). */
int clvae_model_get_params(clvae_model *m, float *dst);
int clvae_model_set_params(clvae_model *m, const float *src);
int clvae_model_get_grads(clvae_model *m, float *dst);

#endif
