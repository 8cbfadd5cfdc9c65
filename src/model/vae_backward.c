/* The training step: loss accumulation, the backward pass of the ELBO (beta, warm-up) or of the
 * importance-weighted bound, and the optimizer. The objective is decided here only: it sets
 * the weight c_r of every row's terms (ELBO: a constant; IWAE: the normalized importance weight
 * softmax_s(log w)/B) and every layer's backward takes those weights.
 *
 * Order of the backward (each z_l gradient is complete before its layer's q backward):
 * 1. decoder -> dz_0 (written); 2. each prior term and prior MLP, bottom-up: dz_l += d(-log p),
 * the prior MLP writes dz_l+1 (its first consumer); IWAE: the top's N(0, I) term; 3. each layer's
 * q, top-down: dheads from dz_l (+ analytic KL at the top under ELBO, + the log q term), then
 * the inference MLP adds its input gradient into dz_l-1 (GEMM beta = 1). A categorical top
 * layer takes dz through the relaxed softmax (straight-through when hard) plus its KL. */
#include "core/log.h"
#include "core/philox.h"
#include "model/vae_internal.h"

static clvae_view gv_at(const clvae_model *m, size_t off)
{
    return (clvae_view){m->g_buf, off * sizeof(float)};
}

/* Row weights of the layer terms: weights (S*b) or a constant scale. */
typedef struct row_weights {
    clvae_view w;   /* buf NULL: constant */
    float scale;
} row_weights;

/* One loss sum: acc[at] += scale * sum(x[0..n)). */
typedef struct loss_sum {
    size_t n;
    clvae_view x;
    float scale;
    int at;
} loss_sum;

/* Each accumulator has one sum; they go two per launch where the backend fuses sum_adds. */
static int accumulate_losses(clvae_model *m, int b, int S, bool iwae)
{
    const clvae_backend_ops *o = m->be->ops;
    void *c = m->be->ctx;
    loss_sum sums[CLVAE_MAX_STOCH + 2];
    int k = 0;
    sums[k++] = (loss_sum){(size_t)S * b, m->loss, 1.0f / S, 0};
    for (int l = 0; l < m->T; l++) {
        /* the top's analytic KL (ELBO) has one entry per q row; the others one per sample */
        bool analytic = !iwae && l == m->T - 1;
        size_t n = analytic ? (size_t)clvae_model_q_rows(l, b, S) : (size_t)S * b;
        sums[k++] = (loss_sum){n, m->lat[l].kl, n == (size_t)S * b ? 1.0f / S : 1.0f, 4 + l};
    }
    if (iwae) sums[k++] = (loss_sum){(size_t)b, m->bound, -1.0f, 2};
    for (int i = 0; i < k; i++) {
        const loss_sum *s = &sums[i], *t = &sums[i + 1];
        if (o->sum_add2 && i + 1 < k) {
            TRY(o->sum_add2(c, s->n, s->x, s->scale, clvae_view_at(m->acc, (size_t)s->at), t->n,
                            t->x, t->scale, clvae_view_at(m->acc, (size_t)t->at)));
            i++;
        } else {
            TRY(o->sum_add(c, s->n, s->x, s->scale, clvae_view_at(m->acc, (size_t)s->at)));
        }
    }
    return CLVAE_OK;
}

/* Step 2: the generative side's gradients into the z's. */
static int priors_bwd(clvae_model *m, int b, int S, row_weights c, bool iwae)
{
    const clvae_backend_ops *o = m->be->ops;
    int rows = S * b;
    for (int l = 0; l < m->T; l++) {
        clvae_stoch *L = &m->lat[l];
        if (!L->has_prior && !iwae) break; /* the top's ELBO KL is analytic: no z term */
        clvae_prior_bwd_args a = {.rows = rows, .latent = L->R, .scale = c.scale, .weights = c.w,
                                  .z = L->z, .dz = L->dz};
        if (L->has_prior) {
            a.prior = L->p.out;
            a.dprior = L->p.dout;
        }
        TRY(o->prior_bwd(m->be->ctx, &a));
        if (L->has_prior)
            TRY(clvae_model_mlp_bwd(m, &L->p, rows, m->lat[l + 1].z, m->lat[l + 1].dz, false));
    }
    return CLVAE_OK;
}

/* Step 3: each layer's q heads, top-down, and the inference MLPs. */
static int posteriors_bwd(clvae_model *m, int b, int S, row_weights c, bool iwae, float kw,
                          int gb)
{
    const clvae_backend_ops *o = m->be->ops;
    for (int l = m->T - 1; l >= 0; l--) {
        clvae_stoch *L = &m->lat[l];
        int hrows = clvae_model_q_rows(l, b, S), samples = l == 0 ? S : 1;
        bool head_db = false;
        if (L->categorical) { /* relaxed (or straight-through) sample + closed-form KL */
            float klw = kw / (float)clvae_model_q_rows(l, gb, S); /* the global batch's rows */
            clvae_cat_bwd_args a = {.hrows = hrows, .samples = samples, .groups = L->G,
                                    .cats = L->K, .tau = m->tau_now, .kl_weight = klw,
                                    .logits = L->q.out, .y = m->hard ? L->y : L->z,
                                    .dz = L->dz, .dlogits = L->q.dout};
            TRY(o->cat_bwd(m->be->ctx, &a));
        } else if (!iwae && l == m->T - 1) { /* analytic KL to N(0, I), no Monte Carlo log q term */
            float klw = kw / (float)clvae_model_q_rows(l, gb, S); /* the global batch's rows */
            clvae_reparam_bwd_args a = {.batch = hrows, .samples = samples, .latent = L->R,
                                        .kl_weight = klw, .heads = L->q.out, .eps = L->eps,
                                        .dz = L->dz, .dheads = L->q.dout};
            /* a dense head: its bias gradient (the column sums of dheads) in the same pass */
            head_db = o->reparam_bwd_col_sum && !(L->q.conv.n && L->q.conv.at_output);
            if (head_db)
                TRY(o->reparam_bwd_col_sum(m->be->ctx, &a, gv_at(m, L->q.head.b)));
            else
                TRY(o->reparam_bwd(m->be->ctx, &a));
        } else {
            clvae_latent_bwd_args a = {.hrows = hrows, .samples = samples, .latent = L->R,
                                       .scale = c.scale, .weights = c.w, .heads = L->q.out,
                                       .eps = L->eps, .dz = L->dz, .dheads = L->q.dout};
            TRY(o->latent_bwd(m->be->ctx, &a));
        }
        clvae_view none = {0};
        TRY(clvae_model_mlp_bwd_db(m, &L->q, hrows, l == 0 ? m->x : m->lat[l - 1].z,
                                   l == 0 ? none : m->lat[l - 1].dz, true, head_db));
    }
    return CLVAE_OK;
}

/* Gradients of b rows normalized by a batch of gb rows (gb = b unless sharded). */
static int forward_backward(clvae_model *m, int b, int gb, uint64_t noise_step, uint32_t stream)
{
    const clvae_backend_ops *o = m->be->ops;
    int S = m->samples, rows = S * b;
    bool iwae = m->objective == CLVAE_OBJ_IWAE;
    float kw = clvae_model_kl_weight(m);
    row_weights c = {{0}, kw / (float)(S * gb)};
    m->tau_now = clvae_model_tau(m, m->step);
    m->training = true; /* batch norm from the batch's statistics, updating the running ones */
    int st = clvae_model_forward_core(m, b, S, noise_step, stream, false);
    m->training = false;
    TRY(st);
    TRY(clvae_model_likelihood(m, b, S, true, iwae ? 1.0f : 1.0f / (float)(S * gb)));
    TRY(clvae_model_layer_terms(m, b, S, iwae ? CLVAE_TERMS_MC : CLVAE_TERMS_ELBO));
    if (iwae) {
        clvae_iw_args a = {.batch = b, .samples = S, .scale = 1.0f / (float)gb, .nll = m->loss,
                           .kl = m->kl_sum, .weights = m->iw, .bound = m->bound};
        TRY(o->iw_weights(m->be->ctx, &a));
        TRY(o->row_scale(m->be->ctx, rows, m->dim_out, m->iw, m->dout));
        c = (row_weights){m->iw, 1.0f};
    }
    TRY(accumulate_losses(m, b, S, iwae));
    TRY(clvae_model_mlp_bwd(m, &m->dec, rows, m->lat[0].z, m->lat[0].dz, false));
    TRY(priors_bwd(m, b, S, c, iwae));
    return posteriors_bwd(m, b, S, c, iwae, kw, gb);
}

int clvae_model_forward_backward(clvae_model *m, int b, uint64_t noise_step, uint32_t stream)
{
    return forward_backward(m, b, b, noise_step, stream);
}

/* Dynamic binarization of a shard's b rows as rows row0.. of the whole batch: the op draws by
 * element index from 0, so the rows go to their global place in the d1 scratch (at least
 * max_batch x D floats, unused before the backward), the op runs over [0, (row0 + b) D) and the
 * rows come back with the whole batch's bits (the rows before row0 are drawn for nothing). */
static int binarize_shard(clvae_model *m, int b, int row0)
{
    const clvae_backend_ops *o = m->be->ops;
    void *c = m->be->ctx;
    size_t D = (size_t)m->dim, n = (size_t)b * D;
    if (row0 + b > m->max_batch)
        return clvae_error(CLVAE_ERR_INTERNAL, "binarize: shard rows %d..%d past the model's %d",
                           row0, row0 + b, m->max_batch);
    clvae_view at = clvae_view_at(m->d1, (size_t)row0 * D);
    TRY(o->copy(c, at, m->x, n));
    TRY(o->binarize(c, (size_t)(row0 + b) * D, m->seed, m->step, CLVAE_STREAM_BINARIZE, m->d1));
    return o->copy(c, m->x, at, n);
}

int clvae_model_train_grads(clvae_model *m, int b, int row0, int gb)
{
    if (m->binarize == CLVAE_BIN_DYNAMIC && gb != b && row0 > 0) TRY(binarize_shard(m, b, row0));
    else if (m->binarize == CLVAE_BIN_DYNAMIC)
        TRY(m->be->ops->binarize(m->be->ctx, (size_t)b * m->dim, m->seed, m->step,
                                 CLVAE_STREAM_BINARIZE, m->x));
    if (gb != b) {
        m->shard_row0 = row0;
        m->shard_rows = b;
        m->shard_batch = gb;
    }
    int st = forward_backward(m, b, gb, m->step, CLVAE_STREAM_EPS_TRAIN);
    m->shard_row0 = m->shard_rows = m->shard_batch = 0;
    return st;
}

int clvae_model_apply_grads(clvae_model *m)
{
    m->step++;
    clvae_opt_args a = {.kind = m->opt, .n = m->n_floats, .lr = m->lr, .beta1 = 0.9f,
                        .beta2 = 0.999f, .eps = 1e-8f, .momentum = m->momentum, .t = m->step,
                        .params = {m->p_buf, 0}, .grads = {m->g_buf, 0}, .m = {m->m_buf, 0},
                        .v = {m->v_buf, 0}};
    return m->be->ops->optimizer(m->be->ctx, &a);
}

/* Whether this step may be recorded and replayed: its ops' arguments must be the same every
 * step but for the Philox step and Adam's t (which the backend's step state carries). Not so:
 * dynamic binarization and categorical layers (per-step draws and temperature), a KL warm-up
 * in progress, conditional models (labels per upload slot), conv nets (scratch buffers). */
static bool graph_eligible(const clvae_model *m)
{
    const clvae_backend_ops *o = m->be->ops;
    if (m->graphs_off || !o->graph_begin || m->binarize == CLVAE_BIN_DYNAMIC || m->classes)
        return false;
    if (m->beta_warmup > 0 && m->step < (uint64_t)m->beta_warmup) return false;
    if (m->dec.conv.n) return false;
    for (int l = 0; l < m->T; l++)
        if (m->lat[l].categorical || m->lat[l].q.conv.n || m->lat[l].p.conv.n) return false;
    return true;
}

void clvae_model_graphs_free(clvae_model *m)
{
    for (int i = 0; i < m->n_graphs && m->be->ops->graph_free; i++)
        if (m->graphs[i].g) m->be->ops->graph_free(m->be->ctx, m->graphs[i].g);
    m->n_graphs = 0;
}

/* The plain step, recorded as a graph for this batch size and input view on the way. */
static int record_step(clvae_model *m, int b, float kw)
{
    const clvae_backend_ops *o = m->be->ops;
    int st = o->graph_begin(m->be->ctx, m->step, m->step + 1);
    if (st == CLVAE_ERR_UNSUPPORTED) {
        m->graphs_off = true;
        return clvae_model_train_step_plain(m, b);
    }
    if (st) return st;
    uint64_t noise = m->step;
    st = clvae_model_train_step_plain(m, b);
    clvae_graph *g = NULL;
    int end = o->graph_end(m->be->ctx, &g);
    if (st || end) {
        if (g) o->graph_free(m->be->ctx, g);
        return st ? st : end;
    }
    if (g && m->step != noise + 1) { /* cannot happen: one optimizer step per step */
        o->graph_free(m->be->ctx, g);
        g = NULL;
    }
    /* g NULL: this step is not recordable (the backend said why once); the entry keeps the
     * key from being recorded again, other keys (a full batch after a short one) still are */
    m->graphs[m->n_graphs++] = (struct clvae_step_graph){g, b, m->x, m->lr, kw};
    return CLVAE_OK;
}

int clvae_model_train_step_plain(clvae_model *m, int b)
{
    TRY(clvae_model_train_grads(m, b, 0, b));
    return clvae_model_apply_grads(m);
}

/* One step: a recorded graph's replay when one matches (batch size, input view, settings),
 * else the ops one by one (recording a graph where the backend can). A failed replay is
 * logged and the step runs op by op, as do all later ones. */
int clvae_model_train_step(clvae_model *m, int b)
{
    if (!graph_eligible(m)) return clvae_model_train_step_plain(m, b);
    float kw = clvae_model_kl_weight(m);
    for (int i = 0; i < m->n_graphs; i++) {
        const struct clvae_step_graph *g = &m->graphs[i];
        if (g->b != b || g->x.buf != m->x.buf || g->x.off != m->x.off || g->lr != m->lr ||
            g->kw != kw)
            continue;
        if (!g->g) return clvae_model_train_step_plain(m, b); /* refused when recorded */
        int st = m->be->ops->graph_replay(m->be->ctx, g->g, m->step, m->step + 1);
        if (!st) {
            m->step++;
            return CLVAE_OK;
        }
        CLVAE_WARN("model: replaying the recorded step failed (%s); steps run op by op from "
                   "here (device.command_buffer = off skips recording)", clvae_last_error());
        clvae_model_graphs_free(m);
        m->graphs_off = true;
        return clvae_model_train_step_plain(m, b);
    }
    if (m->n_graphs == CLVAE_MAX_GRAPHS) return clvae_model_train_step_plain(m, b);
    return record_step(m, b, kw);
}

int clvae_model_take_all_losses(clvae_model *m, clvae_losses *out)
{
    float acc[CLVAE_ACC_FLOATS];
    TRY(m->be->ops->download(m->be->ctx, m->acc, acc, sizeof acc));
    TRY(m->be->ops->fill(m->be->ctx, m->acc, CLVAE_ACC_FLOATS, 0.0f));
    *out = (clvae_losses){.recon = acc[0], .neg_bound = acc[2]};
    for (int l = 0; l < m->T; l++) {
        out->kl_layer[l] = acc[4 + l];
        out->kl += acc[4 + l];
    }
    return CLVAE_OK;
}

int clvae_model_take_losses(clvae_model *m, double *recon_sum, double *kl_sum)
{
    clvae_losses l;
    TRY(clvae_model_take_all_losses(m, &l));
    *recon_sum = l.recon;
    *kl_sum = l.kl;
    return CLVAE_OK;
}
