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

clvae_param *clvae_model_add_param(clvae_model *m, const char *name, int rows, int cols,
                                   int fan_in, int fan_out, clvae_pinit init)
{
    clvae_param *p = &m->params[m->n_params++];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->rows = rows;
    p->cols = cols;
    p->offset = m->n_floats;
    p->fan_in = fan_in;
    p->fan_out = fan_out;
    p->is_bias = init != CLVAE_PINIT_WEIGHT;
    p->init = init;
    p->ndim = p->is_bias ? 1 : 2;
    p->shape[0] = (size_t)rows;
    p->shape[1] = (size_t)cols;
    m->n_floats += (size_t)rows * cols;
    return p;
}

static void add_param(clvae_model *m, const char *name, int rows, int cols, int fan_in,
                      int fan_out, bool is_bias)
{
    clvae_model_add_param(m, name, rows, cols, fan_in, fan_out,
                          is_bias ? CLVAE_PINIT_ZERO : CLVAE_PINIT_WEIGHT);
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

/* Dense hidden layers "<prefix>.<index>" of items [first, last) of w, from `in` (the first also
 * from the model's one-hot); an item's activation word overrides act. Returns the last width. */
static int add_dense(clvae_model *m, clvae_mlp *n, const char *prefix, const clvae_widths *w,
                     int first, int last, int index, int in, clvae_act act)
{
    char name[80];
    n->n_hidden = last - first;
    for (int i = first; i < last; i++) {
        const clvae_item *it = &w->item[i];
        snprintf(name, sizeof name, "%s.%d", prefix, index + i - first);
        add_layer(m, &n->hidden[i - first], name, in, i == first ? m->classes : 0, w->w[i],
                  it->has_act ? (clvae_act)it->act : act);
        in = w->w[i];
    }
    return in;
}

/* Hidden layers "<prefix>.<i>" of widths w, from `in`; returns the last width. */
static int add_hidden(clvae_model *m, clvae_mlp *n, const char *prefix, const clvae_widths *w,
                      int in, clvae_act act)
{
    return add_dense(m, n, prefix, w, 0, w->n, 0, in, act);
}

/* The first inference net: its leading conv items on the image, then dense layers on the maps
 * flattened (NCHW). Returns the dense part's output width, or a negative status. */
static int add_q_hidden(clvae_model *m, clvae_mlp *n, const char *prefix, const clvae_widths *w,
                        int in, clvae_act act)
{
    int k = 0, index = 0;
    while (k < w->n && w->item[k].kind != CLVAE_ITEM_DENSE) k++;
    if (k == 0) return add_hidden(m, n, prefix, w, in, act);
    int c = m->img_c, h = m->img_h, wd = m->img_w;
    int st = clvae_conv_layout(m, &n->conv, "encoder", prefix, &index, w->item, k, false, &c, &h,
                               &wd, act, m->slope);
    if (st) return st;
    return add_dense(m, n, prefix, w, k, w->n, index, c * h * wd, act);
}

/* The decoder: dense layers (the last a CxHxW view), then its conv items and decoder_out as
 * map layers ending the net, whose output must be the image; or dense as before. */
static int add_decoder(clvae_model *m, const clvae_config *cfg, const clvae_widths *w, int in)
{
    clvae_mlp *n = &m->dec;
    int k = 0;
    while (k < w->n && w->item[k].kind != CLVAE_ITEM_CONV && w->item[k].kind != CLVAE_ITEM_CONVT) k++;
    add_dense(m, n, "decoder", w, 0, k, 0, in, cfg->model.activation);
    if (k == 0 || w->item[k - 1].kind != CLVAE_ITEM_VIEW)
        return clvae_error(CLVAE_ERR_CONFIG, "config: [model] decoder_out is a conv layer: the "
                           "decoder's last group must end in a CxHxW view and conv items");
    const clvae_item *view = &w->item[k - 1];
    clvae_item items[CLVAE_MAX_LAYERS + 1];
    int n_items = w->n - k, index = k, c = view->channels, h = view->view_h, wd = view->view_w;
    memcpy(items, w->item + k, (size_t)n_items * sizeof items[0]);
    items[n_items] = cfg->model.decoder_out;
    int want_c = m->dim_out / (m->img_h * m->img_w); /* gaussian-learned: [mean | log var] maps */
    if (!items[n_items].channels) items[n_items].channels = want_c;
    n->conv.at_output = true;
    int st = clvae_conv_layout(m, &n->conv, "decoder", "decoder", &index, items, n_items + 1,
                               true, &c, &h, &wd, cfg->model.activation, m->slope);
    if (st) return st;
    if (c != want_c || h != m->img_h || wd != m->img_w)
        return clvae_error(CLVAE_ERR_CONFIG, "config: [model] decoder / decoder_out: the "
                           "decoder's output is %dx%dx%d (CxHxW) but the image is %dx%dx%d%s",
                           c, h, wd, want_c, m->img_h, m->img_w,
                           want_c != m->img_c ? " (twice the image's channels: mean and log "
                                                "variance of likelihood = gaussian-learned)" : "");
    n->head = (clvae_layer){.in = 0, .out = m->dim_out, .act = CLVAE_ACT_IDENTITY};
    return CLVAE_OK;
}

/* The one-hot columns of an MLP's head: all of them when it has no hidden layer. */
static int head_cond(const clvae_model *m, const clvae_mlp *n)
{
    return n->n_hidden == 0 ? m->classes : 0;
}

/* first: the net reads x (its leading conv items run on the image). */
static int add_gaussian_mlp(clvae_model *m, clvae_mlp *n, const char *prefix,
                            const clvae_widths *w, int in, int R, clvae_act act, bool first)
{
    in = first ? add_q_hidden(m, n, prefix, w, in, act) : add_hidden(m, n, prefix, w, in, act);
    if (in < 0) return in;
    add_heads(m, &n->head, prefix, "mu", "logvar", in, head_cond(m, n), R);
    return CLVAE_OK;
}

/* latent_type of layer l (one value applies to every layer). */
static bool layer_categorical(const clvae_config *cfg, int l)
{
    int n = cfg->model.n_latent_type;
    if (n <= 0) return false;
    return cfg->model.latent_type[n == 1 ? 0 : l] == CLVAE_LATENT_CATEGORICAL;
}

static int layout_chain(clvae_model *m, const clvae_config *cfg)
{
    int st;
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
            int h = l == 0 ? add_q_hidden(m, &L->q, prefix, &cfg->model.encoder[l], in, cfg->model.activation)
                           : add_hidden(m, &L->q, prefix, &cfg->model.encoder[l], in, cfg->model.activation);
            if (h < 0) return h;
            snprintf(prefix + strlen(prefix), sizeof prefix - strlen(prefix), ".out");
            add_layer(m, &L->q.head, prefix, h, head_cond(m, &L->q), L->R, CLVAE_ACT_IDENTITY);
        } else if ((st = add_gaussian_mlp(m, &L->q, prefix, &cfg->model.encoder[l], in, L->R,
                                          cfg->model.activation, l == 0))) {
            return st;
        }
    }
    for (int l = T - 2; l >= 0; l--) {
        clvae_stoch *L = &m->lat[l];
        L->has_prior = true;
        snprintf(prefix, sizeof prefix, "p%d", l + 1);
        add_gaussian_mlp(m, &L->p, prefix, &cfg->model.decoder[T - 2 - l], m->lat[l + 1].R, L->R,
                         cfg->model.activation, false);
    }
    if (cfg->model.decoder_out.kind != CLVAE_ITEM_DENSE)
        return add_decoder(m, cfg, &cfg->model.decoder[T - 1], m->lat[0].R);
    int in = add_hidden(m, &m->dec, "decoder", &cfg->model.decoder[T - 1], m->lat[0].R, cfg->model.activation);
    if (m->likelihood == CLVAE_LIK_GAUSSIAN_LEARNED)
        add_heads(m, &m->dec.head, "decoder", "out", "logvar", in, head_cond(m, &m->dec), m->dim);
    else
        add_layer(m, &m->dec.head, "decoder.out", in, head_cond(m, &m->dec), m->dim,
                  CLVAE_ACT_IDENTITY);
    return CLVAE_OK;
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

/* Whether the config has map layers (then x must be an image). */
static bool config_has_conv(const clvae_config *cfg)
{
    if (cfg->model.decoder_out.kind != CLVAE_ITEM_DENSE) return true;
    for (int i = 0; i < cfg->model.encoder[0].n; i++)
        if (cfg->model.encoder[0].item[i].kind != CLVAE_ITEM_DENSE) return true;
    return false;
}

/* The image shape of conv layers: x is (C, H, W), NCHW rows of C*H*W = dim values. */
static int set_image(clvae_model *m, const clvae_config *cfg, int dim, const int chw[3])
{
    if (!config_has_conv(cfg)) return CLVAE_OK;
    if (!chw || chw[0] < 1)
        return clvae_error(CLVAE_ERR_CONFIG, "config: [model] encoder / decoder_out: conv layers "
                           "on data without an image shape (%d features per sample, "
                           "data.image_shape = %s): set data.image_shape = HxW or HxWxC", dim,
                           cfg->data.image_shape);
    if ((long)chw[0] * chw[1] * chw[2] != dim)
        return clvae_error(CLVAE_ERR_CONFIG, "config: [data] image_shape = %s: %dx%dx%d is not "
                           "the data's %d features per sample", cfg->data.image_shape, chw[1],
                           chw[2], chw[0], dim);
    m->img_c = chw[0], m->img_h = chw[1], m->img_w = chw[2];
    m->has_conv = true;
    return CLVAE_OK;
}

/* data.image_shape without the data: HxW (C = 1), HxWxC, none, or auto: a one-channel square,
 * else a three-channel one (the data's own (n, h, w[, c]) shape needs the caller:
 * clvae_model_layout_image). chw[0] = 0: not an image. */
static void image_from_config(const clvae_config *cfg, int dim, int chw[3])
{
    const char *v = cfg->data.image_shape;
    int h, w, c = 1, used = 0;
    chw[0] = chw[1] = chw[2] = 0;
    if (sscanf(v, "%dx%d%n", &h, &w, &used) == 2 && (!v[used] || sscanf(v + used, "x%d%n", &c, &used) == 1)) {
        if (h > 0 && w > 0 && c > 0) chw[0] = c, chw[1] = h, chw[2] = w;
        return;
    }
    if (strcmp(v, "auto") != 0 && *v) return;
    for (c = 1; c <= 3; c += 2) {
        int s = (int)lround(sqrt((double)dim / c));
        if (s > 0 && (long)s * s * c == dim) {
            chw[0] = c, chw[1] = chw[2] = s;
            return;
        }
    }
}

int clvae_model_layout(clvae_model *m, const clvae_config *cfg, int dim)
{
    int chw[3];
    image_from_config(cfg, dim, chw);
    return clvae_model_layout_image(m, cfg, dim, chw);
}

int clvae_model_layout_data(clvae_model *m, const clvae_config *cfg, const clvae_dataset *ds)
{
    int chw[3], dim = (int)ds->dim;
    const char *v = cfg->data.image_shape;
    size_t px = (size_t)ds->rows * (size_t)ds->cols;
    image_from_config(cfg, dim, chw);
    if ((strcmp(v, "auto") == 0 || !*v) && ds->rows > 1 && px && ds->dim % px == 0)
        chw[0] = (int)(ds->dim / px), chw[1] = ds->rows, chw[2] = ds->cols;
    return clvae_model_layout_image(m, cfg, dim, chw);
}

/* Whether any layer of the model normalizes: BN's statistics need the batch in one place. */
static bool model_has_bn(const clvae_model *m)
{
    const clvae_mlp *nets[] = {&m->lat[0].q, &m->dec};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < nets[i]->conv.n; j++)
            if (nets[i]->conv.l[j].bn) return true;
    return false;
}

int clvae_model_layout_image(clvae_model *m, const clvae_config *cfg, int dim, const int chw[3])
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
    int st = check_categorical(m, cfg);
    if (st) return st;
    m->hard = cfg->model.hard;
    m->tau0 = (float)cfg->train.tau;
    m->tau_min = (float)cfg->train.tau_min;
    m->tau_decay = cfg->train.tau_decay;
    m->slope = (float)cfg->model.leaky_slope;
    if ((st = set_image(m, cfg, dim, chw))) return st;
    if ((st = layout_chain(m, cfg))) return st;
    m->has_bn = model_has_bn(m);
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
 * N(0, 2 / fan_in); biases zero. Parameter i draws from (seed, step = i, stream INIT). Conv
 * weights take the same two schemes with PyTorch's fans (Conv2d: fan_in = in * kh * kw, fan_out
 * = out * kh * kw; ConvTranspose2d: its weight's dim 1 and dim 0 times kh * kw, as
 * torch.nn.init computes them); BatchNorm's weight and running variance start at one, its
 * bias and running mean at zero, as PyTorch's. */
static void init_host_params(const clvae_model *m, clvae_init init, float *p)
{
    for (int i = 0; i < m->n_params; i++) {
        const clvae_param *pr = &m->params[i];
        float *w = p + pr->offset;
        size_t n = (size_t)pr->rows * pr->cols;
        if (pr->is_bias) {
            bool one = pr->init == CLVAE_PINIT_ONE || pr->init == CLVAE_PINIT_STAT_ONE;
            for (size_t j = 0; j < n; j++) w[j] = one ? 1.0f : 0.0f;
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

static void take_cursor(void *c, clvae_view *v, size_t count)
{
    take(c, v, count);
}

static void take_mlp(arena_cursor *c, clvae_mlp *n, size_t rows)
{
    for (int i = 0; i < n->n_hidden; i++) take(c, &n->h[i], rows * n->hidden[i].out);
    take(c, &n->out, rows * n->head.out);
    take(c, &n->dout, rows * n->head.out);
    clvae_conv_take(&n->conv, rows, n->out, take_cursor, c);
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

/* Floats of the activation arena for b inputs x s samples (a scratch copy: every net, conv
 * layers included, is embedded in the struct, so the copy's views are the only ones written). */
static size_t activation_floats(const clvae_model *m, int b, int s)
{
    clvae_model tmp = *m;
    tmp.max_batch = b, tmp.samples = s;
    return layout_activations(&tmp, NULL);
}

void clvae_model_fit_pass(const clvae_model *m, size_t bytes, int *batch, int *samples)
{
    size_t floats = bytes / sizeof(float);
    while (*batch > 1 && activation_floats(m, *batch, *samples) > floats) {
        /* the arena grows linearly in the batch: jump to the estimate, then step down */
        size_t one = activation_floats(m, 1, *samples), two = activation_floats(m, 2, *samples);
        size_t per = two > one ? two - one : 1, base = one > per ? one - per : 0;
        long fit = floats > base ? (long)((floats - base) / per) : 1;
        *batch = fit < 1 ? 1 : (fit < *batch ? (int)fit : *batch - 1);
    }
    while (*samples > 1 && activation_floats(m, *batch, *samples) > floats)
        *samples = *samples / 2 > 1 ? *samples / 2 : 1;
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
    bool leaky = m->lat[0].q.conv.n || m->dec.conv.n; /* conv nets need the whole group */
    for (int l = 0; l < m->T && !leaky; l++) {
        const clvae_mlp *nets[] = {&m->lat[l].q, &m->lat[l].p, l == 0 ? &m->dec : &m->lat[l].q};
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < nets[i]->n_hidden; j++)
                leaky = leaky || nets[i]->hidden[j].act == CLVAE_ACT_LEAKY_RELU;
    }
    for (clvae_op op = CLVAE_OP_CONV_FIRST; leaky && op < CLVAE_OP_COUNT; op++)
        if (!be->ops->supports(be->ctx, op))
            return clvae_error(CLVAE_ERR_DEVICE,
                               "the %s backend on \"%s\" lacks the convolutional-net ops (im2col, "
                               "col2im, batch norm, leaky_relu) that conv layers and "
                               "activation = leaky_relu need; use [device] backend = ref",
                               be->ops->name, be->ops->device_name(be->ctx));
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
    m->n_graphs = 0; /* a copy (clvae_model_gemm_shapes) does not own the original's graphs */
    m->graphs_off = false;
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
    clvae_model_graphs_free(m);
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
