/* VAE parameter table, arena allocation, activation layout and parameter initialization.
 *
 * Tensor names (PyTorch nn.Linear shapes). One stochastic layer (the classic VAE, names kept
 * from the first release): encoder.<i>, encoder.mu, encoder.logvar, decoder.<i>, decoder.out
 * (and decoder.logvar for gaussian-learned). T > 1 layers, t = 1..T with 1 nearest x:
 * q<t>.<i>, q<t>.mu, q<t>.logvar (inference MLP of layer t), p<t>.<i>, p<t>.mu, p<t>.logvar
 * (prior MLP of layer t < T, from layer t+1), decoder.<i>, decoder.out (layer 1 -> x).
 * Table order (it drives the Philox init): inference MLPs bottom-up, prior MLPs top-down, the
 * decoder; for T = 1 exactly the first release's order.
 * A conditional model (classes C > 0) appends onehot(y) to the input of every MLP: the first
 * layer's weight of each (e.g. encoder.0.weight) is (H, in + C), columns [in, in + C) for the
 * one-hot, as nn.Linear(in + C, H) on torch.cat([x, onehot(y)], 1) (fan_in in + C).
 * A categorical top layer's inference head is one layer of G*K logits, "<prefix>.out" (the
 * state_dict names of a PyTorch Gumbel-softmax VAE: encoder.<i>, encoder.out, decoder.<i>,
 * decoder.out; the logits of group g are rows [g*K, (g+1)*K) of encoder.out.weight, as
 * .view(B, G, K) reads them), and the decoder's first layer reads its G*K relaxed one-hots. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/philox.h"
#include "model/vae.h"

static void add_param(clvae_model *m, const char *name, int rows, int cols, int fan_in,
                      int fan_out, bool is_bias)
{
    clvae_param *p = &m->params[m->n_params++];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->rows = rows;
    p->cols = cols;
    p->offset = m->n_floats;
    p->fan_in = fan_in;
    p->fan_out = fan_out;
    p->is_bias = is_bias;
    m->n_floats += (size_t)rows * cols;
}

/* A plain layer: weight then bias; cond one-hot input columns after the in of x. */
static void add_layer(clvae_model *m, clvae_layer *l, const char *prefix, int in, int cond,
                      int out, clvae_act act)
{
    char name[96];
    l->in = in;
    l->cond = cond;
    l->out = out;
    l->act = act;
    snprintf(name, sizeof name, "%s.weight", prefix);
    l->w = m->n_floats;
    add_param(m, name, out, in + cond, in + cond, out, false);
    snprintf(name, sizeof name, "%s.bias", prefix);
    l->b = m->n_floats;
    add_param(m, name, out, 1, in + cond, out, true);
}

/* Two heads sharing an input, laid out weight, weight, bias, bias so they act as ONE layer
 * with 2*out outputs: [a | b] = x [Wa; Wb]^T + [ba | bb]. */
static void add_heads(clvae_model *m, clvae_layer *l, const char *prefix, const char *a,
                      const char *b, int in, int cond, int out)
{
    char name[96];
    int k = in + cond;
    l->in = in;
    l->cond = cond;
    l->out = 2 * out;
    l->act = CLVAE_ACT_IDENTITY;
    l->w = m->n_floats;
    snprintf(name, sizeof name, "%s.%s.weight", prefix, a);
    add_param(m, name, out, k, k, out, false);
    snprintf(name, sizeof name, "%s.%s.weight", prefix, b);
    add_param(m, name, out, k, k, out, false);
    l->b = m->n_floats;
    snprintf(name, sizeof name, "%s.%s.bias", prefix, a);
    add_param(m, name, out, 1, k, out, true);
    snprintf(name, sizeof name, "%s.%s.bias", prefix, b);
    add_param(m, name, out, 1, k, out, true);
}

/* Hidden layers "<prefix>.<i>" of widths w, from `in` (the first also from the model's
 * one-hot); returns the last width. */
static int add_hidden(clvae_model *m, clvae_mlp *n, const char *prefix, const clvae_widths *w,
                      int in, clvae_act act)
{
    char name[80];
    n->n_hidden = w->n;
    for (int i = 0; i < w->n; i++) {
        snprintf(name, sizeof name, "%s.%d", prefix, i);
        add_layer(m, &n->hidden[i], name, in, i == 0 ? m->classes : 0, w->w[i], act);
        in = w->w[i];
    }
    return in;
}

/* The one-hot columns of an MLP's head: all of them when it has no hidden layer. */
static int head_cond(const clvae_model *m, const clvae_mlp *n)
{
    return n->n_hidden == 0 ? m->classes : 0;
}

static void add_gaussian_mlp(clvae_model *m, clvae_mlp *n, const char *prefix,
                             const clvae_widths *w, int in, int R, clvae_act act)
{
    in = add_hidden(m, n, prefix, w, in, act);
    add_heads(m, &n->head, prefix, "mu", "logvar", in, head_cond(m, n), R);
}

/* latent_type of layer l (one value applies to every layer). */
static bool layer_categorical(const clvae_config *cfg, int l)
{
    int n = cfg->model.n_latent_type;
    if (n <= 0) return false;
    return cfg->model.latent_type[n == 1 ? 0 : l] == CLVAE_LATENT_CATEGORICAL;
}

static void layout_chain(clvae_model *m, const clvae_config *cfg)
{
    char prefix[32];
    int T = m->T;
    for (int l = 0; l < T; l++) {
        clvae_stoch *L = &m->lat[l];
        L->categorical = layer_categorical(cfg, l);
        L->G = L->categorical ? cfg->model.categorical[0] : 0;
        L->K = L->categorical ? cfg->model.categorical[1] : 0;
        L->R = L->categorical ? L->G * L->K : cfg->model.latent[l];
        L->q.rows_per_input = l == 0 ? 1 : 0; /* 0: set to S at init */
        if (T == 1) snprintf(prefix, sizeof prefix, "encoder");
        else snprintf(prefix, sizeof prefix, "q%d", l + 1);
        int in = l == 0 ? m->dim : m->lat[l - 1].R;
        if (L->categorical) {
            int h = add_hidden(m, &L->q, prefix, &cfg->model.encoder[l], in, cfg->model.activation);
            snprintf(prefix + strlen(prefix), sizeof prefix - strlen(prefix), ".out");
            add_layer(m, &L->q.head, prefix, h, head_cond(m, &L->q), L->R, CLVAE_ACT_IDENTITY);
        } else {
            add_gaussian_mlp(m, &L->q, prefix, &cfg->model.encoder[l], in, L->R,
                             cfg->model.activation);
        }
    }
    for (int l = T - 2; l >= 0; l--) {
        clvae_stoch *L = &m->lat[l];
        L->has_prior = true;
        snprintf(prefix, sizeof prefix, "p%d", l + 1);
        add_gaussian_mlp(m, &L->p, prefix, &cfg->model.decoder[T - 2 - l], m->lat[l + 1].R, L->R,
                         cfg->model.activation);
    }
    int in = add_hidden(m, &m->dec, "decoder", &cfg->model.decoder[T - 1], m->lat[0].R, cfg->model.activation);
    if (m->likelihood == CLVAE_LIK_GAUSSIAN_LEARNED)
        add_heads(m, &m->dec.head, "decoder", "out", "logvar", in, head_cond(m, &m->dec), m->dim);
    else
        add_layer(m, &m->dec.head, "decoder.out", in, head_cond(m, &m->dec), m->dim,
                  CLVAE_ACT_IDENTITY);
}

/* What the chain supports for categorical layers (the config's validation says the same to
 * the user, naming the keys; this guards every other caller). */
static int check_categorical(const clvae_model *m, const clvae_config *cfg)
{
    bool any = false;
    for (int l = 0; l < m->T; l++) {
        if (!layer_categorical(cfg, l)) continue;
        any = true;
        if (l != m->T - 1)
            return clvae_error(CLVAE_ERR_CONFIG, "model: a categorical layer must be the top one "
                                                 "(layer %d of %d is categorical)", l + 1, m->T);
    }
    if (!any) return CLVAE_OK;
    if (cfg->model.categorical[0] < 1 || cfg->model.categorical[1] < 2)
        return clvae_error(CLVAE_ERR_CONFIG, "model: a categorical layer needs categorical = GxK "
                                             "with G >= 1 and K >= 2 (have %dx%d)",
                           cfg->model.categorical[0], cfg->model.categorical[1]);
    if (cfg->train.objective == CLVAE_OBJ_IWAE)
        return clvae_error(CLVAE_ERR_CONFIG, "model: IWAE training of a categorical layer needs "
                                             "the Concrete density, which clvae does not build");
    if (!(cfg->train.tau > 0) || !(cfg->train.tau_min > 0))
        return clvae_error(CLVAE_ERR_CONFIG, "model: the Gumbel-softmax temperature must be > 0 "
                                             "(tau %g, tau_min %g)",
                           cfg->train.tau, cfg->train.tau_min);
    return CLVAE_OK;
}

int clvae_model_layout(clvae_model *m, const clvae_config *cfg, int dim)
{
    memset(m, 0, sizeof *m);
    if (cfg->model.n_latent < 1 || cfg->model.n_latent > CLVAE_MAX_STOCH ||
        cfg->model.n_encoder != cfg->model.n_latent || cfg->model.n_decoder != cfg->model.n_latent)
        return clvae_error(CLVAE_ERR_CONFIG, "model: %d latent layers need as many encoder and "
                                             "decoder groups (have %d, %d)",
                           cfg->model.n_latent, cfg->model.n_encoder, cfg->model.n_decoder);
    m->dim = dim;
    m->T = cfg->model.n_latent;
    m->likelihood = cfg->model.likelihood;
    m->dim_out = m->likelihood == CLVAE_LIK_GAUSSIAN_LEARNED ? 2 * dim : dim;
    m->sigma_x = (float)cfg->model.sigma_x;
    m->beta = (float)cfg->model.beta;
    m->beta_warmup = cfg->model.beta_warmup;
    m->objective = cfg->train.objective;
    m->binarize = cfg->data.binarize;
    m->opt = cfg->train.optimizer;
    m->lr = (float)cfg->train.lr;
    m->momentum = (float)cfg->train.momentum;
    m->seed = cfg->train.seed;
    m->init = cfg->model.init;
    m->classes = cfg->model.conditional ? cfg->model.classes : 0;
    if (cfg->model.conditional && m->classes < 1)
        return clvae_error(CLVAE_ERR_CONFIG, "config: [model] conditional = true needs the "
                                             "number of classes (model.classes, or labels to "
                                             "take it from)");
    for (int g = 0; g < cfg->model.n_encoder + cfg->model.n_decoder; g++) {
        const clvae_widths *w = g < cfg->model.n_encoder ? &cfg->model.encoder[g]
                                                         : &cfg->model.decoder[g - cfg->model.n_encoder];
        for (int i = 0; i < w->n; i++)
            if (w->item[i].kind != CLVAE_ITEM_DENSE)
                return clvae_error(CLVAE_ERR_CONFIG, "model: conv layers are not built yet");
    }
    int st = check_categorical(m, cfg);
    if (st) return st;
    m->hard = cfg->model.hard;
    m->tau0 = (float)cfg->train.tau;
    m->tau_min = (float)cfg->train.tau_min;
    m->tau_decay = cfg->train.tau_decay;
    layout_chain(m, cfg);
    m->latent = m->lat[m->T - 1].R;
    return CLVAE_OK;
}

int clvae_model_find_param(const clvae_model *m, const char *name)
{
    for (int i = 0; i < m->n_params; i++)
        if (!strcmp(m->params[i].name, name)) return i;
    return -1;
}

/* Philox init: weights Xavier-uniform U(-a, a), a = sqrt(6 / (fan_in + fan_out)), or He-normal
 * N(0, 2 / fan_in); biases zero. Parameter i draws from (seed, step = i, stream INIT). */
static void init_host_params(const clvae_model *m, clvae_init init, float *p)
{
    for (int i = 0; i < m->n_params; i++) {
        const clvae_param *pr = &m->params[i];
        float *w = p + pr->offset;
        size_t n = (size_t)pr->rows * pr->cols;
        if (pr->is_bias) {
            memset(w, 0, n * sizeof(float));
            continue;
        }
        for (size_t j = 0; j < n; j++) {
            if (init == CLVAE_INIT_HE) {
                float sd = sqrtf(2.0f / pr->fan_in);
                w[j] = sd * clvae_philox_normal(m->seed, (uint64_t)i, CLVAE_STREAM_INIT, j);
            } else {
                float a = sqrtf(6.0f / (float)(pr->fan_in + pr->fan_out));
                float u = clvae_philox_uniform(m->seed, (uint64_t)i, CLVAE_STREAM_INIT, j);
                w[j] = a * (2.0f * u - 1.0f);
            }
        }
    }
}

static int mlp_max_width(const clvae_mlp *n, int w)
{
    w = n->head.out > w ? n->head.out : w;
    w = n->head.in > w ? n->head.in : w;
    for (int i = 0; i < n->n_hidden; i++) {
        w = n->hidden[i].out > w ? n->hidden[i].out : w;
        w = n->hidden[i].in > w ? n->hidden[i].in : w;
    }
    return w;
}

static int max_width(const clvae_model *m)
{
    int w = mlp_max_width(&m->dec, m->dim_out > m->dim ? m->dim_out : m->dim);
    for (int l = 0; l < m->T; l++) {
        w = mlp_max_width(&m->lat[l].q, w);
        if (m->lat[l].has_prior) w = mlp_max_width(&m->lat[l].p, w);
    }
    return w;
}

typedef struct arena_cursor {
    clvae_buffer *buf;
    size_t off; /* floats */
} arena_cursor;

static void take(arena_cursor *c, clvae_view *v, size_t count)
{
    v->buf = c->buf;
    v->off = c->off * sizeof(float);
    c->off += (count + 15) & ~(size_t)15; /* 64-byte aligned sub-buffers */
}

static void take_mlp(arena_cursor *c, clvae_mlp *n, size_t rows)
{
    for (int i = 0; i < n->n_hidden; i++) take(c, &n->h[i], rows * n->hidden[i].out);
    take(c, &n->out, rows * n->head.out);
    take(c, &n->dout, rows * n->head.out);
}

/* Lays out the activation arena: returns its size in floats and sets every view's offset. */
static size_t layout_activations(clvae_model *m, clvae_buffer *buf)
{
    size_t B = (size_t)m->max_batch, SB = B * m->samples;
    arena_cursor c = {buf, 0};
    take(&c, &m->x, B * m->dim);
    take(&c, &m->lab, B);
    take(&c, &m->onehot, SB * (size_t)m->classes);
    for (int l = 0; l < m->T; l++) {
        clvae_stoch *L = &m->lat[l];
        L->q.rows_per_input = l == 0 ? 1 : m->samples;
        take_mlp(&c, &L->q, l == 0 ? B : SB);
        if (L->has_prior) {
            L->p.rows_per_input = m->samples;
            take_mlp(&c, &L->p, SB);
        }
        take(&c, &L->z, SB * L->R);
        take(&c, &L->eps, SB * L->R);
        take(&c, &L->dz, SB * L->R);
        if (L->categorical) take(&c, &L->y, SB * L->R);
        take(&c, &L->kl, SB);
    }
    m->dec.rows_per_input = m->samples;
    take_mlp(&c, &m->dec, SB);
    take(&c, &m->loss, SB);
    take(&c, &m->kl_sum, SB);
    take(&c, &m->iw, SB);
    take(&c, &m->bound, B);
    take(&c, &m->d1, SB * max_width(m));
    take(&c, &m->d2, SB * max_width(m));
    take(&c, &m->acc, CLVAE_ACC_FLOATS);
    const clvae_stoch *top = &m->lat[m->T - 1];
    m->z = top->z;
    m->hd = top->q.out;
    m->kl = top->kl;
    m->eps = m->lat[0].eps;
    m->o = m->dec.out;
    m->dout = m->dec.dout;
    return c.off;
}

static int alloc_arenas(clvae_model *m)
{
    const clvae_backend_ops *o = m->be->ops;
    size_t bytes = m->n_floats * sizeof(float);
    int st;
    if ((st = o->buffer_alloc(m->be->ctx, bytes, &m->p_buf))) return st;
    if ((st = o->buffer_alloc(m->be->ctx, bytes, &m->g_buf))) return st;
    if ((st = o->buffer_alloc(m->be->ctx, bytes, &m->m_buf))) return st;
    if ((st = o->buffer_alloc(m->be->ctx, bytes, &m->v_buf))) return st;
    size_t act = layout_activations(m, NULL);
    if ((st = o->buffer_alloc(m->be->ctx, act * sizeof(float), &m->a_buf))) return st;
    layout_activations(m, m->a_buf);
    /* defined contents: a GEMM with beta = 0 may still read C (0 * NaN garbage = NaN) */
    return o->fill(m->be->ctx, (clvae_view){m->a_buf, 0}, act, 0.0f);
}

/* The ops this model's steps call, beyond those of the one-layer ELBO model. */
static int check_ops(const clvae_model *m, clvae_backend *be)
{
    static const struct { clvae_op op; const char *name; } chain[] = {
        {CLVAE_OP_GAUSS_TERMS, "gauss_terms"}, {CLVAE_OP_PRIOR_BWD, "prior_bwd"},
        {CLVAE_OP_LATENT_BWD, "latent_bwd"}, {CLVAE_OP_IW_WEIGHTS, "iw_weights"},
        {CLVAE_OP_ROW_SCALE, "row_scale"}};
    bool needs_chain = m->T > 1 || m->objective == CLVAE_OBJ_IWAE;
    for (size_t i = 0; needs_chain && i < sizeof chain / sizeof chain[0]; i++)
        if (!be->ops->supports(be->ctx, chain[i].op))
            return clvae_error(CLVAE_ERR_DEVICE,
                               "the %s backend on \"%s\" lacks the %s op that hierarchical and "
                               "IWAE models need; use [device] backend = ref",
                               be->ops->name, be->ops->device_name(be->ctx), chain[i].name);
    if (m->classes > 0 && (!be->ops->onehot || !be->ops->supports(be->ctx, CLVAE_OP_ONEHOT)))
        return clvae_error(CLVAE_ERR_DEVICE, "the %s backend lacks the onehot op that "
                                             "model.conditional = true needs",
                           be->ops->name);
    if (clvae_model_categorical(m) &&
        (!be->ops->gumbel || !be->ops->cat_terms || !be->ops->cat_bwd ||
         !be->ops->supports(be->ctx, CLVAE_OP_GUMBEL) ||
         !be->ops->supports(be->ctx, CLVAE_OP_CAT_TERMS) ||
         !be->ops->supports(be->ctx, CLVAE_OP_CAT_BWD)))
        return clvae_error(CLVAE_ERR_DEVICE, "the %s backend lacks the gumbel/cat_terms/cat_bwd "
                                             "ops that model.latent_type = categorical needs",
                           be->ops->name);
    if (m->binarize == CLVAE_BIN_DYNAMIC && !be->ops->supports(be->ctx, CLVAE_OP_BINARIZE))
        return clvae_error(CLVAE_ERR_DEVICE, "the %s backend lacks the binarize op that "
                                             "data.binarize = dynamic needs",
                           be->ops->name);
    return CLVAE_OK;
}

int clvae_model_init(clvae_model *m, clvae_backend *be, int max_batch, int samples, bool init_params)
{
    const clvae_backend_ops *o = be->ops;
    float *host = NULL;
    int st;
    m->be = be;
    m->max_batch = max_batch;
    m->samples = samples;
    m->step = 0;
    if (be->ops->supports && (st = check_ops(m, be))) {
        m->be = NULL;
        return st;
    }
    if ((st = alloc_arenas(m))) goto fail;
    clvae_buffer *zeroed[] = {m->m_buf, m->v_buf, m->g_buf};
    for (int i = 0; i < 3; i++)
        if ((st = o->fill(be->ctx, (clvae_view){zeroed[i], 0}, m->n_floats, 0.0f))) goto fail;
    if ((st = o->fill(be->ctx, m->acc, CLVAE_ACC_FLOATS, 0.0f))) goto fail;
    if (init_params) {
        host = malloc(m->n_floats * sizeof(float));
        if (!host) {
            st = clvae_error(CLVAE_ERR_NOMEM, "model init: out of host memory");
            goto fail;
        }
        init_host_params(m, m->init, host);
        clvae_view pv = {m->p_buf, 0};
        if ((st = o->upload(be->ctx, pv, host, m->n_floats * sizeof(float)))) goto fail;
    }
    free(host);
    return CLVAE_OK;
fail:
    free(host);
    clvae_model_free(m);
    return st;
}

void clvae_model_free(clvae_model *m)
{
    if (!m->be) return;
    const clvae_backend_ops *o = m->be->ops;
    clvae_buffer **bufs[] = {&m->p_buf, &m->g_buf, &m->m_buf, &m->v_buf, &m->a_buf};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        if (*bufs[i]) o->buffer_free(m->be->ctx, *bufs[i]);
        *bufs[i] = NULL;
    }
    m->be = NULL;
}

static int arena_io(clvae_model *m, clvae_buffer *b, float *dst, const float *src)
{
    clvae_view v = {b, 0};
    size_t bytes = m->n_floats * sizeof(float);
    return src ? m->be->ops->upload(m->be->ctx, v, src, bytes)
               : m->be->ops->download(m->be->ctx, v, dst, bytes);
}

int clvae_model_set_labels(clvae_model *m, const uint8_t *labels, int n)
{
    if (m->classes == 0 || n <= 0) return CLVAE_OK;
    if (n > m->max_batch)
        return clvae_error(CLVAE_ERR_INTERNAL, "model: %d labels for a batch of %d", n, m->max_batch);
    float *host = malloc((size_t)n * sizeof(float)); /* (n) */
    if (!host) return clvae_error(CLVAE_ERR_NOMEM, "model: out of host memory");
    for (int i = 0; i < n; i++) host[i] = (float)labels[i];
    int st = m->be->ops->upload(m->be->ctx, m->lab, host, (size_t)n * sizeof(float));
    free(host);
    return st;
}

int clvae_model_fill_labels(clvae_model *m, int label, int n)
{
    if (m->classes == 0 || n <= 0) return CLVAE_OK;
    if (n > m->max_batch)
        return clvae_error(CLVAE_ERR_INTERNAL, "model: %d labels for a batch of %d", n, m->max_batch);
    uint8_t *host = malloc((size_t)n); /* (n) */
    if (!host) return clvae_error(CLVAE_ERR_NOMEM, "model: out of host memory");
    memset(host, label, (size_t)n);
    int st = clvae_model_set_labels(m, host, n);
    free(host);
    return st;
}

int clvae_model_get_params(clvae_model *m, float *dst)
{
    return arena_io(m, m->p_buf, dst, NULL);
}

int clvae_model_set_params(clvae_model *m, const float *src)
{
    return arena_io(m, m->p_buf, NULL, src);
}

int clvae_model_get_grads(clvae_model *m, float *dst)
{
    return arena_io(m, m->g_buf, dst, NULL);
}
