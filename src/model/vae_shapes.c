/* The GEMM shapes of one training step, found by running the step against a recording ops
 * table (every op a no-op, every GEMM counted): the list never drifts from what the step runs,
 * whatever the model's layers, objective or sample count (used by GEMM tuning). */
#include <stdlib.h>

#include "model/vae_shapes.h"

struct clvae_buffer {
    char unused;
};

typedef struct recorder {
    clvae_gemm_shape *out;
    int n, max;
} recorder;

static int rec_alloc(void *ctx, size_t bytes, clvae_buffer **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? CLVAE_OK : clvae_error(CLVAE_ERR_NOMEM, "gemm shapes: out of memory");
}

static void rec_free(void *ctx, clvae_buffer *b)
{
    free(b);
}

static int rec_gemm(void *ctx, bool ta, bool tb, int m, int n, int k, float alpha, clvae_view a,
                    int lda, clvae_view b, int ldb, float beta, clvae_view c, int ldc)
{
    recorder *r = ctx;
    for (int i = 0; i < r->n; i++) {
        clvae_gemm_shape *s = &r->out[i];
        if (s->ta == ta && s->tb == tb && s->m == m && s->n == n && s->k == k) {
            s->calls++;
            return CLVAE_OK;
        }
    }
    if (r->n < r->max) r->out[r->n++] = (clvae_gemm_shape){ta, tb, m, n, k, 1};
    return CLVAE_OK;
}

/* Every other op the model calls: accepted, nothing done. */
#define NOOP(name, ...)                                                                            \
    static int rec_##name(void *ctx, __VA_ARGS__)                                                  \
    {                                                                                              \
        return CLVAE_OK;                                                                           \
    }
NOOP(upload, clvae_view d, const void *s, size_t n)
NOOP(download, clvae_view s, void *d, size_t n)
NOOP(fill, clvae_view d, size_t n, float v)
NOOP(bias_act, clvae_act a, int r, int c, clvae_view b, clvae_view y)
NOOP(act_bwd, clvae_act a, int r, int c, clvae_view y, clvae_view dy)
NOOP(col_sum, int r, int c, clvae_view x, clvae_view o)
NOOP(reparam, const clvae_reparam_args *a)
NOOP(reparam_bwd, const clvae_reparam_bwd_args *a)
NOOP(likelihood, const clvae_lik_args *a)
NOOP(sum_add, size_t n, clvae_view x, float s, clvae_view acc)
NOOP(optimizer, const clvae_opt_args *a)
NOOP(gauss_terms, const clvae_gauss_terms_args *a)
NOOP(prior_bwd, const clvae_prior_bwd_args *a)
NOOP(latent_bwd, const clvae_latent_bwd_args *a)
NOOP(iw_weights, const clvae_iw_args *a)
NOOP(row_scale, int r, int c, clvae_view w, clvae_view x)
NOOP(binarize, size_t n, uint64_t seed, uint64_t step, uint32_t stream, clvae_view x)
NOOP(onehot, int r, int b, int k, clvae_view l, clvae_view o)
NOOP(gumbel, const clvae_gumbel_args *a)
NOOP(cat_terms, const clvae_cat_terms_args *a)
NOOP(cat_bwd, const clvae_cat_bwd_args *a)
NOOP(copy, clvae_view d, clvae_view s, size_t n)
NOOP(im2col, const clvae_conv_geom *g, clvae_view img, clvae_view cols)
NOOP(col2im, const clvae_conv_geom *g, clvae_view cols, float beta, clvae_view img)
NOOP(batch_transpose, int b, int r, int c, clvae_view s, clvae_view d)
NOOP(bias_leaky, float s, int r, int c, clvae_view b, clvae_view y)
NOOP(leaky_bwd, float s, int r, int c, clvae_view y, clvae_view dy)
NOOP(col_sq_dev, int r, int c, clvae_view x, clvae_view s, float n, clvae_view o)
NOOP(bn_fwd, const clvae_bn_fwd_args *a)
NOOP(bn_bwd_sums, const clvae_bn_bwd_args *a)
NOOP(bn_bwd, const clvae_bn_bwd_args *a)
NOOP(conv_direct, const clvae_conv_geom *g, int o, clvae_view i, clvae_view w, clvae_view c)
NOOP(conv_direct_dx, const clvae_conv_geom *g, int o, clvae_view c, clvae_view w, clvae_view i)
NOOP(conv_direct_dw, const clvae_conv_geom *g, int o, clvae_view i, clvae_view c, clvae_view w)

static const clvae_backend_ops rec_ops = {
    .name = "gemm-recorder", .buffer_alloc = rec_alloc, .buffer_free = rec_free,
    .upload = rec_upload, .download = rec_download, .fill = rec_fill, .gemm = rec_gemm,
    .bias_act = rec_bias_act, .act_bwd = rec_act_bwd, .col_sum = rec_col_sum,
    .reparam = rec_reparam, .reparam_bwd = rec_reparam_bwd, .likelihood = rec_likelihood,
    .sum_add = rec_sum_add, .optimizer = rec_optimizer, .gauss_terms = rec_gauss_terms,
    .prior_bwd = rec_prior_bwd, .latent_bwd = rec_latent_bwd, .iw_weights = rec_iw_weights,
    .row_scale = rec_row_scale, .binarize = rec_binarize, .onehot = rec_onehot,
    .gumbel = rec_gumbel, .cat_terms = rec_cat_terms, .cat_bwd = rec_cat_bwd,
    .copy = rec_copy, .im2col = rec_im2col, .col2im = rec_col2im,
    .batch_transpose = rec_batch_transpose, .bias_leaky = rec_bias_leaky,
    .leaky_bwd = rec_leaky_bwd, .col_sq_dev = rec_col_sq_dev, .bn_fwd = rec_bn_fwd,
    .bn_bwd_sums = rec_bn_bwd_sums, .bn_bwd = rec_bn_bwd, .conv_direct = rec_conv_direct,
    .conv_direct_dx = rec_conv_direct_dx, .conv_direct_dw = rec_conv_direct_dw,
};

int clvae_model_gemm_shapes(const clvae_model *m, int batch, int samples, clvae_gemm_shape *out,
                            int max)
{
    recorder r = {out, 0, max};
    clvae_backend be = {&rec_ops, &r};
    clvae_model dry = *m; /* the layout only: the copy gets its own (dummy) buffers */
    dry.be = NULL;
    if (clvae_model_init(&dry, &be, batch, samples, false)) return 0;
    int st = clvae_model_train_step(&dry, batch);
    clvae_model_free(&dry);
    return st ? 0 : r.n;
}
