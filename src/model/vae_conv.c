/* The map layers of a net (vae_conv.h): Conv2d / ConvTranspose2d with an optional BatchNorm2d
 * and an activation. Parameter-table entries and shapes, the activation layout, forward and
 * backward as backend ops: one im2col over the whole batch and one GEMM per pass and layer, or
 * for a Conv2d to few channels the direct (column-free) ops. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/vae_internal.h"

#define BN_EPS 1e-5f      /* PyTorch's BatchNorm2d defaults */
#define BN_MOMENTUM 0.1f

static clvae_view pv(const clvae_model *m, size_t off)
{
    return (clvae_view){m->p_buf, off * sizeof(float)};
}

static clvae_view gv(const clvae_model *m, size_t off)
{
    return (clvae_view){m->g_buf, off * sizeof(float)};
}

/* NCHW and NHWC differ only with several channels on maps of several pixels. */
static bool needs_transpose(int c, int h, int w)
{
    return c > 1 && h * w > 1;
}

static int taps(const clvae_conv_layer *l)
{
    return l->k[0] * l->k[1];
}

/* A layer to at most this many channels (a decoder's last layer to an image's channels) runs
 * direct ops (backend.h) where they beat im2col + GEMM on a CPU device (PoCL, measured on
 * dcgan28 and vanilla64): a Conv2d in both passes (its im2col matrix would be the net's largest,
 * 300 MB for vanilla64 at batch 64, feeding GEMMs with a dimension of 3); a ConvTranspose2d
 * in its forward only (conv_direct_dx, its column side being its input: dcgan28's GEMM there
 * has N = 16), its backward keeps im2col + GEMM (the direct kernels would vectorize over its
 * single image channel). */
#define DIRECT_MAX_CH 4

static bool direct(const clvae_conv_layer *l)
{
    return l->out_c <= DIRECT_MAX_CH;
}

static bool direct_bwd(const clvae_conv_layer *l)
{
    return direct(l) && !l->transposed;
}

/* Floats of the layer's im2col matrix per net row: column-side positions x image-side channels
 * x taps (none for a direct Conv2d). */
static size_t cols_per_row(const clvae_conv_layer *l)
{
    if (direct_bwd(l)) return 0;
    return l->transposed ? (size_t)l->in_h * l->in_w * l->out_c * taps(l)
                         : (size_t)l->out_h * l->out_w * l->in_c * taps(l);
}

/* The im2col matrix of a layer is built and consumed in chunks of whole images of at most this
 * many floats (8 MB: it stays in a CPU's last-level cache between the kernel that writes it and
 * the one that reads it, and the scratch stays bounded; vanilla64's last ConvTranspose2d would
 * need 75 MB at batch 64), one image at least; a net's chunk_floats overrides it (tests). */
#define CONV_CHUNK_FLOATS ((size_t)1 << 21)

static int chunk_images(const clvae_convnet *cn, const clvae_conv_layer *l, int rows)
{
    size_t bound = cn->chunk_floats ? cn->chunk_floats : CONV_CHUNK_FLOATS;
    size_t per = cols_per_row(l), n = per ? bound / per : (size_t)rows;
    if (n < 1) n = 1;
    return n < (size_t)rows ? (int)n : rows;
}

/* A Conv2d's forward keeps its im2col matrix for the backward's weight gradient (instead of
 * building it again there: half of dcgan28's im2col time) when the matrix for all `rows` holds
 * at most this many floats (32 MB; or the net's chunk_floats, so the chunked path stays
 * testable); larger ones go through the chunked scratch in both passes. */
#define KEEP_COLS_FLOATS ((size_t)1 << 23)

static bool keep_cols(const clvae_convnet *cn, const clvae_conv_layer *l, size_t rows)
{
    size_t bound = cn->chunk_floats ? cn->chunk_floats : KEEP_COLS_FLOATS;
    size_t per = l->transposed ? 0 : cols_per_row(l);
    return per > 0 && rows <= bound / per;
}

static clvae_conv_geom geom(const clvae_conv_layer *l, int rows)
{
    clvae_conv_geom g = {.batch = rows, .k_h = l->k[0], .k_w = l->k[1], .stride_h = l->s[0],
                         .stride_w = l->s[1], .pad_h = l->p[0], .pad_w = l->p[1],
                         .dil_h = l->d[0], .dil_w = l->d[1]};
    if (l->transposed) {
        g.channels = l->out_c, g.height = l->out_h, g.width = l->out_w;
        g.out_h = l->in_h, g.out_w = l->in_w;
    } else {
        g.channels = l->in_c, g.height = l->in_h, g.width = l->in_w;
        g.out_h = l->out_h, g.out_w = l->out_w;
    }
    return g;
}

/* ---- layout ---------------------------------------------------------------------------- */

/* Output size along one axis, or < 1 when the kernel does not fit. */
static int out_size(const clvae_item *it, int a, int in)
{
    int span = it->d[a] * (it->k[a] - 1);
    if (it->kind == CLVAE_ITEM_CONVT) return (in - 1) * it->s[a] - 2 * it->p[a] + span + it->o[a] + 1;
    int room = in + 2 * it->p[a] - span - 1;
    return room < 0 ? 0 : room / it->s[a] + 1;
}

static int add_conv_params(clvae_model *m, clvae_conv_layer *L, const char *name, int *index,
                           const char *prefix)
{
    char n[96];
    int K = taps(L), IC = L->in_c, OC = L->out_c;
    snprintf(n, sizeof n, "%s.weight", name);
    L->w = m->n_floats;
    /* Conv2d (OC, IC, KH, KW); ConvTranspose2d (IC, OC, KH, KW). fan_in / fan_out as PyTorch's
     * _calculate_fan_in_and_fan_out: size(1) * K and size(0) * K. */
    int r = L->transposed ? IC : OC, c = L->transposed ? OC : IC;
    clvae_param *p = clvae_model_add_param(m, n, r, c * K, c * K, r * K, CLVAE_PINIT_WEIGHT);
    p->ndim = 4;
    p->shape[0] = (size_t)r, p->shape[1] = (size_t)c, p->shape[2] = (size_t)L->k[0];
    p->shape[3] = (size_t)L->k[1];
    snprintf(n, sizeof n, "%s.bias", name);
    L->b = m->n_floats;
    clvae_model_add_param(m, n, OC, 1, c * K, r * K, CLVAE_PINIT_ZERO);
    if (!L->bn) return CLVAE_OK;
    static const char *const bn_names[] = {"weight", "bias", "running_mean", "running_var"};
    static const clvae_pinit bn_init[] = {CLVAE_PINIT_ONE, CLVAE_PINIT_ZERO, CLVAE_PINIT_STAT_ZERO,
                                          CLVAE_PINIT_STAT_ONE};
    L->bn_w = m->n_floats;
    L->bn_rm = L->bn_w + 2 * (size_t)OC;
    for (int i = 0; i < 4; i++) {
        snprintf(n, sizeof n, "%s.%d.%s", prefix, *index, bn_names[i]);
        clvae_model_add_param(m, n, OC, 1, OC, OC, bn_init[i]);
    }
    (*index)++;
    return CLVAE_OK;
}

int clvae_conv_layout(clvae_model *m, clvae_convnet *cn, const char *key, const char *prefix,
                      int *index, const clvae_item *items, int n, bool last_out, int *c, int *h,
                      int *w, clvae_act dflt_act, float slope)
{
    char name[80];
    for (int i = 0; i < n; i++) {
        const clvae_item *it = &items[i];
        clvae_conv_layer *L = &cn->l[cn->n++];
        bool out = last_out && i == n - 1;
        L->transposed = it->kind == CLVAE_ITEM_CONVT;
        L->in_c = *c, L->in_h = *h, L->in_w = *w;
        L->out_c = it->channels;
        memcpy(L->k, it->k, sizeof L->k), memcpy(L->s, it->s, sizeof L->s);
        memcpy(L->p, it->p, sizeof L->p), memcpy(L->d, it->d, sizeof L->d);
        L->out_h = out_size(it, 0, *h), L->out_w = out_size(it, 1, *w);
        if (L->out_h < 1 || L->out_w < 1)
            return clvae_error(CLVAE_ERR_CONFIG, "config: [model] %s, %s layer %d: the kernel "
                               "%dx%d (dilation %dx%d) is larger than the padded input %dx%d "
                               "(%dx%d plus padding %dx%d)", key, L->transposed ? "convt" : "conv",
                               i + 1, it->k[0], it->k[1], it->d[0], it->d[1],
                               *h + 2 * it->p[0], *w + 2 * it->p[1], *h, *w, it->p[0], it->p[1]);
        L->bn = it->bn;
        L->act = it->has_act ? (clvae_act)it->act : out ? CLVAE_ACT_IDENTITY : dflt_act;
        L->slope = slope;
        if (out) snprintf(name, sizeof name, "%s.out", prefix);
        else snprintf(name, sizeof name, "%s.%d", prefix, (*index)++);
        add_conv_params(m, L, name, index, prefix);
        *c = L->out_c, *h = L->out_h, *w = L->out_w;
    }
    return CLVAE_OK;
}

void clvae_conv_take(clvae_convnet *cn, size_t rows, clvae_view out, clvae_take_fn take,
                     void *cursor)
{
    if (cn->n == 0) return;
    size_t cols = 0, map = 0;
    for (int i = 0; i < cn->n; i++) {
        clvae_conv_layer *L = &cn->l[i];
        size_t o = rows * clvae_conv_out_size(L);
        bool last = i == cn->n - 1;
        if (last && cn->at_output && !needs_transpose(L->out_c, L->out_h, L->out_w)) L->y = out;
        else take(cursor, &L->y, o);
        if (L->bn) {
            take(cursor, &L->z, o);
            take(cursor, &L->xhat, o);
            take(cursor, &L->invstd, (size_t)L->out_c);
            take(cursor, &L->sums, 2 * (size_t)L->out_c);
        }
        L->cols = (clvae_view){0};
        if (keep_cols(cn, L, rows)) {
            take(cursor, &L->cols, rows * cols_per_row(L));
        } else {
            size_t chunk = (size_t)chunk_images(cn, L, (int)rows) * cols_per_row(L);
            cols = chunk > cols ? chunk : cols;
        }
        map = clvae_conv_in_size(L) > map ? clvae_conv_in_size(L) : map;
        map = clvae_conv_out_size(L) > map ? clvae_conv_out_size(L) : map;
    }
    const clvae_conv_layer *first = &cn->l[0], *last = &cn->l[cn->n - 1];
    if (needs_transpose(first->in_c, first->in_h, first->in_w))
        take(cursor, &cn->in, rows * clvae_conv_in_size(first));
    if (!cn->at_output) {
        if (needs_transpose(last->out_c, last->out_h, last->out_w))
            take(cursor, &cn->flat, rows * clvae_conv_out_size(last));
        else
            cn->flat = last->y;
        take(cursor, &cn->dflat, rows * clvae_conv_out_size(last));
    } else {
        take(cursor, &cn->dflat, rows * clvae_conv_in_size(first));
    }
    take(cursor, &cn->cols, cols);
    cn->kept_rows = 0;
    take(cursor, &cn->da, rows * map);
    take(cursor, &cn->db, rows * map);
    cn->max_cols = cols;
    cn->max_map = map;
}

/* ---- forward --------------------------------------------------------------------------- */

/* y (or z) = act(x W + b) without batch norm, in place. */
static int act_fwd(clvae_model *m, clvae_act act, float slope, int rows, int cols, clvae_view b,
                   clvae_view y)
{
    const clvae_backend_ops *o = m->be->ops;
    if (act == CLVAE_ACT_LEAKY_RELU) return o->bias_leaky(m->be->ctx, slope, rows, cols, b, y);
    return o->bias_act(m->be->ctx, act, rows, cols, b, y);
}

/* Synchronized BatchNorm: in a sharded training step every process sums v (n floats) over all
 * of them (through the host); otherwise nothing. */
static int bn_reduce(clvae_model *m, clvae_view v, size_t n)
{
    if (!m->bn_sum || !m->shard_batch) return CLVAE_OK;
    float *host = malloc(n * sizeof(float)); /* (n) */
    if (!host) return clvae_error(CLVAE_ERR_NOMEM, "batch norm: out of host memory");
    int st = m->be->ops->download(m->be->ctx, v, host, n * sizeof(float));
    if (!st) st = m->bn_sum(host, n);
    if (!st) st = m->be->ops->upload(m->be->ctx, v, host, n * sizeof(float));
    free(host);
    return st;
}

/* The rows BatchNorm's statistics cover: this process's n, or in a sharded step the whole
 * batch's (every net runs on rows proportional to the shard's batch rows). */
static float bn_count(const clvae_model *m, int n)
{
    if (!m->bn_sum || !m->shard_batch) return (float)n;
    return (float)((double)n * m->shard_batch / m->shard_rows);
}

/* BatchNorm2d of z into y: batch statistics (training; running ones updated) or running ones. */
static int bn_fwd(clvae_model *m, const clvae_conv_layer *L, int n, bool training)
{
    const clvae_backend_ops *o = m->be->ops;
    void *c = m->be->ctx;
    int C = L->out_c;
    float count = bn_count(m, n);
    if (training) {
        TRY(o->col_sum(c, n, C, L->z, L->sums));
        TRY(bn_reduce(m, L->sums, (size_t)C));
        TRY(o->col_sq_dev(c, n, C, L->z, L->sums, count, clvae_view_at(L->sums, (size_t)C)));
        TRY(bn_reduce(m, clvae_view_at(L->sums, (size_t)C), (size_t)C));
    }
    clvae_bn_fwd_args a = {.rows = n, .channels = C, .count = count, .eps = BN_EPS,
                           .momentum = BN_MOMENTUM, .slope = L->slope, .training = training,
                           .act = L->act, .x = L->z, .gamma = pv(m, L->bn_w),
                           .beta = pv(m, L->bn_w + (size_t)C), .running_mean = pv(m, L->bn_rm),
                           .running_var = pv(m, L->bn_rm + (size_t)C), .invstd = L->invstd,
                           .y = L->y};
    if (training) a.sums = L->sums, a.xhat = L->xhat;
    return o->bn_fwd(c, &a);
}

/* z (rows*OH*OW, OC) from x (rows*IH*IW, IC) through the im2col matrix, in chunks of images:
 * Conv2d im2col then cols . W^T; ConvTranspose2d x . W then col2im. */
static int cols_fwd(clvae_model *m, clvae_convnet *cn, const clvae_conv_layer *L, int rows,
                    clvae_view x, clvae_view z)
{
    const clvae_backend_ops *o = m->be->ops;
    void *c = m->be->ctx;
    int IC = L->in_c, OC = L->out_c, K = taps(L), step = chunk_images(cn, L, rows);
    if (L->cols.buf) { /* one im2col for every row, kept for the backward */
        clvae_conv_geom g = geom(L, rows);
        TRY(o->im2col(c, &g, x, L->cols));                                  // (n_out, IC*K)
        return o->gemm(c, false, true, rows * L->out_h * L->out_w, OC, IC * K, 1.0f, L->cols,
                       IC * K, pv(m, L->w), IC * K, 0.0f, z, OC);
    }
    for (int r0 = 0; r0 < rows; r0 += step) {
        int nr = rows - r0 < step ? rows - r0 : step;
        clvae_conv_geom g = geom(L, nr);
        clvae_view xc = clvae_view_at(x, (size_t)r0 * clvae_conv_in_size(L));
        clvae_view zc = clvae_view_at(z, (size_t)r0 * clvae_conv_out_size(L));
        int n_out = nr * L->out_h * L->out_w, n_in = nr * L->in_h * L->in_w;
        if (!L->transposed) {
            TRY(o->im2col(c, &g, xc, cn->cols));                             // (n_out, IC*K)
            TRY(o->gemm(c, false, true, n_out, OC, IC * K, 1.0f, cn->cols, IC * K, pv(m, L->w),
                        IC * K, 0.0f, zc, OC));
        } else {
            TRY(o->gemm(c, false, false, n_in, OC * K, IC, 1.0f, xc, IC, pv(m, L->w), OC * K,
                        0.0f, cn->cols, OC * K));                             // (n_in, OC*K)
            TRY(o->col2im(c, &g, cn->cols, 0.0f, zc));
        }
    }
    return CLVAE_OK;
}

/* One layer on `rows` net rows from x (rows*IH*IW, IC) NHWC into L->y (rows*OH*OW, OC). */
static int layer_fwd(clvae_model *m, clvae_convnet *cn, const clvae_conv_layer *L, int rows,
                     clvae_view x, bool training)
{
    const clvae_backend_ops *o = m->be->ops;
    void *c = m->be->ctx;
    clvae_conv_geom g = geom(L, rows);
    clvae_view z = L->bn ? L->z : L->y;
    int IC = L->in_c, OC = L->out_c, n_out = rows * L->out_h * L->out_w;
    if (direct(L) && L->transposed) {
        TRY(o->conv_direct_dx(c, &g, IC, x, pv(m, L->w), z));                // (n_out, OC)
    } else if (direct(L)) {
        TRY(o->conv_direct(c, &g, OC, x, pv(m, L->w), z));                   // (n_out, OC)
    } else {
        TRY(cols_fwd(m, cn, L, rows, x, z));
    }
    if (!L->bn) return act_fwd(m, L->act, L->slope, n_out, OC, pv(m, L->b), z);
    TRY(o->bias_act(c, CLVAE_ACT_IDENTITY, n_out, OC, pv(m, L->b), z));
    return bn_fwd(m, L, n_out, training);
}

int clvae_conv_fwd(clvae_model *m, clvae_convnet *cn, int rows, clvae_view x, clvae_view out,
                   bool training)
{
    const clvae_backend_ops *o = m->be->ops;
    const clvae_conv_layer *first = &cn->l[0], *last = &cn->l[cn->n - 1];
    clvae_view in = x;
    cn->kept_rows = 0;
    if (needs_transpose(first->in_c, first->in_h, first->in_w)) {
        TRY(o->batch_transpose(m->be->ctx, rows, first->in_c, first->in_h * first->in_w, x,
                               cn->in)); // (rows, C, HW) -> (rows, HW, C)
        in = cn->in;
    }
    for (int i = 0; i < cn->n; i++) {
        TRY(layer_fwd(m, cn, &cn->l[i], rows, in, training));
        in = cn->l[i].y;
    }
    cn->kept_rows = rows;
    if (!needs_transpose(last->out_c, last->out_h, last->out_w)) return CLVAE_OK;
    return o->batch_transpose(m->be->ctx, rows, last->out_h * last->out_w, last->out_c, last->y,
                              cn->at_output ? out : cn->flat);
}

/* ---- backward -------------------------------------------------------------------------- */

/* d (n, C) from the layer's output back through its activation (and batch norm) to z; writes
 * the bias (and gamma, beta) gradients. */
static int act_bn_bwd(clvae_model *m, const clvae_conv_layer *L, int n, clvae_view d)
{
    const clvae_backend_ops *o = m->be->ops;
    void *c = m->be->ctx;
    int C = L->out_c;
    if (L->act == CLVAE_ACT_LEAKY_RELU) TRY(o->leaky_bwd(c, L->slope, n, C, L->y, d));
    else if (L->act != CLVAE_ACT_IDENTITY && (L->bn || !o->act_bwd_col_sum))
        TRY(o->act_bwd(c, L->act, n, C, L->y, d));
    else if (L->act != CLVAE_ACT_IDENTITY)
        return o->act_bwd_col_sum(c, L->act, n, C, L->y, d, gv(m, L->b));
    if (L->bn) { /* sums = [dgamma | dbeta]: this process's into the gradient arena (summed
                    over processes with the other gradients), every process's for dx */
        clvae_bn_bwd_args a = {.rows = n, .channels = C, .count = bn_count(m, n), .dy = d,
                               .xhat = L->xhat, .gamma = pv(m, L->bn_w), .invstd = L->invstd,
                               .sums = gv(m, L->bn_w), .dx = d};
        TRY(o->bn_bwd_sums(c, &a));
        if (m->bn_sum && m->shard_batch) {
            TRY(o->copy(c, L->sums, a.sums, 2 * (size_t)C));
            TRY(bn_reduce(m, L->sums, 2 * (size_t)C));
            a.sums = L->sums;
        }
        TRY(o->bn_bwd(c, &a));
    }
    return o->col_sum(c, n, C, d, gv(m, L->b));
}

/* One chunk of `rows` images of the im2col backward: dW = beta dW + this chunk's part, and with
 * dx.buf the chunk's dx. Conv2d: dW += d^T . im2col(x), dx = col2im(d . W); ConvTranspose2d:
 * dW += x^T . im2col(d), dx = im2col(d) . W^T. `cols` is the matrix's room; a Conv2d's holds
 * im2col(x) already when `filled` (kept by the forward). */
static int cols_bwd(clvae_model *m, const clvae_conv_layer *L, int rows, clvae_view x,
                    clvae_view d, float beta, clvae_view dx, clvae_view cols, bool filled)
{
    const clvae_backend_ops *o = m->be->ops;
    void *c = m->be->ctx;
    clvae_conv_geom g = geom(L, rows);
    int IC = L->in_c, OC = L->out_c, K = taps(L);
    int n_out = rows * L->out_h * L->out_w, n_in = rows * L->in_h * L->in_w;
    if (!L->transposed) {
        if (!filled) TRY(o->im2col(c, &g, x, cols));                     // (n_out, IC*K)
        TRY(o->gemm(c, true, false, OC, IC * K, n_out, 1.0f, d, OC, cols, IC * K, beta,
                    gv(m, L->w), IC * K));
        if (!dx.buf) return CLVAE_OK;
        TRY(o->gemm(c, false, false, n_out, IC * K, OC, 1.0f, d, OC, pv(m, L->w), IC * K, 0.0f,
                    cols, IC * K));
        return o->col2im(c, &g, cols, 0.0f, dx);
    }
    TRY(o->im2col(c, &g, d, cols));                                      // (n_in, OC*K)
    TRY(o->gemm(c, true, false, IC, OC * K, n_in, 1.0f, x, IC, cols, OC * K, beta,
                gv(m, L->w), OC * K));
    if (!dx.buf) return CLVAE_OK;
    return o->gemm(c, false, true, n_in, IC, OC * K, 1.0f, cols, OC * K, pv(m, L->w), OC * K,
                   0.0f, dx, IC);
}

/* d (rows*OH*OW, OC) of L's output: parameter gradients and, with dx.buf, dx (rows*IH*IW, IC). */
static int layer_bwd(clvae_model *m, clvae_convnet *cn, const clvae_conv_layer *L, int rows,
                     clvae_view x, clvae_view d, clvae_view dx)
{
    const clvae_backend_ops *o = m->be->ops;
    void *c = m->be->ctx;
    clvae_conv_geom g = geom(L, rows);
    int OC = L->out_c, n_out = rows * L->out_h * L->out_w;
    TRY(act_bn_bwd(m, L, n_out, d));
    if (direct_bwd(L)) {
        TRY(o->conv_direct_dw(c, &g, OC, x, d, gv(m, L->w)));
        return dx.buf ? o->conv_direct_dx(c, &g, OC, d, pv(m, L->w), dx) : CLVAE_OK;
    }
    if (L->cols.buf && cn->kept_rows == rows) /* the forward's im2col(x), every row */
        return cols_bwd(m, L, rows, x, d, 0.0f, dx, L->cols, true);
    int step = chunk_images(cn, L, rows);
    for (int r0 = 0; r0 < rows; r0 += step) {
        int nr = rows - r0 < step ? rows - r0 : step;
        float beta = r0 ? 1.0f : 0.0f; /* dW sums over the chunks */
        clvae_view xc = clvae_view_at(x, (size_t)r0 * clvae_conv_in_size(L));
        clvae_view dc = clvae_view_at(d, (size_t)r0 * clvae_conv_out_size(L));
        clvae_view dxc = dx.buf ? clvae_view_at(dx, (size_t)r0 * clvae_conv_in_size(L)) : dx;
        TRY(cols_bwd(m, L, nr, xc, dc, beta, dxc, cn->cols, false));
    }
    return CLVAE_OK;
}

int clvae_conv_bwd(clvae_model *m, clvae_convnet *cn, int rows, clvae_view x, clvae_view dout,
                   clvae_view dx)
{
    const clvae_backend_ops *o = m->be->ops;
    void *c = m->be->ctx;
    const clvae_conv_layer *first = &cn->l[0], *last = &cn->l[cn->n - 1];
    clvae_view d = cn->da, spare = cn->db;
    size_t n_last = (size_t)rows * clvae_conv_out_size(last);
    if (needs_transpose(last->out_c, last->out_h, last->out_w))
        TRY(o->batch_transpose(c, rows, last->out_c, last->out_h * last->out_w, dout, d));
    else
        TRY(o->copy(c, d, dout, n_last)); /* the backward works in place */
    bool t_in = needs_transpose(first->in_c, first->in_h, first->in_w);
    clvae_view in0 = t_in ? cn->in : x;
    for (int i = cn->n - 1; i >= 0; i--) {
        clvae_view in = i == 0 ? in0 : cn->l[i - 1].y, target = spare;
        if (i == 0 && !dx.buf) target = (clvae_view){0};
        else if (i == 0 && !t_in) target = dx;
        TRY(layer_bwd(m, cn, &cn->l[i], rows, in, d, target));
        spare = d;
        d = target;
    }
    if (!dx.buf || !t_in) return CLVAE_OK;
    return o->batch_transpose(c, rows, first->in_h * first->in_w, first->in_c, d, dx);
}
