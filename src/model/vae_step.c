/* The chain's forward pass, its two objectives' backward passes (ELBO with beta and warm-up;
 * the importance-weighted bound with normalized weights) and the optimizer step, as sequences of
 * backend ops (see vae.h for the factorization and the row layout). */
#include <math.h>

#include "core/philox.h"
#include "model/vae_internal.h"

static clvae_view pv(const clvae_model *m, size_t off)
{
    return (clvae_view){m->p_buf, off * sizeof(float)};
}

static clvae_view gv(const clvae_model *m, size_t off)
{
    return (clvae_view){m->g_buf, off * sizeof(float)};
}

/* y (rows, out) = act(x (rows, in) W^T + b); a conditioned layer adds onehot (rows, C)
 * W[:, in:]^T (a second GEMM, beta = 1, on the same (out, in + C) weight). */
static int layer_fwd(clvae_model *m, const clvae_layer *l, int rows, clvae_view x, clvae_view y)
{
    const clvae_backend_ops *o = m->be->ops;
    void *c = m->be->ctx;
    int ld = l->in + l->cond;
    if (!l->cond && l->act != CLVAE_ACT_LEAKY_RELU && o->gemm_bias_act) /* the same bits */
        return o->gemm_bias_act(c, false, true, rows, l->out, l->in, x, l->in, pv(m, l->w), ld,
                                l->act, pv(m, l->b), y);
    TRY(o->gemm(c, false, true, rows, l->out, l->in, 1.0f, x, l->in, pv(m, l->w), ld, 0.0f, y,
                l->out));
    if (l->cond)
        TRY(o->gemm(c, false, true, rows, l->out, l->cond, 1.0f, m->onehot, l->cond,
                    pv(m, l->w + l->in), ld, 1.0f, y, l->out));
    if (l->act == CLVAE_ACT_LEAKY_RELU)
        return o->bias_leaky(c, m->slope, rows, l->out, pv(m, l->b), y);
    return o->bias_act(c, l->act, rows, l->out, pv(m, l->b), y);
}

/* Given dy (rows, out) of the pre-activation, writes dW (out, in) = dy^T x, db = colsum dy
 * (unless the fused act_bwd_col_sum of the layer above already did), and when dx.buf is set
 * dx (rows, in) = dy W + dx_beta * dx (1: another consumer wrote dx). */
static int layer_bwd(clvae_model *m, const clvae_layer *l, int rows, clvae_view x, clvae_view dy,
                     clvae_view dx, float dx_beta, bool db_done)
{
    const clvae_backend_ops *o = m->be->ops;
    void *c = m->be->ctx;
    int ld = l->in + l->cond; /* dW (out, in + C): [dy^T x | dy^T onehot] */
    TRY(o->gemm(c, true, false, l->out, l->in, rows, 1.0f, dy, l->out, x, l->in, 0.0f,
                gv(m, l->w), ld));
    if (l->cond)
        TRY(o->gemm(c, true, false, l->out, l->cond, rows, 1.0f, dy, l->out, m->onehot, l->cond,
                    0.0f, gv(m, l->w + l->in), ld));
    if (!db_done) TRY(o->col_sum(c, rows, l->out, dy, gv(m, l->b)));
    if (!dx.buf) return CLVAE_OK;
    return o->gemm(c, false, false, rows, l->in, l->out, 1.0f, dy, l->out, pv(m, l->w), ld,
                   dx_beta, dx, l->in);
}

/* n->out (rows, head.out) from x (rows, the net's input): map layers first (the encoder's),
 * the dense layers, then the head or the map layers that end the net (the decoder's). */
static int mlp_fwd(clvae_model *m, clvae_mlp *n, int rows, clvae_view x)
{
    clvae_view h = x;
    if (n->conv.n && !n->conv.at_output) {
        TRY(clvae_conv_fwd(m, &n->conv, rows, x, n->out, m->training));
        h = n->conv.flat;
    }
    for (int i = 0; i < n->n_hidden; i++) {
        TRY(layer_fwd(m, &n->hidden[i], rows, h, n->h[i]));
        h = n->h[i];
    }
    if (n->conv.n && n->conv.at_output) return clvae_conv_fwd(m, &n->conv, rows, h, n->out, m->training);
    return layer_fwd(m, &n->head, rows, h, n->out);
}

/* dy (rows, cols) *= act'(.) through y; db = its column sums when db.buf is set (then true). */
static int dense_act_bwd(clvae_model *m, clvae_act act, int rows, int cols, clvae_view y,
                         clvae_view dy, clvae_view db)
{
    const clvae_backend_ops *o = m->be->ops;
    if (act == CLVAE_ACT_LEAKY_RELU) {
        TRY(o->leaky_bwd(m->be->ctx, m->slope, rows, cols, y, dy));
        return db.buf ? o->col_sum(m->be->ctx, rows, cols, dy, db) : CLVAE_OK;
    }
    if (db.buf) return o->act_bwd_col_sum(m->be->ctx, act, rows, cols, y, dy, db);
    return o->act_bwd(m->be->ctx, act, rows, cols, y, dy);
}

/* From n->dout back to the input: dx (rows, in) written, or accumulated, or (buf NULL) not.
 * Between layers: dy *= act'(y), then the next layer's bias gradient; one fused pass where the
 * backend has act_bwd_col_sum (the same bits). */
int clvae_model_mlp_bwd(clvae_model *m, clvae_mlp *n, int rows, clvae_view x, clvae_view dx,
                        bool accumulate)
{
    return clvae_model_mlp_bwd_db(m, n, rows, x, dx, accumulate, false);
}

int clvae_model_mlp_bwd_db(clvae_model *m, clvae_mlp *n, int rows, clvae_view x, clvae_view dx,
                           bool accumulate, bool head_db_done)
{
    const clvae_backend_ops *o = m->be->ops;
    clvae_view dy = n->dout, spare[2] = {m->d1, m->d2}, none = {0};
    bool fused = o->act_bwd_col_sum != NULL, pre = n->conv.n && !n->conv.at_output;
    bool db_done = head_db_done && !(n->conv.n && n->conv.at_output);
    int k = 0, top = n->n_hidden;
    clvae_view x0 = x;
    if (n->conv.n && n->conv.at_output) { /* the map layers end the net: back to the view */
        TRY(clvae_conv_bwd(m, &n->conv, rows, n->h[n->n_hidden - 1], n->dout, n->conv.dflat));
        top = n->n_hidden - 1;
        dy = n->conv.dflat;
        const clvae_layer *v = &n->hidden[top];
        db_done = fused || v->act == CLVAE_ACT_LEAKY_RELU;
        TRY(dense_act_bwd(m, v->act, rows, v->out, n->h[top], dy, db_done ? gv(m, v->b) : none));
    }
    if (pre) { /* the dense part reads the flattened maps; its input gradient goes to them */
        x = n->conv.flat;
        dx = n->conv.dflat;
        accumulate = false;
    }
    for (int i = top; i >= 0; i--) {
        const clvae_layer *l = i == n->n_hidden ? &n->head : &n->hidden[i];
        clvae_view in = i == 0 ? x : n->h[i - 1];
        clvae_view d = i == 0 ? dx : spare[k];
        TRY(layer_bwd(m, l, rows, in, dy, d, i == 0 && accumulate ? 1.0f : 0.0f, db_done));
        db_done = false;
        if (i > 0) {
            const clvae_layer *below = &n->hidden[i - 1];
            bool fuse = fused || below->act == CLVAE_ACT_LEAKY_RELU;
            TRY(dense_act_bwd(m, below->act, rows, l->in, in, d, fuse ? gv(m, below->b) : none));
            db_done = fuse;
        }
        dy = d;
        k ^= 1;
    }
    if (pre) return clvae_conv_bwd(m, &n->conv, rows, x0, n->conv.dflat, none);
    return CLVAE_OK;
}

/* Rows of layer l's q heads: layer 0 shares them over the S samples. */
int clvae_model_q_rows(int l, int b, int S)
{
    return l == 0 ? b : S * b;
}

/* A categorical layer's sample from its logits (hrows rows), `samples` per row: relaxed at
 * m->tau_now (hard: straight-through one-hot; cat_onehot: the exact
 * Gumbel-max sample), g = 0 when deterministic (the mode of the relaxed distribution), and
 * its closed-form KL to the uniform prior (hrows) into L->kl. */
static int sample_categorical(clvae_model *m, clvae_stoch *L, clvae_view logits, int hrows,
                              int samples, uint64_t step, uint32_t stream, bool deterministic)
{
    const clvae_backend_ops *o = m->be->ops;
    int rows = samples * hrows;
    if (deterministic) TRY(o->fill(m->be->ctx, L->eps, (size_t)rows * L->R, 0.0f));
    bool hard = m->hard || m->cat_onehot;
    float tau = m->tau_now;
    clvae_gumbel_args a = {.rows = rows, .hrows = hrows, .groups = L->G, .cats = L->K,
                           .tau = tau, .hard = hard, .noise_given = deterministic,
                           .seed = m->seed, .step = step, .stream = stream, .logits = logits,
                           .g = L->eps, .z = L->z};
    if (hard) a.y = L->y;
    if (!m->shard_batch || deterministic) {
        TRY(o->gumbel(m->be->ctx, &a));
    } else { /* a shard: row r = s*b + i draws the noise of global row s*G + row0 + i */
        int b = m->shard_rows;
        a.rows = a.hrows = b;
        for (int s = 0; s < rows / b; s++) {
            a.noise_row0 = (uint32_t)(s * m->shard_batch + m->shard_row0);
            a.logits = clvae_view_at(logits, hrows == rows ? (size_t)s * b * L->R : 0);
            a.g = clvae_view_at(L->eps, (size_t)s * b * L->R);
            a.z = clvae_view_at(L->z, (size_t)s * b * L->R);
            if (hard) a.y = clvae_view_at(L->y, (size_t)s * b * L->R);
            TRY(o->gumbel(m->be->ctx, &a));
        }
    }
    clvae_cat_terms_args t = {.rows = rows, .hrows = hrows, .groups = L->G, .cats = L->K,
                              .logits = logits, .kl = L->kl};
    return o->cat_terms(m->be->ctx, &t);
}

/* z_l = mu + sigma eps from the heads (hrows rows) for `samples` samples each. */
static int sample(clvae_model *m, clvae_stoch *L, clvae_view heads, int hrows, int samples,
                  uint64_t step, uint32_t stream, bool deterministic)
{
    const clvae_backend_ops *o = m->be->ops;
    if (L->categorical)
        return sample_categorical(m, L, heads, hrows, samples, step, stream, deterministic);
    if (deterministic)
        TRY(o->fill(m->be->ctx, L->eps, (size_t)samples * hrows * L->R, 0.0f));
    clvae_reparam_args a = {.batch = hrows, .samples = samples, .latent = L->R, .seed = m->seed,
                            .step = step, .stream = stream, .eps_given = deterministic,
                            .heads = heads, .z = L->z, .eps = L->eps, .kl = L->kl};
    if (!m->shard_batch || deterministic) return o->reparam(m->be->ctx, &a);
    /* A shard of b rows (row r = s*b + i is global row s*G + row0 + i): layer 0 draws its S
     * samples in one call; a layer above (hrows = S*b, one sample each) one call per block. */
    int b = m->shard_rows, blocks = hrows / b;
    a.batch = b;
    a.noise_batch = (uint32_t)m->shard_batch;
    for (int s = 0; s < blocks; s++) {
        a.noise_row0 = (uint32_t)(s * m->shard_batch + m->shard_row0);
        a.heads = clvae_view_at(heads, (size_t)s * b * 2 * L->R);
        a.z = clvae_view_at(L->z, (size_t)s * b * L->R);
        a.eps = clvae_view_at(L->eps, (size_t)s * b * L->R);
        a.kl = clvae_view_at(L->kl, (size_t)s * b);
        TRY(o->reparam(m->be->ctx, &a));
    }
    return CLVAE_OK;
}

/* Conditional models: m->onehot (rows, C) from the b labels in m->lab (row r: label r % b). */
static int make_onehot(clvae_model *m, int rows, int b)
{
    if (m->classes == 0) return CLVAE_OK;
    return m->be->ops->onehot(m->be->ctx, rows, b, m->classes, m->lab, m->onehot);
}

/* Inference bottom-up, priors, decoder: everything but the loss terms. */
int clvae_model_forward_core(clvae_model *m, int b, int S, uint64_t step, uint32_t stream, bool det)
{
    TRY(make_onehot(m, S * b, b));
    for (int l = 0; l < m->T; l++) {
        clvae_stoch *L = &m->lat[l];
        int hrows = clvae_model_q_rows(l, b, S);
        TRY(mlp_fwd(m, &L->q, hrows, l == 0 ? m->x : m->lat[l - 1].z));
        TRY(sample(m, L, L->q.out, hrows, l == 0 ? S : 1, step, CLVAE_STREAM_LAYER(stream, l), det));
    }
    for (int l = 0; l < m->T - 1; l++) TRY(mlp_fwd(m, &m->lat[l].p, S * b, m->lat[l + 1].z));
    return mlp_fwd(m, &m->dec, S * b, m->lat[0].z);
}

/* Each layer's kl: log q - log p at the sample, except the top's analytic KL under ELBO terms;
 * TERMS_MC also sums them into m->kl_sum (S*b). */
int clvae_model_layer_terms(clvae_model *m, int b, int S, clvae_terms terms)
{
    for (int l = 0; l < m->T; l++) {
        clvae_stoch *L = &m->lat[l];
        if (terms == CLVAE_TERMS_ELBO && l == m->T - 1) break;
        if (L->categorical) { /* exact densities at one-hot samples only */
            if (!m->cat_onehot && !m->hard)
                return clvae_error(CLVAE_ERR_INTERNAL, "model: Monte Carlo terms of a "
                                                       "categorical layer need one-hot samples");
            clvae_cat_terms_args a = {.rows = S * b, .hrows = clvae_model_q_rows(l, b, S),
                                      .groups = L->G, .cats = L->K, .logits = L->q.out,
                                      .z = L->z, .kl = L->kl, .kl_sum = m->kl_sum,
                                      .sum_init = l == 0};
            TRY(m->be->ops->cat_terms(m->be->ctx, &a));
            continue;
        }
        clvae_gauss_terms_args a = {.rows = S * b, .hrows = clvae_model_q_rows(l, b, S), .latent = L->R,
                                    .heads = L->q.out, .z = L->z, .eps = L->eps, .kl = L->kl,
                                    .sum_init = l == 0};
        if (L->has_prior) a.prior = L->p.out;
        if (terms == CLVAE_TERMS_MC) a.kl_sum = m->kl_sum;
        TRY(m->be->ops->gauss_terms(m->be->ctx, &a));
    }
    return CLVAE_OK;
}

int clvae_model_likelihood(clvae_model *m, int b, int s, bool grad, float grad_scale)
{
    clvae_lik_args a = {.kind = m->likelihood, .rows = s * b, .batch = b, .dim = m->dim,
                        .sigma_x = m->sigma_x, .grad_scale = grad_scale, .out = m->o, .x = m->x,
                        .loss = m->loss};
    if (grad) a.dout = m->dout;
    return m->be->ops->likelihood(m->be->ctx, &a);
}

int clvae_model_forward_terms(clvae_model *m, int b, int samples, uint64_t noise_step,
                              uint32_t stream, bool deterministic, clvae_terms terms)
{
    m->tau_now = clvae_model_eval_tau(m);
    m->training = false; /* batch norm from its running statistics */
    TRY(clvae_model_forward_core(m, b, samples, noise_step, stream, deterministic));
    TRY(clvae_model_likelihood(m, b, samples, false, 0.0f));
    return clvae_model_layer_terms(m, b, samples, terms);
}

int clvae_model_forward(clvae_model *m, int b, int samples, uint64_t noise_step, uint32_t stream,
                        bool deterministic)
{
    return clvae_model_forward_terms(m, b, samples, noise_step, stream, deterministic,
                                     CLVAE_TERMS_ELBO);
}

/* The top layer's latents in m->z (rows) down through the priors to the decoder output. */
static int decode_top(clvae_model *m, int rows, bool sampled, uint64_t draw)
{
    m->training = false;
    TRY(make_onehot(m, rows, rows));
    for (int l = m->T - 2; l >= 0; l--) {
        clvae_stoch *L = &m->lat[l];
        TRY(mlp_fwd(m, &L->p, rows, m->lat[l + 1].z));
        TRY(sample(m, L, L->p.out, rows, 1, draw, CLVAE_STREAM_LAYER(CLVAE_STREAM_SAMPLE, l + 1),
                   !sampled));
    }
    return mlp_fwd(m, &m->dec, rows, m->lat[0].z);
}

int clvae_model_decode(clvae_model *m, int rows)
{
    return decode_top(m, rows, false, 0);
}

int clvae_model_decode_sampled(clvae_model *m, int rows, uint64_t draw)
{
    return decode_top(m, rows, true, draw);
}

float clvae_model_tau(const clvae_model *m, uint64_t step)
{
    double t = (double)m->tau0 * exp(-m->tau_decay * (double)step);
    return t > m->tau_min ? (float)t : m->tau_min;
}

float clvae_model_eval_tau(const clvae_model *m)
{
    return clvae_model_tau(m, m->step > 0 ? m->step - 1 : 0);
}

bool clvae_model_categorical(const clvae_model *m)
{
    return m->T > 0 && m->lat[m->T - 1].categorical;
}

float clvae_model_kl_weight(const clvae_model *m)
{
    if (m->beta_warmup <= 0 || m->step >= (uint64_t)m->beta_warmup) return m->beta;
    return m->beta * (float)((double)m->step / (double)m->beta_warmup);
}
