/* The device seam: one ops table per backend plus an opaque context (the ggml-backend pattern).
 * The model calls only these coarse VAE-sized ops; it never sees cl_mem or queues.
 *
 * Conventions for every op:
 * - Buffers are (buffer, byte offset) views; all tensors are float32, row-major, contiguous
 *   unless a leading dimension says otherwise.
 * - Ops are enqueued in order on the backend's compute stream; `download` and `finish` wait.
 * - Return CLVAE_OK or a negative clvae_status with clvae_error() details set.
 * - An optional slot may be NULL; `supports` tells callers (and `clvae check`) what exists.
 */
#ifndef CLVAE_BACKEND_H
#define CLVAE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clvae/config.h"
#include "clvae/status.h"

typedef struct clvae_buffer clvae_buffer;   /* backend-defined */

typedef struct clvae_view {
    clvae_buffer *buf;
    size_t off;   /* bytes */
} clvae_view;

static inline clvae_view clvae_view_at(clvae_view v, size_t float_offset)
{
    clvae_view r = {v.buf, v.off + float_offset * sizeof(float)};
    return r;
}

/* Reparameterization + KL.  heads (B, 2R) row-major holds [mu | logvar] per row (ld = 2R).
 * Noise: eps[(s*B + b)*R + j] = clvae_philox_normal(seed, step, stream, (s*B + b)*R + j), see
 * cl/philox.clh.  Forward writes z (S*B, R) = mu + exp(logvar/2) * eps, eps (S*B, R), and
 * kl (B) = 1/2 sum_j (mu^2 + exp(logvar) - logvar - 1).
 * When `eps_given` is true, eps is read instead of generated (deterministic tests, z = mu with
 * eps = 0).
 * Data-parallel shards (src/dist/): the noise index of local row (s, b) is that of global row
 * s*G + row0 + b, G = noise_batch (0: G = B, row0 = 0; the formula above), so N processes with
 * B = G/N rows each draw exactly the eps of one process with the whole batch. */
typedef struct clvae_reparam_args {
    int batch, samples, latent;   /* B, S, R */
    uint64_t seed, step;
    uint32_t stream;
    bool eps_given;
    clvae_view heads;   /* (B, 2R) */
    clvae_view z;       /* (S*B, R) */
    clvae_view eps;     /* (S*B, R) */
    clvae_view kl;      /* (B) */
    uint32_t noise_row0, noise_batch;   /* shard: global row of local row 0; G (0: unsharded) */
} clvae_reparam_args;

/* Backward of reparam + weighted KL for the loss L = sum_rows recon + kl_weight * sum_b kl_b:
 * dheads[b, j]     = sum_s dz[s*B+b, j] + kl_weight * mu
 * dheads[b, R + j] = sum_s dz[s*B+b, j] * eps * exp(logvar/2) / 2 + kl_weight * (exp(logvar) - 1) / 2 */
typedef struct clvae_reparam_bwd_args {
    int batch, samples, latent;
    float kl_weight;
    clvae_view heads;    /* (B, 2R) */
    clvae_view eps;      /* (S*B, R) */
    clvae_view dz;       /* (S*B, R) */
    clvae_view dheads;   /* (B, 2R) out */
} clvae_reparam_bwd_args;

/* Likelihood loss and its gradient in one pass.  Row r of the decoder output belongs to data
 * row r % B (rows = S*B).  out is (rows, D) logits/means, or (rows, 2D) [mean | log var] for
 * gaussian-learned.  Writes loss (rows): the negative log-likelihood in nats of each row:
 *   bernoulli:        sum_d softplus(l) - x*l                       (stable form)
 *   gaussian:         sum_d (x-m)^2 / (2 sx^2) + D/2 log(2 pi sx^2)
 *   gaussian-learned: sum_d (x-m)^2 / (2 exp(v)) + v/2 + 1/2 log(2 pi)
 * and, when dout.buf is non-NULL, dout = grad_scale * d loss_row / d out (same shape as out). */
typedef struct clvae_lik_args {
    clvae_likelihood kind;
    int rows, batch, dim;   /* rows = S*B, batch = B, dim = D */
    float sigma_x;
    float grad_scale;
    clvae_view out;    /* (rows, D) or (rows, 2D) */
    clvae_view x;      /* (B, D) targets in [0,1] */
    clvae_view loss;   /* (rows) */
    clvae_view dout;   /* like out, or buf NULL for no gradient */
} clvae_lik_args;

/* One optimizer step over a whole arena of n floats (one launch).  t is the 1-based step
 * count (Adam bias correction).  SGD: m = momentum*m + g; p -= lr*m. */
typedef struct clvae_opt_args {
    clvae_optimizer kind;
    size_t n;
    float lr, beta1, beta2, eps, momentum;
    uint64_t t;
    clvae_view params, grads, m, v;   /* (n) each; v unused for SGD */
} clvae_opt_args;


/* ---- Stochastic-layer chain (hierarchical VAE, IWAE) ---------------------------------------
 * A diagonal-Gaussian stochastic layer draws z (rows, R) with the reparam op from q's heads
 * (hrows, 2R) = [mu | logvar]; rows = S * hrows and row r = s * hrows + h uses heads row h.
 * Its prior is N(0, I) (top layer) or the heads (rows, 2R) = [mu_p | logvar_p] of the prior MLP
 * of the layer above. "c_r" below is a per-row loss weight: c_r = scale * weights[r], or
 * c_r = scale when weights.buf is NULL. */

/* Monte Carlo log-density ratio of a layer at its sample (eps is the reparam noise, so
 * (z - mu_q)^2 / var_q = eps^2 exactly):
 *   log q_r = sum_j -eps^2/2 - lv_q/2 - log(2 pi)/2
 *   log p_r = sum_j -(z - mu_p)^2 exp(-lv_p)/2 - lv_p/2 - log(2 pi)/2   (prior heads)
 *           = sum_j -z^2/2 - log(2 pi)/2                                 (prior.buf NULL)
 * kl (rows) = log q - log p; kl_sum (rows), when set, = kl (sum_init) or += kl. */
typedef struct clvae_gauss_terms_args {
    int rows, hrows, latent;   /* rows = S * hrows, R */
    clvae_view heads;          /* (hrows, 2R) q */
    clvae_view z, eps;         /* (rows, R) */
    clvae_view prior;          /* (rows, 2R) p, or buf NULL for N(0, I) */
    clvae_view kl;             /* (rows) out */
    clvae_view kl_sum;         /* (rows) in/out, or buf NULL */
    bool sum_init;
} clvae_gauss_terms_args;

/* Backward of sum_r c_r * (-log p_r) of the term above, with respect to z and the prior heads:
 *   prior heads: dz[r, j] += c_r (z - mu_p) e^{-lv_p};   dprior[r, j] = -c_r (z - mu_p) e^{-lv_p}
 *                dprior[r, R + j] = c_r / 2 (1 - (z - mu_p)^2 e^{-lv_p})          (written)
 *   N(0, I):     dz[r, j] += c_r z                                                 (no dprior) */
typedef struct clvae_prior_bwd_args {
    int rows, latent;
    float scale;
    clvae_view weights;   /* (rows) or buf NULL */
    clvae_view z;         /* (rows, R) */
    clvae_view prior;     /* (rows, 2R) or buf NULL */
    clvae_view dz;        /* (rows, R) accumulated */
    clvae_view dprior;    /* (rows, 2R) out (when prior.buf is set) */
} clvae_prior_bwd_args;

/* Backward of a layer's q heads given the complete gradient dz (rows, R) of its sample, the
 * analytic KL to N(0, I) weighted by kl_weight (0: none) and sum_r c_r log q_r (scale 0: none):
 *   dheads[h, j]     = sum_s dz + kl_weight * mu
 *   dheads[h, R + j] = sum_s dz * eps * exp(lv/2) / 2 + kl_weight * (exp(lv) - 1) / 2
 *                      - 1/2 sum_s c_r
 * (log q at z = mu + sigma eps with eps fixed depends on the heads only through -lv/2.) */
typedef struct clvae_latent_bwd_args {
    int hrows, samples, latent;   /* rows = samples * hrows */
    float kl_weight, scale;
    clvae_view weights;           /* (rows) or buf NULL */
    clvae_view heads;             /* (hrows, 2R) */
    clvae_view eps, dz;           /* (rows, R) */
    clvae_view dheads;            /* (hrows, 2R) out */
} clvae_latent_bwd_args;

/* Importance weights over the S samples of each of B data rows (row r = s * B + b):
 *   log w_r = -(nll_r + kl_r);   m_b = max_s log w_{s,b};   l_b = log sum_s exp(log w_{s,b} - m_b)
 *   bound[b] = m_b + l_b - log S;   weights[r] = scale * exp((log w_r - m_b) - l_b)  (softmax)
 * (log w - m is exact, so each weight keeps its float accuracy even where |log w| ~ 1e4 and an
 * ulp of m + l alone would be 1e-3 relative.) */
typedef struct clvae_iw_args {
    int batch, samples;
    float scale;
    clvae_view nll, kl;    /* (S*B) each: the likelihood's loss and the summed layer terms */
    clvae_view weights;    /* (S*B) out */
    clvae_view bound;      /* (B) out */
} clvae_iw_args;

/* ---- Categorical (Gumbel-softmax / Concrete) layers ----------------------------------------
 * A categorical layer has G groups of K categories. Its q heads are logits (hrows, G*K), group
 * g of row h at columns [g*K, (g+1)*K); its sample is (rows, G*K), rows = S * hrows, row
 * r = s * hrows + h uses logits row h. Every softmax and log-softmax subtracts the group's max
 * first, so no temperature or logit magnitude gives Inf/NaN. */

/* Relaxed sample of every group:
 *   u[i] = clvae_philox_uniform(seed, step, stream, n), n = (noise_row0 + r) * G*K + c (the
 *          reparam noise's element numbering; noise_row0: a data-parallel shard's global row
 *          of local row 0, 0 unsharded);   g[i] = -log(-log(u + 1e-20) + 1e-20)   (Gumbel(0, 1))
 *   y[r, gK + k] = softmax_k((logits[h, gK + k] + g[r, gK + k]) / tau)
 *   z = y, or with `hard` the one-hot of argmax_k y (the first maximum; argmax y = argmax of
 *       logits + g, so that is also the exact Gumbel-max sample of the categorical q).
 * noise_given: g is read (tests, deterministic passes with g = 0), not generated. y (buf NULL:
 * not written) keeps the relaxed sample for the straight-through backward. */
typedef struct clvae_gumbel_args {
    int rows, hrows, groups, cats;   /* rows = S * hrows, G, K */
    float tau;
    bool hard, noise_given;
    uint64_t seed, step;
    uint32_t stream;
    clvae_view logits;   /* (hrows, G*K) */
    clvae_view g;        /* (rows, G*K) written, or read with noise_given */
    clvae_view y;        /* (rows, G*K) relaxed sample, or buf NULL */
    clvae_view z;        /* (rows, G*K) the sample the layer's consumers read */
    uint32_t noise_row0; /* global row of local row 0 (shards; 0 unsharded) */
} clvae_gumbel_args;

/* The layer's loss terms, q = softmax(logits) per group:
 *   z.buf NULL:  kl (hrows) = sum_g sum_k q_k log(K q_k)   (closed-form KL to the uniform prior,
 *                computed as sum_k q_k (log q_k + log K) with the stable log-softmax)
 *   z given:     kl (rows)  = log q(z) - log p(z) = sum_g sum_k z_k log q_k + G log K at the
 *                one-hot samples z (rows, G*K) (exact categorical densities; not the Concrete
 *                density of a relaxed z). kl_sum (rows), when set: = kl (sum_init) or += kl. */
typedef struct clvae_cat_terms_args {
    int rows, hrows, groups, cats;
    clvae_view logits;   /* (hrows, G*K) */
    clvae_view z;        /* (rows, G*K) or buf NULL */
    clvae_view kl;       /* (hrows) or (rows) out */
    clvae_view kl_sum;   /* (rows) in/out, or buf NULL (only with z) */
    bool sum_init;
} clvae_cat_terms_args;

/* Backward of the relaxed sample and the weighted analytic KL, given dz (rows, G*K), the
 * complete gradient of the layer's sample (straight-through: the gradient of the one-hot z is
 * passed to y unchanged), y (rows, G*K) the relaxed sample and g held fixed:
 *   dlogits[h, c] = sum_s (1/tau) y_c (dz_c - sum_k y_k dz_k)            (group of c, row s*H+h)
 *                 + kl_weight * q_c (log q_c - sum_k q_k log q_k)         (d KL_group / d l_c) */
typedef struct clvae_cat_bwd_args {
    int hrows, samples, groups, cats;
    float tau, kl_weight;
    clvae_view logits;    /* (hrows, G*K) */
    clvae_view y, dz;     /* (samples * hrows, G*K) */
    clvae_view dlogits;   /* (hrows, G*K) out */
} clvae_cat_bwd_args;

typedef enum clvae_op {
    CLVAE_OP_GEMM, CLVAE_OP_BIAS_ACT, CLVAE_OP_ACT_BWD, CLVAE_OP_COL_SUM, CLVAE_OP_REPARAM,
    CLVAE_OP_REPARAM_BWD, CLVAE_OP_LIKELIHOOD, CLVAE_OP_SUM_ADD, CLVAE_OP_OPTIMIZER,
    CLVAE_OP_FILL, CLVAE_OP_COPY, CLVAE_OP_GATHER_U8, CLVAE_OP_GATHER_F32, CLVAE_OP_GAUSS_TERMS,
    CLVAE_OP_PRIOR_BWD, CLVAE_OP_LATENT_BWD, CLVAE_OP_IW_WEIGHTS, CLVAE_OP_ROW_SCALE,
    CLVAE_OP_BINARIZE, CLVAE_OP_ACT_BWD_COL_SUM, CLVAE_OP_ONEHOT, CLVAE_OP_GUMBEL,
    CLVAE_OP_CAT_TERMS, CLVAE_OP_CAT_BWD,
    /* Convolutional nets (see the group below); a backend supports all of them or none. */
    CLVAE_OP_IM2COL, CLVAE_OP_COL2IM, CLVAE_OP_BATCH_TRANSPOSE, CLVAE_OP_BIAS_LEAKY,
    CLVAE_OP_LEAKY_BWD, CLVAE_OP_COL_SQ_DEV, CLVAE_OP_BN_FWD, CLVAE_OP_BN_BWD_SUMS, CLVAE_OP_BN_BWD,
    CLVAE_OP_CONV_DIRECT, CLVAE_OP_CONV_DIRECT_DX, CLVAE_OP_CONV_DIRECT_DW,
    CLVAE_OP_COUNT
} clvae_op;
#define CLVAE_OP_CONV_FIRST CLVAE_OP_IM2COL

/* ---- Convolutional nets ---------------------------------------------------------------------
 * Feature maps inside the device are NHWC rows: a (B, C, H, W) tensor is stored as (B*H*W, C),
 * row (b*H + h)*W + w, so gemm, bias_act, act_bwd and col_sum treat a map like a dense layer's
 * activations (rows, C). Data and checkpoints stay NCHW / OIHW; batch_transpose converts at the
 * net's edges.
 *   Conv2d:          cols = im2col(x); y (B*OH*OW, OC) = cols . W^T, W (OC, C*KH*KW) as stored.
 *                    dW += dy^T . cols (beta 1); dx = col2im(dy . W).
 *   ConvTranspose2d: cols (B*H*W, OC*KH*KW) = x . W, W (IC, OC*KH*KW) as stored; y = col2im(cols).
 *                    dx = im2col(dy) . W^T; dW += x^T . im2col(dy).
 * Geometry: the "image" side holds C channels of H x W (a Conv2d's input, a ConvTranspose2d's
 * output), the "column" side OH x OW positions (a Conv2d's output, a ConvTranspose2d's input), with
 * OH = (H + 2*ph - dh*(KH-1) - 1) / sh + 1 (and likewise OW); a ConvTranspose2d's output padding
 * only makes H larger (H = (OH-1)*sh - 2*ph + dh*(KH-1) + oph + 1). */
typedef struct clvae_conv_geom {
    int batch;                      /* B */
    int channels, height, width;    /* C, H, W of the image side */
    int out_h, out_w;               /* OH, OW of the column side */
    int k_h, k_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
} clvae_conv_geom;

/* BatchNorm2d over NHWC rows x (N, C), N = B*H*W, with PyTorch's semantics. In training the
 * statistics come from sums (2C) = [sum_r x | sum_r (x - mean)^2] (col_sum, then col_sq_dev;
 * under MPI each half is summed across ranks before the next step uses it) over `count` rows in
 * all (= N on one rank):
 *   mean = sums[c] / count, var = sums[C + c] / count (biased, to normalize),
 *   running_mean = (1 - momentum) running_mean + momentum mean,
 *   running_var  = (1 - momentum) running_var + momentum var * count / (count - 1)   (unbiased)
 * In evaluation (training false) mean and var are the running statistics, nothing is updated.
 *   invstd (C) = 1 / sqrt(var + eps);  xhat (N, C) = (x - mean) invstd;
 *   y (N, C) = act(gamma xhat + beta)   (act CLVAE_ACT_LEAKY_RELU uses `slope`)
 * xhat and invstd are kept for the backward (xhat.buf NULL: not written, evaluation only). */
typedef struct clvae_bn_fwd_args {
    int rows, channels;           /* N, C */
    float count, eps, momentum, slope;
    bool training;
    clvae_act act;
    clvae_view x;                 /* (N, C) */
    clvae_view sums;              /* (2C), training only */
    clvae_view gamma, beta;       /* (C) each (the arena's weight, bias) */
    clvae_view running_mean, running_var;   /* (C) each (non-trained arena entries) */
    clvae_view invstd;            /* (C) out */
    clvae_view xhat;              /* (N, C) out, or buf NULL */
    clvae_view y;                 /* (N, C) out; may not alias x */
} clvae_bn_fwd_args;

/* Backward of BatchNorm2d in training mode, given dy (N, C) already through the activation:
 *   bn_bwd_sums: sums (2C) = [sum_r dy xhat | sum_r dy] = [dgamma | dbeta] (local rows; under MPI
 *                summed across ranks before bn_bwd)
 *   bn_bwd:      dx = gamma invstd / count * (count dy - dbeta - xhat dgamma)   (the global sums) */
typedef struct clvae_bn_bwd_args {
    int rows, channels;           /* N, C */
    float count;
    clvae_view dy, xhat;          /* (N, C) */
    clvae_view gamma, invstd;     /* (C) */
    clvae_view sums;              /* (2C) [dgamma | dbeta] */
    clvae_view dx;                /* (N, C) out; may alias dy */
} clvae_bn_bwd_args;

/* Host scheduler support (optional slots below): a pinned host staging buffer the host writes
 * through a plain pointer, and a ticket that completes when an enqueued command has finished
 * (an OpenCL event). Both backend-defined. */
typedef struct clvae_staging clvae_staging;
typedef struct clvae_ticket clvae_ticket;

/* Queues a profiled command belongs to (Chrome trace tracks). */
typedef enum clvae_queue_kind { CLVAE_QUEUE_COMPUTE, CLVAE_QUEUE_TRANSFER } clvae_queue_kind;

/* One finished device command reported by profile_drain. Times are microseconds on the host's
 * CLOCK_MONOTONIC clock (the backend aligns its device clock to it). */
typedef struct clvae_prof_record {
    const char *name;       /* static op name: "gemm", "bias_act", "upload", ... */
    clvae_queue_kind queue;
    long tag;               /* the tag current when it was enqueued (the scheduler's step) */
    double start_us, end_us;
    size_t bytes;           /* transfers: bytes moved; 0 otherwise */
} clvae_prof_record;

typedef void (*clvae_prof_fn)(void *user, const clvae_prof_record *r);

/* Always-on step accounting of a backend (cheap: a counter and two clock reads per command).
 * launches: device commands enqueued on either stream (kernels; a GEMM counts once whatever
 * CLBlast runs inside it; buffer copies; uploads; a replayed command buffer counts once).
 * enqueue_ns: host time spent inside the enqueue calls (argument checks and setting, clEnqueue*,
 * barriers, markers, flushes), never waiting for the device. */
typedef struct clvae_backend_counters {
    uint64_t launches;
    uint64_t enqueue_ns;
    uint64_t replays;   /* recorded steps replayed (graph_replay) */
    uint64_t scratch_grows; /* GEMM scratch buffers reallocated larger (a larger GEMM came) */
} clvae_backend_counters;

typedef struct clvae_graph clvae_graph;   /* a recorded training step, backend-defined */

typedef struct clvae_backend_ops {
    const char *name;   /* "ref", "opencl" */
    void (*free)(void *ctx);
    /* Human-readable device name (for metrics.jsonl "device"). */
    const char *(*device_name)(void *ctx);
    bool (*supports)(void *ctx, clvae_op op);

    int (*buffer_alloc)(void *ctx, size_t bytes, clvae_buffer **out);
    void (*buffer_free)(void *ctx, clvae_buffer *buf);
    int (*upload)(void *ctx, clvae_view dst, const void *src, size_t bytes);
    int (*download)(void *ctx, clvae_view src, void *dst, size_t bytes);   /* blocking */
    int (*fill)(void *ctx, clvae_view dst, size_t n, float value);
    int (*copy)(void *ctx, clvae_view dst, clvae_view src, size_t n);
    int (*finish)(void *ctx);

    /* C (M,N) = alpha * op(A) * op(B) + beta * C, row-major; op(A) is (M,K), op(B) is (K,N). */
    int (*gemm)(void *ctx, bool trans_a, bool trans_b, int m, int n, int k, float alpha,
                clvae_view a, int lda, clvae_view b, int ldb, float beta, clvae_view c, int ldc);
    /* y (rows, cols) = act(y + bias[col]), in place. */
    int (*bias_act)(void *ctx, clvae_act act, int rows, int cols, clvae_view bias, clvae_view y);
    /* dy (rows, cols) *= act'(.) expressed through the activation's output y, in place. */
    int (*act_bwd)(void *ctx, clvae_act act, int rows, int cols, clvae_view y, clvae_view dy);
    /* out (cols) = sum over rows of x (rows, cols)   (bias gradients). */
    int (*col_sum)(void *ctx, int rows, int cols, clvae_view x, clvae_view out);
    int (*reparam)(void *ctx, const clvae_reparam_args *a);
    int (*reparam_bwd)(void *ctx, const clvae_reparam_bwd_args *a);
    int (*likelihood)(void *ctx, const clvae_lik_args *a);
    /* acc[0] += scale * sum(x[0..n))  (device-side loss accumulation). */
    int (*sum_add)(void *ctx, size_t n, clvae_view x, float scale, clvae_view acc);
    int (*optimizer)(void *ctx, const clvae_opt_args *a);
    /* dst (count, dim) = src_u8[idx[i], :] / 255  (optional: device-resident datasets). */
    int (*gather_u8)(void *ctx, clvae_view dst, clvae_buffer *src_u8, clvae_view idx_u32,
                     int count, int dim);

    /* ---- Host scheduler (src/train/scheduler.c); optional, all of a group or none ----------
     * Threads: upload_async, ticket_wait and ticket_release may be called from one loader
     * thread while the driving thread enqueues compute; everything else from the driving thread.
     * Global memory and largest single allocation of the device, in bytes. NULL: the data lives
     * in host memory anyway (reference backend). */
    int (*memory_info)(void *ctx, size_t *global_bytes, size_t *max_alloc);
    /* dst (count, dim) = src_f32[idx[i], :]  (device-resident float datasets). */
    int (*gather_f32)(void *ctx, clvae_view dst, clvae_buffer *src_f32, clvae_view idx_u32,
                      int count, int dim);
    /* A pinned host staging buffer of `bytes` bytes; *host stays writable until staging_free. */
    int (*staging_alloc)(void *ctx, size_t bytes, clvae_staging **out, void **host);
    void (*staging_free)(void *ctx, clvae_staging *s);
    /* Copies bytes [0, bytes) of staging `src` into dst on the transfer stream without waiting;
     * the copy starts once `after` has completed (NULL: at once; e.g. the marker behind the step
     * that last read dst, so the host need not wait for it). *done completes when the copy has;
     * `src` must not be written until then. tag >= 0 records the copy for profiling with that
     * tag; -1 does not. */
    int (*upload_async)(void *ctx, clvae_view dst, clvae_staging *src, size_t bytes,
                        clvae_ticket *after, long tag, clvae_ticket **done);
    /* The compute stream's next commands wait for `t` (the host does not). */
    int (*compute_wait)(void *ctx, clvae_ticket *t);
    /* *out completes when everything enqueued on the compute stream so far has. */
    int (*compute_marker)(void *ctx, clvae_ticket **out);
    /* Blocks the calling thread until `t` has completed; an error if its command failed. */
    int (*ticket_wait)(void *ctx, clvae_ticket *t);
    void (*ticket_release)(void *ctx, clvae_ticket *t);   /* NULL t is a no-op */

    /* ---- Profiling (optional group): device timestamps of every command ------------------
     * profile_enable(true) prepares profiling queues and aligns the device clock with the host's
     * (call it before the scheduler starts, with no commands in flight). Compute commands are
     * recorded with the current tag (profile_tag; -1 = not recorded, the initial state).
     * profile_drain waits for the recorded commands, reports each and forgets them. */
    int (*profile_enable)(void *ctx, bool on);
    void (*profile_tag)(void *ctx, long tag);
    int (*profile_drain)(void *ctx, clvae_prof_fn fn, void *user);

    /* Submits the compute commands enqueued so far without waiting for them (optional: NULL
     * where ops run at once). The scheduler calls it after each step, so the device works while
     * the host enqueues the next one. */
    int (*flush)(void *ctx);
    /* Optional: true when the device computes in host memory on host cores (an OpenCL CPU
     * device). Residency auto then streams: a device-side gather buys nothing there, and on
     * PoCL device residency measured 0.6x the throughput of stream (scheduler.c). */
    bool (*host_is_device)(void *ctx);

    /* ---- Stochastic-layer chain (see the argument structs above) ------------------------- */
    int (*gauss_terms)(void *ctx, const clvae_gauss_terms_args *a);
    int (*prior_bwd)(void *ctx, const clvae_prior_bwd_args *a);
    int (*latent_bwd)(void *ctx, const clvae_latent_bwd_args *a);
    int (*iw_weights)(void *ctx, const clvae_iw_args *a);
    /* x (rows, cols): x[r, :] *= w[r]   (IWAE: the likelihood gradient times its weight). */
    int (*row_scale)(void *ctx, int rows, int cols, clvae_view w, clvae_view x);
    /* x (n) in [0, 1]: x[i] = u_i < x[i] ? 1 : 0 with u_i = clvae_philox_uniform(seed, step,
     * stream, i) (dynamic binarization, the same bits on every device). */
    int (*binarize)(void *ctx, size_t n, uint64_t seed, uint64_t step, uint32_t stream,
                    clvae_view x);

    /* ---- Fusions (optional; each equals a sequence of the ops above, bit for bit) --------
     * act_bwd then col_sum in one pass: dy (rows, cols) *= act'(.) through y, and db (cols) =
     * column sums of the new dy (the previous layer's bias gradient). */
    int (*act_bwd_col_sum)(void *ctx, clvae_act act, int rows, int cols, clvae_view y,
                           clvae_view dy, clvae_view db);
    /* gemm (alpha 1, beta 0, ldc = n) then bias_act on y (m, n): one launch where the device's
     * GEMM kernel for the shape adds the bias and activation as it stores C. */
    int (*gemm_bias_act)(void *ctx, bool ta, bool tb, int m, int n, int k, clvae_view a, int lda,
                         clvae_view b, int ldb, clvae_act act, clvae_view bias, clvae_view y);

    /* ---- Conditional models (optional) ----------------------------------------------------
     * out (rows, classes) = onehot(labels[r % batch]): 1 in column labels[r % batch], 0 in the
     * others; labels (batch) are floats holding integers (a value outside 0..classes-1 gives a
     * row of zeros: the host validates labels when it loads them). */
    int (*onehot)(void *ctx, int rows, int batch, int classes, clvae_view labels, clvae_view out);

    /* ---- Categorical layers (optional; see the argument structs above) --------------------- */
    int (*gumbel)(void *ctx, const clvae_gumbel_args *a);
    int (*cat_terms)(void *ctx, const clvae_cat_terms_args *a);
    int (*cat_bwd)(void *ctx, const clvae_cat_bwd_args *a);

    /* ---- Convolutional nets (optional group, all or none; see the structs above) ---------
     * cols (B*OH*OW, C*KH*KW): row (b*OH + oh)*OW + ow, column (c*KH + kh)*KW + kw holds
     * img[b, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw, c] of img (B*H*W, C) NHWC; 0 in the padding. */
    int (*im2col)(void *ctx, const clvae_conv_geom *g, clvae_view img, clvae_view cols);
    /* The adjoint of im2col: img (B*H*W, C) = beta * img + the sum of every cols entry that
     * im2col reads from that pixel (a gather per pixel, no atomics; beta is 0 or 1). */
    int (*col2im)(void *ctx, const clvae_conv_geom *g, clvae_view cols, float beta,
                  clvae_view img);
    /* dst (B, cols, rows) = src (B, rows, cols) transposed per batch item (NCHW <-> NHWC). */
    int (*batch_transpose)(void *ctx, int batch, int rows, int cols, clvae_view src,
                           clvae_view dst);
    /* leaky_relu (slope > 0), as bias_act and act_bwd for the other activations:
     * y = v > 0 ? v : slope v with v = y + bias[col];  dy *= (y > 0 ? 1 : slope). */
    int (*bias_leaky)(void *ctx, float slope, int rows, int cols, clvae_view bias, clvae_view y);
    int (*leaky_bwd)(void *ctx, float slope, int rows, int cols, clvae_view y, clvae_view dy);
    /* out (cols) = sum over rows of (x[r, c] - sum[c] / count)^2, x (rows, cols), sum (cols). */
    int (*col_sq_dev)(void *ctx, int rows, int cols, clvae_view x, clvae_view sum, float count,
                      clvae_view out);
    int (*bn_fwd)(void *ctx, const clvae_bn_fwd_args *a);
    int (*bn_bwd_sums)(void *ctx, const clvae_bn_bwd_args *a);
    int (*bn_bwd)(void *ctx, const clvae_bn_bwd_args *a);
    /* The same products without the column matrix, for a column side of few channels O (a
     * Conv2d to an image's 3 channels: its columns would be O x narrower than they are long).
     * col (B*OH*OW, O) NHWC, img (B*H*W, C) NHWC, w (O, C*KH*KW) (a Conv2d's weight; a
     * ConvTranspose2d's is (IC, OC*KH*KW) with IC on the column side):
     *   conv_direct:    col = im2col(img) . w^T
     *   conv_direct_dx: img = col2im(col . w)                 (overwritten)
     *   conv_direct_dw: w   = col^T . im2col(img)             (overwritten; a fixed-order sum) */
    int (*conv_direct)(void *ctx, const clvae_conv_geom *g, int o, clvae_view img, clvae_view w,
                       clvae_view col);
    int (*conv_direct_dx)(void *ctx, const clvae_conv_geom *g, int o, clvae_view col,
                          clvae_view w, clvae_view img);
    int (*conv_direct_dw)(void *ctx, const clvae_conv_geom *g, int o, clvae_view img,
                          clvae_view col, clvae_view w);

    /* ---- Step accounting and lean steps (optional; see docs/performance.md) -------------- */
    /* Cumulative counters since creation (callers take differences): see the struct below. */
    void (*counters)(void *ctx, clvae_backend_counters *out);
    /* Fusions (each equals the ops it replaces, bit for bit): two sum_adds in one launch,
     * acc0[0] += s0 * sum(x0[0..n0)) and acc1[0] += s1 * sum(x1[0..n1)) (distinct accumulators);
     * reparam_bwd, then db (2R) = column sums of its dheads (the q head's bias gradient). */
    int (*sum_add2)(void *ctx, size_t n0, clvae_view x0, float s0, clvae_view acc0, size_t n1,
                    clvae_view x1, float s1, clvae_view acc1);
    int (*reparam_bwd_col_sum)(void *ctx, const clvae_reparam_bwd_args *a, clvae_view db);
    /* Record and replay of a training step (optional group; OpenCL: cl_khr_command_buffer).
     * graph_begin: the ops until graph_end run as always and are also recorded. Two per-step
     * values may differ on replay: noise_step (reparam's Philox step) and t (the optimizer's
     * step); the recorded ops must use exactly these, every other argument is fixed (the model
     * records one graph per batch size and input view). CLVAE_ERR_UNSUPPORTED: no recording
     * here (not offered, or device.command_buffer = off). graph_end gives *out NULL, with the
     * reason logged once, when something in the step cannot be recorded (a GEMM on CLBlast, a
     * kernel with other per-step arguments). graph_replay runs the recorded step for new values
     * (a step-state write and one command-buffer enqueue). */
    int (*graph_begin)(void *ctx, uint64_t noise_step, uint64_t t);
    int (*graph_end)(void *ctx, clvae_graph **out);
    int (*graph_replay)(void *ctx, clvae_graph *g, uint64_t noise_step, uint64_t t);
    void (*graph_free)(void *ctx, clvae_graph *g);
} clvae_backend_ops;

typedef struct clvae_backend {
    const clvae_backend_ops *ops;
    void *ctx;
} clvae_backend;

/* Creates the backend the [device] config section selects (registry.c).  backend=auto prefers
 * an OpenCL GPU, then accelerator, then CPU device, then the reference backend (with a warning).
 * A selection that matches nothing is CLVAE_ERR_INPUT with the list of what exists. */
int clvae_backend_create(const clvae_config *cfg, clvae_backend *out);
void clvae_backend_free(clvae_backend *b);

/* The reference backend (plain C, the oracle). */
int clvae_ref_backend_create(clvae_backend *out);

#ifdef CLVAE_HAVE_OPENCL
/* The OpenCL backend for an explicit device selection (see registry.c for the policy). */
int clvae_opencl_backend_create(const clvae_config *cfg, clvae_backend *out);
/* Prints every platform and device with the config lines that select it (clvae devices). */
int clvae_opencl_list_devices(void *stream /* FILE* */);
#endif

#endif
