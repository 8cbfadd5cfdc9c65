/* VAE parameter table, arena allocation, activation layout and parameter initialization. */
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

/* A plain layer: weight then bias. */
static void add_layer(clvae_model *m, clvae_layer *l, const char *prefix, int in, int out,
                      clvae_act act)
{
    char name[64];
    l->in = in;
    l->out = out;
    l->act = act;
    snprintf(name, sizeof name, "%s.weight", prefix);
    l->w = m->n_floats;
    add_param(m, name, out, in, in, out, false);
    snprintf(name, sizeof name, "%s.bias", prefix);
    l->b = m->n_floats;
    add_param(m, name, out, 1, in, out, true);
}

/* Two heads sharing an input, laid out weight, weight, bias, bias so they act as ONE layer
 * with 2*out outputs: [a | b] = x [Wa; Wb]^T + [ba | bb]. */
static void add_heads(clvae_model *m, clvae_layer *l, const char *a, const char *b, int in,
                      int out)
{
    char name[64];
    l->in = in;
    l->out = 2 * out;
    l->act = CLVAE_ACT_IDENTITY;
    l->w = m->n_floats;
    snprintf(name, sizeof name, "%s.weight", a);
    add_param(m, name, out, in, in, out, false);
    snprintf(name, sizeof name, "%s.weight", b);
    add_param(m, name, out, in, in, out, false);
    l->b = m->n_floats;
    snprintf(name, sizeof name, "%s.bias", a);
    add_param(m, name, out, 1, in, out, true);
    snprintf(name, sizeof name, "%s.bias", b);
    add_param(m, name, out, 1, in, out, true);
}

int clvae_model_layout(clvae_model *m, const clvae_config *cfg, int dim)
{
    memset(m, 0, sizeof *m);
    m->dim = dim;
    m->latent = cfg->model.latent;
    m->likelihood = cfg->model.likelihood;
    m->dim_out = m->likelihood == CLVAE_LIK_GAUSSIAN_LEARNED ? 2 * dim : dim;
    m->sigma_x = (float)cfg->model.sigma_x;
    m->beta = (float)cfg->model.beta;
    m->opt = cfg->train.optimizer;
    m->lr = (float)cfg->train.lr;
    m->momentum = (float)cfg->train.momentum;
    m->seed = cfg->train.seed;
    m->init = cfg->model.init;
    m->n_enc = cfg->model.n_encoder;
    m->n_dec = cfg->model.n_decoder;
    char prefix[32];
    int in = dim;
    for (int i = 0; i < m->n_enc; i++) {
        snprintf(prefix, sizeof prefix, "encoder.%d", i);
        add_layer(m, &m->enc[i], prefix, in, cfg->model.encoder[i], cfg->model.activation);
        in = cfg->model.encoder[i];
    }
    add_heads(m, &m->heads, "encoder.mu", "encoder.logvar", in, m->latent);
    in = m->latent;
    for (int i = 0; i < m->n_dec; i++) {
        snprintf(prefix, sizeof prefix, "decoder.%d", i);
        add_layer(m, &m->dec[i], prefix, in, cfg->model.decoder[i], cfg->model.activation);
        in = cfg->model.decoder[i];
    }
    if (m->likelihood == CLVAE_LIK_GAUSSIAN_LEARNED)
        add_heads(m, &m->out, "decoder.out", "decoder.logvar", in, dim);
    else
        add_layer(m, &m->out, "decoder.out", in, dim, CLVAE_ACT_IDENTITY);
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

static int max_width(const clvae_model *m)
{
    int w = m->dim_out > m->heads.out ? m->dim_out : m->heads.out;
    for (int i = 0; i < m->n_enc; i++) w = m->enc[i].out > w ? m->enc[i].out : w;
    for (int i = 0; i < m->n_dec; i++) w = m->dec[i].out > w ? m->dec[i].out : w;
    return w > m->dim ? w : m->dim;
}

/* Lays out the activation arena: returns its size in floats and sets every view's offset. */
static size_t layout_activations(clvae_model *m, clvae_buffer *buf)
{
    size_t B = (size_t)m->max_batch, SB = B * m->samples, R = m->latent, off = 0;
#define TAKE(view, count)                                                                          \
    do {                                                                                           \
        (view).buf = buf;                                                                          \
        (view).off = off * sizeof(float);                                                          \
        off += ((count) + 15) & ~(size_t)15; /* 64-byte aligned sub-buffers */                   \
    } while (0)
    TAKE(m->x, B * m->dim);
    for (int i = 0; i < m->n_enc; i++) TAKE(m->enc_h[i], B * m->enc[i].out);
    TAKE(m->hd, B * 2 * R);
    TAKE(m->dhd, B * 2 * R);
    TAKE(m->z, SB * R);
    TAKE(m->eps, SB * R);
    TAKE(m->kl, B);
    for (int i = 0; i < m->n_dec; i++) TAKE(m->dec_h[i], SB * m->dec[i].out);
    TAKE(m->o, SB * m->dim_out);
    TAKE(m->dout, SB * m->dim_out);
    TAKE(m->loss, SB);
    TAKE(m->d1, SB * max_width(m));
    TAKE(m->d2, SB * max_width(m));
    TAKE(m->acc, 4);
#undef TAKE
    return off;
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
    return CLVAE_OK;
}

int clvae_model_init(clvae_model *m, clvae_backend *be, int max_batch, int samples, bool init_params)
{
    const clvae_backend_ops *o = be->ops;
    clvae_view pv, mv, vv, gv;
    float *host = NULL;
    int st;
    m->be = be;
    m->max_batch = max_batch;
    m->samples = samples;
    m->step = 0;
    if ((st = alloc_arenas(m))) goto fail;
    pv = (clvae_view){m->p_buf, 0};
    mv = (clvae_view){m->m_buf, 0};
    vv = (clvae_view){m->v_buf, 0};
    gv = (clvae_view){m->g_buf, 0};
    if ((st = o->fill(be->ctx, mv, m->n_floats, 0.0f))) goto fail;
    if ((st = o->fill(be->ctx, vv, m->n_floats, 0.0f))) goto fail;
    if ((st = o->fill(be->ctx, gv, m->n_floats, 0.0f))) goto fail;
    if ((st = o->fill(be->ctx, m->acc, 4, 0.0f))) goto fail;
    if (init_params) {
        host = malloc(m->n_floats * sizeof(float));
        if (!host) {
            st = clvae_error(CLVAE_ERR_NOMEM, "model init: out of host memory");
            goto fail;
        }
        init_host_params(m, m->init, host);
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
