/* The reference backend: every op in plain C on host memory. It is the oracle every device is
 * checked against and the fallback when no OpenCL device exists. Clarity over speed, but the
 * GEMM keeps a vectorizable loop order so a full Fashion-MNIST epoch stays practical. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/ref/ref_math.h"
#include "core/philox.h"

struct clvae_buffer {
    size_t bytes;
    unsigned char *data;
};

typedef struct ref_ctx {
    float *scratch;        /* transposed GEMM operands */
    size_t scratch_floats;
} ref_ctx;

static float *at(clvae_view v)
{
    return (float *)(v.buf->data + v.off);
}

static const char *ref_device_name(void *ctx)
{
    return "reference (plain C)";
}

static bool ref_supports(void *ctx, clvae_op op)
{
    return op < CLVAE_OP_COUNT;
}

static int ref_buffer_alloc(void *ctx, size_t bytes, clvae_buffer **out)
{
    clvae_buffer *b = calloc(1, sizeof *b);
    if (!b) return clvae_error(CLVAE_ERR_NOMEM, "reference backend: out of memory");
    b->bytes = bytes;
    b->data = calloc(bytes ? bytes : 1, 1);
    if (!b->data) {
        free(b);
        return clvae_error(CLVAE_ERR_NOMEM, "reference backend: cannot allocate %zu bytes", bytes);
    }
    *out = b;
    return CLVAE_OK;
}

static void ref_buffer_free(void *ctx, clvae_buffer *b)
{
    if (!b) return;
    free(b->data);
    free(b);
}

static int ref_upload(void *ctx, clvae_view dst, const void *src, size_t bytes)
{
    memcpy(dst.buf->data + dst.off, src, bytes);
    return CLVAE_OK;
}

static int ref_download(void *ctx, clvae_view src, void *dst, size_t bytes)
{
    memcpy(dst, src.buf->data + src.off, bytes);
    return CLVAE_OK;
}

static int ref_fill(void *ctx, clvae_view dst, size_t n, float value)
{
    float *d = at(dst);
    for (size_t i = 0; i < n; i++) d[i] = value;
    return CLVAE_OK;
}

static int ref_copy(void *ctx, clvae_view dst, clvae_view src, size_t n)
{
    memmove(at(dst), at(src), n * sizeof(float));
    return CLVAE_OK;
}

static int ref_finish(void *ctx)
{
    return CLVAE_OK;
}

static float *ref_scratch(ref_ctx *c, size_t floats)
{
    if (floats > c->scratch_floats) {
        float *p = realloc(c->scratch, floats * sizeof(float));
        if (!p) return NULL;
        c->scratch = p;
        c->scratch_floats = floats;
    }
    return c->scratch;
}

static int ref_gemm(void *ctx, bool ta, bool tb, int m, int n, int k, float alpha, clvae_view a,
                    int lda, clvae_view b, int ldb, float beta, clvae_view c, int ldc)
{
    ref_ctx *rc = ctx;
    size_t need = (ta ? (size_t)m * k : 0) + (tb ? (size_t)k * n : 0);
    float *tmp = need ? ref_scratch(rc, need) : NULL;
    if (need && !tmp) return clvae_error(CLVAE_ERR_NOMEM, "reference gemm: no scratch memory");
    clvae_ref_gemm(ta, tb, m, n, k, alpha, at(a), lda, at(b), ldb, beta, at(c), ldc, tmp);
    return CLVAE_OK;
}

static int ref_bias_act(void *ctx, clvae_act act, int rows, int cols, clvae_view bias,
                        clvae_view y)
{
    clvae_ref_bias_act(act, rows, cols, at(bias), at(y));
    return CLVAE_OK;
}

static int ref_act_bwd(void *ctx, clvae_act act, int rows, int cols, clvae_view y, clvae_view dy)
{
    clvae_ref_act_bwd(act, rows, cols, at(y), at(dy));
    return CLVAE_OK;
}

static int ref_col_sum(void *ctx, int rows, int cols, clvae_view x, clvae_view out)
{
    clvae_ref_col_sum(rows, cols, at(x), at(out));
    return CLVAE_OK;
}

/* The fusion is defined as the two ops in sequence. */
static int ref_act_bwd_col_sum(void *ctx, clvae_act act, int rows, int cols, clvae_view y,
                               clvae_view dy, clvae_view db)
{
    clvae_ref_act_bwd(act, rows, cols, at(y), at(dy));
    clvae_ref_col_sum(rows, cols, at(dy), at(db));
    return CLVAE_OK;
}

static int ref_reparam(void *ctx, const clvae_reparam_args *a)
{
    clvae_ref_reparam(a, at(a->heads), at(a->z), at(a->eps), at(a->kl));
    return CLVAE_OK;
}

static int ref_reparam_bwd(void *ctx, const clvae_reparam_bwd_args *a)
{
    clvae_ref_reparam_bwd(a, at(a->heads), at(a->eps), at(a->dz), at(a->dheads));
    return CLVAE_OK;
}

static int ref_likelihood(void *ctx, const clvae_lik_args *a)
{
    clvae_ref_likelihood(a, at(a->out), at(a->x), at(a->loss), a->dout.buf ? at(a->dout) : NULL);
    return CLVAE_OK;
}

static int ref_sum_add(void *ctx, size_t n, clvae_view x, float scale, clvae_view acc)
{
    const float *p = at(x);
    double s = 0;
    for (size_t i = 0; i < n; i++) s += p[i];
    at(acc)[0] += (float)(scale * s);
    return CLVAE_OK;
}

static int ref_optimizer(void *ctx, const clvae_opt_args *a)
{
    clvae_ref_optimizer(a, at(a->params), at(a->grads), at(a->m),
                        a->kind == CLVAE_OPT_ADAM ? at(a->v) : NULL);
    return CLVAE_OK;
}

static int ref_gather_u8(void *ctx, clvae_view dst, clvae_buffer *src, clvae_view idx, int count,
                         int dim)
{
    float *d = at(dst);
    const uint32_t *ix = (const uint32_t *)(idx.buf->data + idx.off);
    for (int i = 0; i < count; i++) {
        const unsigned char *row = src->data + (size_t)ix[i] * dim;
        /* (float)v / 255.0f exactly as clvae_dataset_gather, so both residencies agree */
        for (int j = 0; j < dim; j++) d[(size_t)i * dim + j] = (float)row[j] / 255.0f;
    }
    return CLVAE_OK;
}

static int ref_gather_f32(void *ctx, clvae_view dst, clvae_buffer *src, clvae_view idx, int count,
                          int dim)
{
    const uint32_t *ix = (const uint32_t *)(idx.buf->data + idx.off);
    for (int i = 0; i < count; i++)
        memcpy(at(dst) + (size_t)i * dim, src->data + (size_t)ix[i] * dim * sizeof(float),
               (size_t)dim * sizeof(float));
    return CLVAE_OK;
}

static float *at_opt(clvae_view v)
{
    return v.buf ? at(v) : NULL;
}

static int ref_gauss_terms(void *ctx, const clvae_gauss_terms_args *a)
{
    clvae_ref_gauss_terms(a, at(a->heads), at(a->z), at(a->eps), at_opt(a->prior), at(a->kl),
                          at_opt(a->kl_sum));
    return CLVAE_OK;
}

static int ref_prior_bwd(void *ctx, const clvae_prior_bwd_args *a)
{
    clvae_ref_prior_bwd(a, at_opt(a->weights), at(a->z), at_opt(a->prior), at(a->dz),
                        at_opt(a->dprior));
    return CLVAE_OK;
}

static int ref_latent_bwd(void *ctx, const clvae_latent_bwd_args *a)
{
    clvae_ref_latent_bwd(a, at_opt(a->weights), at(a->heads), at(a->eps), at(a->dz),
                         at(a->dheads));
    return CLVAE_OK;
}

static int ref_iw_weights(void *ctx, const clvae_iw_args *a)
{
    clvae_ref_iw_weights(a, at(a->nll), at(a->kl), at(a->weights), at(a->bound));
    return CLVAE_OK;
}

static int ref_row_scale(void *ctx, int rows, int cols, clvae_view w, clvae_view x)
{
    clvae_ref_row_scale(rows, cols, at(w), at(x));
    return CLVAE_OK;
}

static int ref_binarize(void *ctx, size_t n, uint64_t seed, uint64_t step, uint32_t stream,
                        clvae_view x)
{
    clvae_ref_binarize(n, seed, step, stream, at(x));
    return CLVAE_OK;
}

static int ref_onehot(void *ctx, int rows, int batch, int classes, clvae_view labels,
                      clvae_view out)
{
    if (rows > 0 && batch <= 0)
        return clvae_error(CLVAE_ERR_INTERNAL, "ref onehot: %d rows with batch %d", rows, batch);
    clvae_ref_onehot(rows, batch, classes, at(labels), at(out));
    return CLVAE_OK;
}

static int ref_gumbel(void *ctx, const clvae_gumbel_args *a)
{
    clvae_ref_gumbel(a, at(a->logits), at(a->g), at_opt(a->y), at(a->z));
    return CLVAE_OK;
}

static int ref_cat_terms(void *ctx, const clvae_cat_terms_args *a)
{
    clvae_ref_cat_terms(a, logf((float)a->cats), at(a->logits), at_opt(a->z), at(a->kl),
                        at_opt(a->kl_sum));
    return CLVAE_OK;
}

static int ref_cat_bwd(void *ctx, const clvae_cat_bwd_args *a)
{
    clvae_ref_cat_bwd(a, at(a->logits), at(a->y), at(a->dz), at(a->dlogits));
    return CLVAE_OK;
}

static int ref_im2col(void *ctx, const clvae_conv_geom *g, clvae_view img, clvae_view cols)
{
    clvae_ref_im2col(g, at(img), at(cols));
    return CLVAE_OK;
}

static int ref_col2im(void *ctx, const clvae_conv_geom *g, clvae_view cols, float beta,
                      clvae_view img)
{
    clvae_ref_col2im(g, at(cols), beta, at(img));
    return CLVAE_OK;
}

static int ref_batch_transpose(void *ctx, int batch, int rows, int cols, clvae_view src,
                               clvae_view dst)
{
    clvae_ref_batch_transpose(batch, rows, cols, at(src), at(dst));
    return CLVAE_OK;
}

static int ref_bias_leaky(void *ctx, float slope, int rows, int cols, clvae_view bias,
                          clvae_view y)
{
    clvae_ref_bias_leaky(slope, rows, cols, at(bias), at(y));
    return CLVAE_OK;
}

static int ref_leaky_bwd(void *ctx, float slope, int rows, int cols, clvae_view y, clvae_view dy)
{
    clvae_ref_leaky_bwd(slope, rows, cols, at(y), at(dy));
    return CLVAE_OK;
}

static int ref_col_sq_dev(void *ctx, int rows, int cols, clvae_view x, clvae_view sum,
                          float count, clvae_view out)
{
    clvae_ref_col_sq_dev(rows, cols, at(x), at(sum), count, at(out));
    return CLVAE_OK;
}

static int ref_bn_fwd(void *ctx, const clvae_bn_fwd_args *a)
{
    clvae_ref_bn_fwd(a, at(a->x), a->training ? at(a->sums) : NULL, at(a->gamma), at(a->beta),
                     at(a->running_mean), at(a->running_var), at(a->invstd), at_opt(a->xhat),
                     at(a->y));
    return CLVAE_OK;
}

static int ref_bn_bwd_sums(void *ctx, const clvae_bn_bwd_args *a)
{
    clvae_ref_bn_bwd_sums(a, at(a->dy), at(a->xhat), at(a->sums));
    return CLVAE_OK;
}

static int ref_bn_bwd(void *ctx, const clvae_bn_bwd_args *a)
{
    clvae_ref_bn_bwd(a, at(a->dy), at(a->xhat), at(a->gamma), at(a->invstd), at(a->sums),
                     at(a->dx));
    return CLVAE_OK;
}

static int ref_conv_direct(void *ctx, const clvae_conv_geom *g, int o, clvae_view img,
                           clvae_view w, clvae_view col)
{
    clvae_ref_conv_direct(g, o, at(img), at(w), at(col));
    return CLVAE_OK;
}

static int ref_conv_direct_dx(void *ctx, const clvae_conv_geom *g, int o, clvae_view col,
                              clvae_view w, clvae_view img)
{
    clvae_ref_conv_direct_dx(g, o, at(col), at(w), at(img));
    return CLVAE_OK;
}

static int ref_conv_direct_dw(void *ctx, const clvae_conv_geom *g, int o, clvae_view img,
                              clvae_view col, clvae_view w)
{
    clvae_ref_conv_direct_dw(g, o, at(img), at(col), at(w));
    return CLVAE_OK;
}

/* Host scheduler slots: everything is host memory and every op is synchronous, so staging is
 * malloc, an upload is a memcpy on the calling (loader) thread and every ticket is complete. */
struct clvae_staging {
    void *host;
};

static char ref_done; /* the one ticket: always complete */

static int ref_staging_alloc(void *ctx, size_t bytes, clvae_staging **out, void **host)
{
    clvae_staging *s = calloc(1, sizeof *s);
    if (s) s->host = calloc(bytes ? bytes : 1, 1);
    if (!s || !s->host) {
        free(s);
        return clvae_error(CLVAE_ERR_NOMEM, "reference backend: cannot allocate %zu bytes of "
                                            "staging", bytes);
    }
    *out = s;
    *host = s->host;
    return CLVAE_OK;
}

static void ref_staging_free(void *ctx, clvae_staging *s)
{
    if (!s) return;
    free(s->host);
    free(s);
}

static int ref_upload_async(void *ctx, clvae_view dst, clvae_staging *src, size_t bytes,
                            clvae_ticket *after, long tag, clvae_ticket **done)
{
    memcpy(dst.buf->data + dst.off, src->host, bytes);
    *done = (clvae_ticket *)&ref_done;
    return CLVAE_OK;
}

static int ref_compute_wait(void *ctx, clvae_ticket *t)
{
    return CLVAE_OK;
}

static int ref_compute_marker(void *ctx, clvae_ticket **out)
{
    *out = (clvae_ticket *)&ref_done;
    return CLVAE_OK;
}

static int ref_ticket_wait(void *ctx, clvae_ticket *t)
{
    return CLVAE_OK;
}

static void ref_ticket_release(void *ctx, clvae_ticket *t)
{
}

static void ref_free(void *ctx)
{
    ref_ctx *c = ctx;
    if (!c) return;
    free(c->scratch);
    free(c);
}

static const clvae_backend_ops ref_ops = {
    .name = "ref",
    .free = ref_free,
    .device_name = ref_device_name,
    .supports = ref_supports,
    .buffer_alloc = ref_buffer_alloc,
    .buffer_free = ref_buffer_free,
    .upload = ref_upload,
    .download = ref_download,
    .fill = ref_fill,
    .copy = ref_copy,
    .finish = ref_finish,
    .gemm = ref_gemm,
    .bias_act = ref_bias_act,
    .act_bwd = ref_act_bwd,
    .col_sum = ref_col_sum,
    .reparam = ref_reparam,
    .reparam_bwd = ref_reparam_bwd,
    .likelihood = ref_likelihood,
    .sum_add = ref_sum_add,
    .optimizer = ref_optimizer,
    .gather_u8 = ref_gather_u8,
    .gather_f32 = ref_gather_f32,
    .staging_alloc = ref_staging_alloc,
    .staging_free = ref_staging_free,
    .upload_async = ref_upload_async,
    .compute_wait = ref_compute_wait,
    .compute_marker = ref_compute_marker,
    .ticket_wait = ref_ticket_wait,
    .ticket_release = ref_ticket_release,
    .gauss_terms = ref_gauss_terms,
    .prior_bwd = ref_prior_bwd,
    .latent_bwd = ref_latent_bwd,
    .iw_weights = ref_iw_weights,
    .row_scale = ref_row_scale,
    .binarize = ref_binarize,
    .act_bwd_col_sum = ref_act_bwd_col_sum,
    .onehot = ref_onehot,
    .gumbel = ref_gumbel,
    .cat_terms = ref_cat_terms,
    .cat_bwd = ref_cat_bwd,
    .im2col = ref_im2col,
    .col2im = ref_col2im,
    .batch_transpose = ref_batch_transpose,
    .bias_leaky = ref_bias_leaky,
    .leaky_bwd = ref_leaky_bwd,
    .col_sq_dev = ref_col_sq_dev,
    .bn_fwd = ref_bn_fwd,
    .bn_bwd_sums = ref_bn_bwd_sums,
    .bn_bwd = ref_bn_bwd,
    .conv_direct = ref_conv_direct,
    .conv_direct_dx = ref_conv_direct_dx,
    .conv_direct_dw = ref_conv_direct_dw,
};

int clvae_ref_backend_create(clvae_backend *out)
{
    ref_ctx *c = calloc(1, sizeof *c);
    if (!c) return clvae_error(CLVAE_ERR_NOMEM, "reference backend: out of memory");
    out->ops = &ref_ops;
    out->ctx = c;
    return CLVAE_OK;
}
