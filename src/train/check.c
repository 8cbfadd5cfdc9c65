/* clvae check: op-by-op and training-trajectory comparisons of a device against the reference. */
#include "train/check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/ref/ref_math.h"
#include "core/philox.h"
#include "model/vae.h"
#include "train/eval.h"
#ifdef CLVAE_HAVE_OPENCL
#include "backend/opencl/gemm/tune.h"
#endif

/* Tolerances on normalized MSE sum((a-b)^2)/sum(a^2) vs the reference, with their reasons
 * (batch norm: its 1/sqrt and divides are TOL_ELEM's few ulp; bn_bwd cancels as TOL_GRAD):
 * transcendental elementwise ops differ by a few ulp (OpenCL allows 2-5 ulp): 1e-10;
 * GEMM sums in another order (K up to 784, maybe FMA): 1e-8; gradients that cancel
 * (sigmoid(l) - x): 1e-8; pure IEEE add/mul ops: 1e-12. */
#define TOL_ELEM 1e-10
#define TOL_GEMM 1e-8
#define TOL_GRAD 1e-8
#define TOL_EXACT 1e-12
/* Float sums of a few terms (col2im's taps; the direct conv products: up to 288 terms per output
 * and 8192 rows per weight) or chunked column reductions over up to 6272 rows
 * (col_sq_dev, bn_bwd_sums) vs the reference's double sums: ~sqrt(n) ulp, nmse ~1e-14. */
#define TOL_SUM 1e-10

typedef struct side {
    clvae_backend *be;
    clvae_buffer *buf;   /* one scratch buffer holding every tensor of a case */
} side;

typedef struct check_ctx {
    side s[2];   /* [0] reference, [1] device */
    const char *label;
    FILE *out;
    clvae_check_counts *c;
    uint64_t draw;
} check_ctx;

#define SLOTS 6
#define SLOT_FLOATS (1u << 20)   /* each tensor slot: up to 1M floats */

static clvae_view slot(const side *s, int i)
{
    return (clvae_view){s->buf, (size_t)i * SLOT_FLOATS * sizeof(float)};
}

/* Fills slot i on both sides with the same uniform values in [lo, hi). */
static int fill_random(check_ctx *k, int i, size_t n, float lo, float hi)
{
    float *h = malloc(n * sizeof(float));
    if (!h) return clvae_error(CLVAE_ERR_NOMEM, "check: out of memory");
    for (size_t j = 0; j < n; j++)
        h[j] = lo + (hi - lo) * clvae_philox_uniform(7, k->draw, CLVAE_STREAM_SAMPLE, j);
    k->draw++;
    int st = CLVAE_OK;
    for (int s = 0; s < 2 && !st; s++)
        st = k->s[s].be->ops->upload(k->s[s].be->ctx, slot(&k->s[s], i), h, n * sizeof(float));
    free(h);
    return st;
}

/* Compares n floats at float offset `off` of slot i between the sides and prints a table row. */
static int compare_at(check_ctx *k, int i, size_t off, size_t n, const char *op, double tol)
{
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    int st = a && b ? CLVAE_OK : clvae_error(CLVAE_ERR_NOMEM, "check: out of memory");
    clvae_view va = clvae_view_at(slot(&k->s[0], i), off), vb = clvae_view_at(slot(&k->s[1], i), off);
    if (!st) st = k->s[0].be->ops->download(k->s[0].be->ctx, va, a, n * 4);
    if (!st) st = k->s[1].be->ops->download(k->s[1].be->ctx, vb, b, n * 4);
    if (!st) {
        int bad = 0;
        for (size_t j = 0; j < n; j++) bad |= !isfinite(b[j]);
        double nmse = clvae_nmse(a, b, n);
        bool ok = !bad && nmse <= tol;
        fprintf(k->out, "%-34s %-34.34s %10.3g %8.0e  %s\n", op, k->label, nmse, tol,
                ok ? "pass" : bad ? "FAIL (NaN/Inf)" : "FAIL");
        if (ok) k->c->passed++;
        else k->c->failed++;
    }
    free(a);
    free(b);
    return st;
}

/* Compares slot i (n floats) between the sides and prints a table row. */
static int compare(check_ctx *k, int i, size_t n, const char *op, double tol)
{
    return compare_at(k, i, 0, n, op, tol);
}

typedef int (*op_fn)(clvae_backend *be, const side *s, const void *arg);

static int run_both(check_ctx *k, op_fn f, const void *arg)
{
    for (int s = 0; s < 2; s++) {
        int st = f(k->s[s].be, &k->s[s], arg);
        if (st) return st;
    }
    return CLVAE_OK;
}

typedef struct gemm_arg {
    bool ta, tb;
    int m, n, k;
} gemm_arg;

static int do_gemm(clvae_backend *be, const side *s, const void *p)
{
    const gemm_arg *g = p;
    int lda = g->ta ? g->m : g->k, ldb = g->tb ? g->k : g->n;
    return be->ops->gemm(be->ctx, g->ta, g->tb, g->m, g->n, g->k, 1.0f, slot(s, 0), lda,
                         slot(s, 1), ldb, 0.0f, slot(s, 2), g->n);
}

/* One GEMM of shape g on both sides from the same random A and B; the row is named
 * "gemm <variant>NT 128x400x784" (variant "" or e.g. "dot 6x4x16 "). */
static int check_one_gemm(check_ctx *k, const gemm_arg *g, const char *variant)
{
    char name[112];
    snprintf(name, sizeof name, "gemm %s%c%c %dx%dx%d", variant, g->ta ? 'T' : 'N',
             g->tb ? 'T' : 'N', g->m, g->n, g->k);
    int st = fill_random(k, 0, (size_t)g->m * g->k, -1, 1);
    if (!st) st = fill_random(k, 1, (size_t)g->k * g->n, -1, 1);
    if (!st) st = run_both(k, do_gemm, g);
    if (!st) st = compare(k, 2, (size_t)g->m * g->n, name, TOL_GEMM);
    return st;
}

static int check_gemm(check_ctx *k)
{
    /* The model's GEMM shapes: forward NT, backward TN (weights) and NN (inputs). */
    static const gemm_arg cases[] = {{false, true, 128, 400, 784}, {true, false, 400, 784, 128},
                                     {false, false, 128, 784, 400}, {true, true, 33, 7, 130},
                                     {false, true, 7, 1, 33}};
    int st = CLVAE_OK;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && !st; i++)
        st = check_one_gemm(k, &cases[i], "");
    return st;
}

#ifdef CLVAE_HAVE_OPENCL
/* One GEMM with the device's GEMM forced to tiled variant v (the reference runs its own). */
static int check_tiled_one(check_ctx *k, const gemm_arg *g, const clvae_tiled *v)
{
    char vname[48];
    clvae_tiled_format(v, vname, sizeof vname - 1);
    strcat(vname, " ");
    int st = clvae_opencl_gemm_force(k->s[1].be, v);
    if (!st) st = check_one_gemm(k, g, vname);
    int st2 = clvae_opencl_gemm_force(k->s[1].be, NULL);
    return st ? st : st2;
}

/* clvae's register-tiled GEMM kernels: every variant the device's tuning file chose, at its own
 * shape, then each form at an edge shape (m, n not multiples of a tile, k with a tail). */
static int check_gemm_tiled(check_ctx *k)
{
    clvae_gemm_shape shapes[CLVAE_TUNE_MAX_SHAPES];
    clvae_tiled v[CLVAE_TUNE_MAX_SHAPES];
    int n = clvae_opencl_tiled_choices(k->s[1].be, shapes, v, CLVAE_TUNE_MAX_SHAPES);
    int st = CLVAE_OK;
    for (int i = 0; i < n && !st; i++) {
        gemm_arg g = {shapes[i].ta, shapes[i].tb, shapes[i].m, shapes[i].n, shapes[i].k};
        if ((size_t)g.m * g.k <= SLOT_FLOATS && (size_t)g.k * g.n <= SLOT_FLOATS &&
            (size_t)g.m * g.n <= SLOT_FLOATS)
            st = check_tiled_one(k, &g, &v[i]);
    }
    static const clvae_tiled forms[] = {{CLVAE_TILED_OUTER, 5, 2, 4, 1, 0, 0},
                                        {CLVAE_TILED_DOT, 3, 2, 4, 1, 1, 0},
                                        {CLVAE_TILED_PACKED, 3, 2, 4, 1, 1, 0},
                                        {CLVAE_TILED_PACKB, 3, 2, 4, 1, 0, 0},
                                        {CLVAE_TILED_OUTER, 5, 2, 4, 1, 0, 6}};
    /* packb on NN: op(A) read in place along its rows, m = 37 past the last 3-row tile; the
     * split-K outer form on TN (a weight gradient's shape: its long k cut in 6 slices) */
    static const gemm_arg edge[] = {{true, false, 37, 29, 130},
                                    {false, true, 37, 29, 130},
                                    {true, true, 37, 29, 130},
                                    {false, false, 37, 29, 130},
                                    {true, false, 37, 29, 130}};
    for (int i = 0; i < 5 && !st; i++)
        st = check_tiled_one(k, &edge[i], &forms[i]);
    return st;
}
#endif

static int do_bias_act(clvae_backend *be, const side *s, const void *p)
{
    clvae_act act = *(const clvae_act *)p;
    int st = be->ops->bias_act(be->ctx, act, 33, 130, slot(s, 1), slot(s, 0));
    /* slot 4: dy before act_bwd, for the fused act_bwd + col_sum (slot 5: its bias sums) */
    if (!st) st = be->ops->copy(be->ctx, slot(s, 4), slot(s, 2), 33 * 130);
    if (!st) st = be->ops->act_bwd(be->ctx, act, 33, 130, slot(s, 0), slot(s, 2));
    if (!st) st = be->ops->col_sum(be->ctx, 33, 130, slot(s, 2), slot(s, 3));
    if (!st && be->ops->act_bwd_col_sum)
        st = be->ops->act_bwd_col_sum(be->ctx, act, 33, 130, slot(s, 0), slot(s, 4), slot(s, 5));
    return st;
}

static int check_activations(check_ctx *k)
{
    static const char *names[] = {"relu", "tanh", "softplus", "identity"};
    char name[64];
    for (int a = CLVAE_ACT_RELU; a <= CLVAE_ACT_IDENTITY; a++) {
        clvae_act act = (clvae_act)a;
        int st = fill_random(k, 0, 33 * 130, -4, 4);
        if (!st) st = fill_random(k, 1, 130, -1, 1);
        if (!st) st = fill_random(k, 2, 33 * 130, -1, 1);
        if (!st) st = run_both(k, do_bias_act, &act);
        snprintf(name, sizeof name, "bias_act %s", names[a]);
        if (!st) st = compare(k, 0, 33 * 130, name, a == CLVAE_ACT_RELU || a == CLVAE_ACT_IDENTITY ? TOL_EXACT : TOL_ELEM);
        snprintf(name, sizeof name, "act_bwd %s", names[a]);
        if (!st) st = compare(k, 2, 33 * 130, name, TOL_ELEM);
        snprintf(name, sizeof name, "col_sum (after %s)", names[a]);
        if (!st) st = compare(k, 3, 130, name, TOL_ELEM);
        bool fused = k->s[0].be->ops->act_bwd_col_sum && k->s[1].be->ops->act_bwd_col_sum;
        snprintf(name, sizeof name, "act_bwd_col_sum %s dy", names[a]);
        if (!st && fused) st = compare(k, 4, 33 * 130, name, TOL_ELEM);
        snprintf(name, sizeof name, "act_bwd_col_sum %s db", names[a]);
        if (!st && fused) st = compare(k, 5, 130, name, TOL_ELEM);
        if (st) return st;
    }
    return CLVAE_OK;
}

static int do_reparam(clvae_backend *be, const side *s, const void *p)
{
    (void)p;
    clvae_reparam_args a = {.batch = 128, .samples = 2, .latent = 20, .seed = 1, .step = 3,
                            .stream = CLVAE_STREAM_EPS_TRAIN, .heads = slot(s, 0),
                            .z = slot(s, 1), .eps = slot(s, 2), .kl = slot(s, 3)};
    clvae_reparam_bwd_args b = {.batch = 128, .samples = 2, .latent = 20, .kl_weight = 0.01f,
                                .heads = slot(s, 0), .eps = slot(s, 2), .dz = slot(s, 4),
                                .dheads = slot(s, 5)};
    int st = be->ops->reparam(be->ctx, &a);
    return st ? st : be->ops->reparam_bwd(be->ctx, &b);
}

static int check_reparam(check_ctx *k)
{
    int st = fill_random(k, 0, 128 * 40, -2, 2);
    if (!st) st = fill_random(k, 4, 2 * 128 * 20, -1, 1);
    if (!st) st = run_both(k, do_reparam, NULL);
    if (!st) st = compare(k, 2, 2 * 128 * 20, "reparam eps (Philox)", TOL_ELEM);
    if (!st) st = compare(k, 1, 2 * 128 * 20, "reparam z", TOL_ELEM);
    if (!st) st = compare(k, 3, 128, "reparam kl", TOL_ELEM);
    if (!st) st = compare(k, 5, 128 * 40, "reparam_bwd", TOL_ELEM);
    return st;
}

static int do_likelihood(clvae_backend *be, const side *s, const void *p)
{
    clvae_likelihood kind = *(const clvae_likelihood *)p;
    clvae_lik_args a = {.kind = kind, .rows = 64, .batch = 32, .dim = 784, .sigma_x = 0.5f,
                        .grad_scale = 1.0f / 64, .out = slot(s, 0), .x = slot(s, 1),
                        .loss = slot(s, 2), .dout = slot(s, 3)};
    int st = be->ops->likelihood(be->ctx, &a);
    if (!st) st = be->ops->sum_add(be->ctx, 64, slot(s, 2), 0.5f, slot(s, 4));
    return st;
}

static int check_likelihoods(check_ctx *k)
{
    static const char *names[] = {"bernoulli", "gaussian", "gaussian-learned"};
    char name[64];
    for (int l = CLVAE_LIK_BERNOULLI; l <= CLVAE_LIK_GAUSSIAN_LEARNED; l++) {
        clvae_likelihood kind = (clvae_likelihood)l;
        size_t width = kind == CLVAE_LIK_GAUSSIAN_LEARNED ? 2 * 784 : 784;
        int st = fill_random(k, 0, 64 * width, -3, 3);
        if (!st) st = fill_random(k, 1, 32 * 784, 0, 1);
        if (!st) st = fill_random(k, 4, 1, 0, 0);
        if (!st) st = run_both(k, do_likelihood, &kind);
        snprintf(name, sizeof name, "likelihood %s loss", names[l]);
        if (!st) st = compare(k, 2, 64, name, TOL_ELEM);
        snprintf(name, sizeof name, "likelihood %s grad", names[l]);
        if (!st) st = compare(k, 3, 64 * width, name, TOL_GRAD);
        snprintf(name, sizeof name, "sum_add (%s)", names[l]);
        if (!st) st = compare(k, 4, 1, name, TOL_ELEM);
        if (st) return st;
    }
    return CLVAE_OK;
}

static int do_optimizer(clvae_backend *be, const side *s, const void *p)
{
    clvae_optimizer kind = *(const clvae_optimizer *)p;
    clvae_opt_args a = {.kind = kind, .n = 100003, .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f,
                        .eps = 1e-8f, .momentum = 0.9f, .t = 5, .params = slot(s, 0),
                        .grads = slot(s, 1), .m = slot(s, 2), .v = slot(s, 3)};
    return be->ops->optimizer(be->ctx, &a);
}

static int check_optimizers(check_ctx *k)
{
    for (int o = CLVAE_OPT_ADAM; o <= CLVAE_OPT_SGD; o++) {
        clvae_optimizer kind = (clvae_optimizer)o;
        int st = fill_random(k, 0, 100003, -1, 1);
        if (!st) st = fill_random(k, 1, 100003, -1, 1);
        if (!st) st = fill_random(k, 2, 100003, -0.1f, 0.1f);
        if (!st) st = fill_random(k, 3, 100003, 0, 0.01f);
        if (!st) st = run_both(k, do_optimizer, &kind);
        if (!st) st = compare(k, 0, 100003, o == CLVAE_OPT_ADAM ? "adam params" : "sgd params",
                              o == CLVAE_OPT_ADAM ? TOL_ELEM : TOL_EXACT);
        if (!st) st = compare(k, 2, 100003, o == CLVAE_OPT_ADAM ? "adam m" : "sgd momentum", TOL_EXACT);
        if (st) return st;
    }
    return CLVAE_OK;
}

/* ---- stochastic-layer ops: S = 2 samples of 128 rows, R = 20 -------------------------- */

/* Skips (and counts) an op the device does not offer; true when it does. */
static bool supported(check_ctx *k, clvae_op op, const char *name)
{
    if (k->s[1].be->ops->supports(k->s[1].be->ctx, op)) return true;
    fprintf(k->out, "%-34s %-34.34s %10s %8s  unsupported\n", name, k->label, "-", "-");
    k->c->unsupported++;
    return false;
}

static const clvae_view none = {NULL, 0};

/* p: 0 = N(0, I) prior accumulating onto kl_sum, 1 = prior heads with kl_sum initialized.
 * Slots: heads 0 (128, 2R), z 1 and eps 2 (256, R), prior 3 (256, 2R), kl 4, kl_sum 5. */
static int do_gauss_terms(clvae_backend *be, const side *s, const void *p)
{
    bool prior = *(const int *)p;
    clvae_gauss_terms_args a = {.rows = 256, .hrows = 128, .latent = 20, .heads = slot(s, 0),
                                .z = slot(s, 1), .eps = slot(s, 2),
                                .prior = prior ? slot(s, 3) : none, .kl = slot(s, 4),
                                .kl_sum = slot(s, 5), .sum_init = prior};
    return be->ops->gauss_terms(be->ctx, &a);
}

/* p as above; weights 0 (256) with the prior heads, none for N(0, I); dz 4, dprior 5. */
static int do_prior_bwd(clvae_backend *be, const side *s, const void *p)
{
    bool prior = *(const int *)p;
    clvae_prior_bwd_args a = {.rows = 256, .latent = 20, .scale = 1.0f / 256,
                              .weights = prior ? slot(s, 0) : none, .z = slot(s, 1),
                              .prior = prior ? slot(s, 3) : none, .dz = slot(s, 4),
                              .dprior = slot(s, 5)};
    return be->ops->prior_bwd(be->ctx, &a);
}

/* weights 0 (256), heads 1 (128, 2R), eps 2 and dz 3 (256, R), dheads 4 (128, 2R). */
static int do_latent_bwd(clvae_backend *be, const side *s, const void *p)
{
    (void)p;
    clvae_latent_bwd_args a = {.hrows = 128, .samples = 2, .latent = 20, .kl_weight = 0.5f,
                               .scale = 1.0f / 256, .weights = slot(s, 0), .heads = slot(s, 1),
                               .eps = slot(s, 2), .dz = slot(s, 3), .dheads = slot(s, 4)};
    return be->ops->latent_bwd(be->ctx, &a);
}

static const char *prior_modes[] = {"N(0,I)", "prior"};

/* Inputs of the layer ops: heads (128, 2R), z and eps (256, R), prior heads (256, 2R). */
static int fill_layer(check_ctx *k)
{
    int st = fill_random(k, 0, 128 * 40, -2, 2);
    if (!st) st = fill_random(k, 1, 256 * 20, -3, 3);
    if (!st) st = fill_random(k, 2, 256 * 20, -2, 2);
    if (!st) st = fill_random(k, 3, 256 * 40, -2, 2);
    return st;
}

static int check_gauss_terms(check_ctx *k)
{
    if (!supported(k, CLVAE_OP_GAUSS_TERMS, "gauss_terms")) return CLVAE_OK;
    char name[64];
    int st = CLVAE_OK;
    for (int prior = 0; prior < 2 && !st; prior++) {
        double tol = prior ? TOL_ELEM : TOL_EXACT; /* N(0, I): add/mul only */
        st = fill_layer(k);
        if (!st) st = fill_random(k, 5, 256, -5, 5);
        if (!st) st = run_both(k, do_gauss_terms, &prior);
        snprintf(name, sizeof name, "gauss_terms %s", prior_modes[prior]);
        if (!st) st = compare(k, 4, 256, name, tol);
        snprintf(name, sizeof name, "gauss_terms %s kl_sum %s", prior_modes[prior],
                 prior ? "init" : "acc");
        if (!st) st = compare(k, 5, 256, name, tol);
    }
    return st;
}

static int check_prior_bwd(check_ctx *k)
{
    if (!supported(k, CLVAE_OP_PRIOR_BWD, "prior_bwd")) return CLVAE_OK;
    char name[64];
    int st = CLVAE_OK;
    for (int prior = 0; prior < 2 && !st; prior++) {
        double tol = prior ? TOL_ELEM : TOL_EXACT;
        st = fill_layer(k);
        if (!st) st = fill_random(k, 0, 256, 0, 1);
        if (!st) st = fill_random(k, 4, 256 * 20, -1, 1);
        if (!st) st = run_both(k, do_prior_bwd, &prior);
        snprintf(name, sizeof name, "prior_bwd %s dz", prior_modes[prior]);
        if (!st) st = compare(k, 4, 256 * 20, name, tol);
        if (!st && prior) st = compare(k, 5, 256 * 40, "prior_bwd prior dprior (weights)", tol);
    }
    return st;
}

static int check_latent_bwd(check_ctx *k)
{
    if (!supported(k, CLVAE_OP_LATENT_BWD, "latent_bwd")) return CLVAE_OK;
    int st = fill_random(k, 0, 256, 0, 1);
    if (!st) st = fill_random(k, 1, 128 * 40, -2, 2);
    if (!st) st = fill_random(k, 2, 256 * 20, -2, 2);
    if (!st) st = fill_random(k, 3, 256 * 20, -1, 1);
    if (!st) st = run_both(k, do_latent_bwd, NULL);
    if (!st) st = compare(k, 4, 128 * 40, "latent_bwd (weights, kl 0.5)", TOL_ELEM);
    return st;
}

typedef struct iw_arg {
    int batch, samples;
    float base; /* log weights near base */
} iw_arg;

/* nll 0 and kl 1 (S*B), weights 2 (S*B), bound 3 (B). */
static int do_iw(clvae_backend *be, const side *s, const void *p)
{
    const iw_arg *c = p;
    clvae_iw_args a = {.batch = c->batch, .samples = c->samples, .scale = 1.0f / c->batch,
                       .nll = slot(s, 0), .kl = slot(s, 1), .weights = slot(s, 2),
                       .bound = slot(s, 3)};
    return be->ops->iw_weights(be->ctx, &a);
}

static int do_row_scale(clvae_backend *be, const side *s, const void *p)
{
    (void)p;
    return be->ops->row_scale(be->ctx, 256, 784, slot(s, 0), slot(s, 1));
}

static int do_binarize(clvae_backend *be, const side *s, const void *p)
{
    (void)p;
    return be->ops->binarize(be->ctx, 100003, 11, 5, CLVAE_STREAM_BINARIZE, slot(s, 2));
}

static int check_iw(check_ctx *k)
{
    static const iw_arg cases[] = {{128, 5, -100}, {20, 1000, -100}, {64, 5, -1e4}};
    if (!supported(k, CLVAE_OP_IW_WEIGHTS, "iw_weights")) return CLVAE_OK;
    char name[64];
    int st = CLVAE_OK;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && !st; i++) {
        const iw_arg *c = &cases[i];
        size_t n = (size_t)c->batch * c->samples;
        st = fill_random(k, 0, n, -c->base - 20, -c->base + 20);
        if (!st) st = fill_random(k, 1, n, -5, 5);
        if (!st) st = run_both(k, do_iw, c);
        snprintf(name, sizeof name, "iw_weights B%d S%d log w~%g", c->batch, c->samples, c->base);
        if (!st) st = compare(k, 2, n, name, TOL_ELEM);
        snprintf(name, sizeof name, "iw bound B%d S%d log w~%g", c->batch, c->samples, c->base);
        if (!st) st = compare(k, 3, (size_t)c->batch, name, TOL_ELEM);
    }
    return st;
}

static int check_row_scale_binarize(check_ctx *k)
{
    int st = CLVAE_OK;
    if (supported(k, CLVAE_OP_ROW_SCALE, "row_scale")) {
        st = fill_random(k, 0, 256, 0, 2);
        if (!st) st = fill_random(k, 1, 256 * 784, -3, 3);
        if (!st) st = run_both(k, do_row_scale, NULL);
        if (!st) st = compare(k, 1, 256 * 784, "row_scale", TOL_EXACT);
    }
    if (!st && supported(k, CLVAE_OP_BINARIZE, "binarize")) {
        st = fill_random(k, 2, 100003, 0, 1);
        if (!st) st = run_both(k, do_binarize, NULL);
        if (!st) st = compare(k, 2, 100003, "binarize (Philox)", TOL_EXACT);
    }
    return st;
}

static int do_onehot(clvae_backend *be, const side *s, const void *p)
{
    (void)p;
    return be->ops->onehot(be->ctx, 5 * 128, 128, 10, slot(s, 0), slot(s, 1));
}

/* Conditional models: onehot of 128 integer labels 0..9 for 5 samples each. */
static int check_onehot(check_ctx *k)
{
    if (!supported(k, CLVAE_OP_ONEHOT, "onehot")) return CLVAE_OK;
    float lab[128]; /* (128) */
    for (int i = 0; i < 128; i++)
        lab[i] = (float)(int)(10.0f * clvae_philox_uniform(7, k->draw, CLVAE_STREAM_SAMPLE, i));
    k->draw++;
    int st = CLVAE_OK;
    for (int s = 0; s < 2 && !st; s++)
        st = k->s[s].be->ops->upload(k->s[s].be->ctx, slot(&k->s[s], 0), lab, sizeof lab);
    if (!st) st = run_both(k, do_onehot, NULL);
    if (!st) st = compare(k, 1, 5 * 128 * 10, "onehot B128 S5 C10", TOL_EXACT);
    return st;
}

/* Categorical layers, 30x10 groups, 128 logits rows x 2 samples. Slots: logits 0 (128, 300),
 * g 1, y 2, z 3 (256, 300), kl 4, kl_sum 5. p: 0 = relaxed with Philox noise at tau 0.5,
 * 1 = hard with the noise in slot 1 given (the one-hot then decided by IEEE-exact values). */
static int do_gumbel(clvae_backend *be, const side *s, const void *p)
{
    bool hard = *(const int *)p;
    clvae_gumbel_args a = {.rows = 256, .hrows = 128, .groups = 30, .cats = 10, .tau = 0.5f,
                           .hard = hard, .noise_given = hard, .seed = 11, .step = 3,
                           .stream = CLVAE_STREAM_EPS_TRAIN, .logits = slot(s, 0),
                           .g = slot(s, 1), .y = slot(s, 2), .z = slot(s, 3)};
    return be->ops->gumbel(be->ctx, &a);
}

/* p: 0 = analytic KL (128 rows), 1 = one-hot terms at z (slot 3) onto kl_sum. */
static int do_cat_terms(clvae_backend *be, const side *s, const void *p)
{
    bool onehot = *(const int *)p;
    clvae_cat_terms_args a = {.rows = 256, .hrows = 128, .groups = 30, .cats = 10,
                              .logits = slot(s, 0), .z = onehot ? slot(s, 3) : none,
                              .kl = slot(s, 4), .kl_sum = onehot ? slot(s, 5) : none};
    return be->ops->cat_terms(be->ctx, &a);
}

/* y 2, dz 1 (256, 300), dlogits 4 (128, 300). */
static int do_cat_bwd(clvae_backend *be, const side *s, const void *p)
{
    (void)p;
    clvae_cat_bwd_args a = {.hrows = 128, .samples = 2, .groups = 30, .cats = 10, .tau = 0.5f,
                            .kl_weight = 1.0f / 256, .logits = slot(s, 0), .y = slot(s, 2),
                            .dz = slot(s, 1), .dlogits = slot(s, 4)};
    return be->ops->cat_bwd(be->ctx, &a);
}

static int check_gumbel(check_ctx *k)
{
    static const char *names[] = {"gumbel 30x10 tau 0.5 relaxed", "gumbel 30x10 hard (given g)"};
    if (!supported(k, CLVAE_OP_GUMBEL, "gumbel") || !supported(k, CLVAE_OP_CAT_TERMS, "cat_terms") ||
        !supported(k, CLVAE_OP_CAT_BWD, "cat_bwd"))
        return CLVAE_OK;
    int st = fill_random(k, 0, 128 * 300, -6, 6), n = 256 * 300;
    char name[64];
    for (int hard = 0; hard < 2 && !st; hard++) {
        if (hard) st = fill_random(k, 1, n, -2, 5);
        if (!st) st = run_both(k, do_gumbel, &hard);
        snprintf(name, sizeof name, "%s noise", names[hard]);
        if (!st) st = compare(k, 1, n, name, hard ? TOL_EXACT : TOL_ELEM);
        if (!st) st = compare(k, 3, n, names[hard], hard ? TOL_EXACT : TOL_ELEM);
    }
    for (int onehot = 0; onehot < 2 && !st; onehot++) {
        st = run_both(k, do_cat_terms, &onehot);
        if (!st) st = compare(k, 4, onehot ? 256 : 128,
                              onehot ? "cat_terms one-hot log q - log p" : "cat_terms KL(q||uniform)",
                              TOL_ELEM);
    }
    if (!st) st = fill_random(k, 2, n, 0, 1);
    if (!st) st = fill_random(k, 1, n, -1, 1);
    if (!st) st = run_both(k, do_cat_bwd, NULL);
    if (!st) st = compare(k, 4, 128 * 300, "cat_bwd S2 tau 0.5", TOL_GRAD);
    return st;
}

/* ---- convolutional nets: im2col/col2im at two model geometries, transpose, leaky, BN ------- */

/* dcgan28's second Conv2d (32 -> 64, 4x4 stride 2 pad 1) at batch 32, and vanilla64's last
 * ConvTranspose2d (3x3 stride 2 pad 1 output padding 1: 32x32 -> 64x64, 32 channels) at
 * batch 2. Slots: img 0, cols 1 (im2col), dcols 2, col2im 3 (beta 0) and onto img (beta 1). */
static const clvae_conv_geom conv_geoms[] = {{32, 32, 14, 14, 7, 7, 4, 4, 2, 2, 1, 1, 1, 1},
                                             {2, 32, 64, 64, 32, 32, 3, 3, 2, 2, 1, 1, 1, 1}};
static const char *conv_names[] = {"dcgan28 conv2 B32", "vanilla64 convT5 B2"};

static size_t geom_img(const clvae_conv_geom *g)
{
    return (size_t)g->batch * g->height * g->width * g->channels;
}

static size_t geom_cols(const clvae_conv_geom *g)
{
    return (size_t)g->batch * g->out_h * g->out_w * g->channels * g->k_h * g->k_w;
}

static int do_conv(clvae_backend *be, const side *s, const void *p)
{
    const clvae_conv_geom *g = p;
    int st = be->ops->im2col(be->ctx, g, slot(s, 0), slot(s, 1));
    if (!st) st = be->ops->col2im(be->ctx, g, slot(s, 2), 0.0f, slot(s, 3));
    if (!st) st = be->ops->col2im(be->ctx, g, slot(s, 2), 1.0f, slot(s, 0));
    return st;
}

/* p: 0 = batch_transpose (16, 3, 4096) slot 0 -> 1 and back 1 -> 2; 1 = bias_leaky (6272, 64) slot 0 with bias
 * slot 3, then leaky_bwd of dy slot 4 (slope 0.2). */
static int do_conv_elem(clvae_backend *be, const side *s, const void *p)
{
    if (!*(const int *)p) { /* NCHW -> NHWC, then back (its backward) */
        int st = be->ops->batch_transpose(be->ctx, 16, 3, 4096, slot(s, 0), slot(s, 1));
        return st ? st : be->ops->batch_transpose(be->ctx, 16, 4096, 3, slot(s, 1), slot(s, 2));
    }
    int st = be->ops->bias_leaky(be->ctx, 0.2f, 6272, 64, slot(s, 3), slot(s, 0));
    return st ? st : be->ops->leaky_bwd(be->ctx, 0.2f, 6272, 64, slot(s, 0), slot(s, 4));
}

/* The direct (column-free) Conv2d ops at vanilla64's decoder_out (32 -> 3 channels, 3x3, pad 1,
 * 64x64) at batch 2. Slots: img 0, w 1, dy 2, y 3, dx 4, dw 5. */
static const clvae_conv_geom direct_geom = {2, 32, 64, 64, 64, 64, 3, 3, 1, 1, 1, 1, 1, 1};
#define DIRECT_O 3

static int do_conv_direct(clvae_backend *be, const side *s, const void *p)
{
    const clvae_conv_geom *g = p;
    int st = be->ops->conv_direct(be->ctx, g, DIRECT_O, slot(s, 0), slot(s, 1), slot(s, 3));
    if (!st) st = be->ops->conv_direct_dx(be->ctx, g, DIRECT_O, slot(s, 2), slot(s, 1), slot(s, 4));
    if (!st) st = be->ops->conv_direct_dw(be->ctx, g, DIRECT_O, slot(s, 0), slot(s, 2), slot(s, 5));
    return st;
}

static int check_conv_direct(check_ctx *k)
{
    if (!supported(k, CLVAE_OP_CONV_DIRECT, "conv_direct")) return CLVAE_OK;
    const clvae_conv_geom *g = &direct_geom;
    size_t nw = (size_t)DIRECT_O * g->channels * g->k_h * g->k_w;
    size_t ncol = (size_t)g->batch * g->out_h * g->out_w * DIRECT_O;
    int st = fill_random(k, 0, geom_img(g), -1, 1);
    if (!st) st = fill_random(k, 1, nw, -1, 1);
    if (!st) st = fill_random(k, 2, ncol, -1, 1);
    if (!st) st = run_both(k, do_conv_direct, g);
    if (!st) st = compare(k, 3, ncol, "conv_direct vanilla64 out B2", TOL_SUM);
    if (!st) st = compare(k, 4, geom_img(g), "conv_direct_dx vanilla64 out B2", TOL_SUM);
    if (!st) st = compare(k, 5, nw, "conv_direct_dw vanilla64 out B2", TOL_SUM);
    return st;
}

static int check_conv(check_ctx *k)
{
    static const clvae_op ops[] = {CLVAE_OP_IM2COL, CLVAE_OP_COL2IM, CLVAE_OP_BATCH_TRANSPOSE,
                                   CLVAE_OP_BIAS_LEAKY, CLVAE_OP_LEAKY_BWD};
    static const char *names[] = {"im2col", "col2im", "batch_transpose", "bias_leaky", "leaky_bwd"};
    for (int i = 0; i < 5; i++)
        if (!supported(k, ops[i], names[i])) return CLVAE_OK;
    int st = CLVAE_OK;
    char name[96];
    for (int i = 0; i < 2 && !st; i++) {
        const clvae_conv_geom *g = &conv_geoms[i];
        st = fill_random(k, 0, geom_img(g), -1, 1);
        if (!st) st = fill_random(k, 2, geom_cols(g), -1, 1);
        if (!st) st = run_both(k, do_conv, g);
        snprintf(name, sizeof name, "im2col %s", conv_names[i]);
        if (!st) st = compare(k, 1, geom_cols(g), name, TOL_EXACT);
        snprintf(name, sizeof name, "col2im %s", conv_names[i]);
        if (!st) st = compare(k, 3, geom_img(g), name, TOL_SUM);
        snprintf(name, sizeof name, "col2im beta1 %s", conv_names[i]);
        if (!st) st = compare(k, 0, geom_img(g), name, TOL_SUM);
    }
    for (int e = 0; e < 2 && !st; e++) {
        st = fill_random(k, 0, 6272 * 64, -2, 2);
        if (!st) st = fill_random(k, 3, 64, -1, 1);
        if (!st) st = fill_random(k, 4, 6272 * 64, -1, 1);
        if (!st) st = run_both(k, do_conv_elem, &e);
        if (!st && !e) st = compare(k, 1, 16 * 3 * 4096, "batch_transpose B16 3x4096", TOL_EXACT);
        if (!st && !e) st = compare(k, 2, 16 * 3 * 4096, "batch_transpose B16 4096x3", TOL_EXACT);
        if (!st && e) st = compare(k, 0, 6272 * 64, "bias_leaky 6272x64 slope 0.2", TOL_EXACT);
        if (!st && e) st = compare(k, 4, 6272 * 64, "leaky_bwd 6272x64 slope 0.2", TOL_EXACT);
    }
    return st ? st : check_conv_direct(k);
}

/* BatchNorm2d over N = 6272 rows (batch 32 of 14x14 maps), C = 64. Slots: x 0, y 1, xhat 2,
 * dy 4, dx 5; slot 3 holds sums [0, 2C), gamma, beta, running mean, running var, invstd (C
 * each, in that order). The training sums come from col_sum and col_sq_dev on each side. */
#define BN_N 6272
#define BN_C 64

static int do_bn_fwd(clvae_backend *be, const side *s, const void *p)
{
    bool training = *(const int *)p;
    clvae_view v = slot(s, 3);
    int st = CLVAE_OK;
    if (training) st = be->ops->col_sum(be->ctx, BN_N, BN_C, slot(s, 0), v);
    if (!st && training)
        st = be->ops->col_sq_dev(be->ctx, BN_N, BN_C, slot(s, 0), v, (float)BN_N,
                                 clvae_view_at(v, BN_C));
    clvae_bn_fwd_args a = {.rows = BN_N, .channels = BN_C, .count = (float)BN_N, .eps = 1e-5f,
                           .momentum = 0.1f, .slope = 0.2f, .training = training,
                           .act = training ? CLVAE_ACT_LEAKY_RELU : CLVAE_ACT_RELU,
                           .x = slot(s, 0), .sums = training ? v : none,
                           .gamma = clvae_view_at(v, 2 * BN_C), .beta = clvae_view_at(v, 3 * BN_C),
                           .running_mean = clvae_view_at(v, 4 * BN_C),
                           .running_var = clvae_view_at(v, 5 * BN_C),
                           .invstd = clvae_view_at(v, 6 * BN_C), .xhat = training ? slot(s, 2) : none,
                           .y = slot(s, 1)};
    return st ? st : be->ops->bn_fwd(be->ctx, &a);
}

static int do_bn_bwd(clvae_backend *be, const side *s, const void *p)
{
    (void)p;
    clvae_view v = slot(s, 3);
    clvae_bn_bwd_args a = {.rows = BN_N, .channels = BN_C, .count = (float)BN_N, .dy = slot(s, 4),
                           .xhat = slot(s, 2), .gamma = clvae_view_at(v, 2 * BN_C),
                           .invstd = clvae_view_at(v, 6 * BN_C), .sums = v, .dx = slot(s, 5)};
    int st = be->ops->bn_bwd_sums(be->ctx, &a);
    return st ? st : be->ops->bn_bwd(be->ctx, &a);
}

static int check_bn(check_ctx *k)
{
    static const char *modes[] = {"eval relu", "train leaky"};
    if (!supported(k, CLVAE_OP_COL_SQ_DEV, "col_sq_dev") || !supported(k, CLVAE_OP_BN_FWD, "bn_fwd") ||
        !supported(k, CLVAE_OP_BN_BWD_SUMS, "bn_bwd_sums") || !supported(k, CLVAE_OP_BN_BWD, "bn_bwd"))
        return CLVAE_OK;
    int st = fill_random(k, 0, BN_N * BN_C, -3, 5);
    if (!st) st = fill_random(k, 3, 7 * BN_C, 0.5f, 1.5f); /* running var > 0 */
    char name[96];
    for (int training = 0; training < 2 && !st; training++) {
        st = run_both(k, do_bn_fwd, &training);
        if (!st && training) st = compare_at(k, 3, BN_C, BN_C, "col_sq_dev 6272x64", TOL_SUM);
        snprintf(name, sizeof name, "bn_fwd 6272x64 %s y", modes[training]);
        if (!st) st = compare(k, 1, BN_N * BN_C, name, TOL_ELEM);
        snprintf(name, sizeof name, "bn_fwd 6272x64 %s invstd", modes[training]);
        if (!st) st = compare_at(k, 3, 6 * BN_C, BN_C, name, TOL_ELEM);
        if (!st && training) st = compare(k, 2, BN_N * BN_C, "bn_fwd 6272x64 train xhat", TOL_ELEM);
        if (!st && training)
            st = compare_at(k, 3, 4 * BN_C, 2 * BN_C, "bn_fwd 6272x64 train running stats", TOL_ELEM);
    }
    if (!st) st = fill_random(k, 4, BN_N * BN_C, -1, 1);
    if (!st) st = run_both(k, do_bn_bwd, NULL);
    if (!st) st = compare_at(k, 3, 0, 2 * BN_C, "bn_bwd_sums 6272x64", TOL_SUM);
    if (!st) st = compare(k, 5, BN_N * BN_C, "bn_bwd 6272x64", TOL_GRAD);
    return st;
}

int clvae_check_ops(clvae_backend *ref, clvae_backend *dev, const char *label, FILE *out,
                    clvae_check_counts *c)
{
    check_ctx k = {.s = {{ref, NULL}, {dev, NULL}}, .label = label, .out = out, .c = c};
    size_t bytes = (size_t)SLOTS * SLOT_FLOATS * sizeof(float);
    int st = ref->ops->buffer_alloc(ref->ctx, bytes, &k.s[0].buf);
    if (!st) st = dev->ops->buffer_alloc(dev->ctx, bytes, &k.s[1].buf);
    if (!st) st = check_gemm(&k);
#ifdef CLVAE_HAVE_OPENCL
    if (!st && clvae_backend_is_opencl(dev)) st = check_gemm_tiled(&k);
#endif
    if (!st) st = check_activations(&k);
    if (!st) st = check_reparam(&k);
    if (!st) st = check_likelihoods(&k);
    if (!st) st = check_optimizers(&k);
    if (!st) st = check_gauss_terms(&k);
    if (!st) st = check_prior_bwd(&k);
    if (!st) st = check_latent_bwd(&k);
    if (!st) st = check_iw(&k);
    if (!st) st = check_row_scale_binarize(&k);
    if (!st) st = check_onehot(&k);
    if (!st) st = check_gumbel(&k);
    if (!st) st = check_conv(&k);
    if (!st) st = check_bn(&k);
    if (k.s[0].buf) ref->ops->buffer_free(ref->ctx, k.s[0].buf);
    if (k.s[1].buf) dev->ops->buffer_free(dev->ctx, k.s[1].buf);
    return st;
}

int clvae_check_trajectory(const clvae_config *cfg, const clvae_dataset *ds, clvae_backend *be,
                           int steps, double *losses)
{
    clvae_model m;
    int B = cfg->train.batch, st;
    float *stage = malloc((size_t)B * ds->dim * sizeof(float));
    if (!stage) return clvae_error(CLVAE_ERR_NOMEM, "check: out of memory");
    if ((st = clvae_model_layout(&m, cfg, (int)ds->dim))) goto done;
    if ((st = clvae_model_init(&m, be, B, cfg->train.samples, true))) goto done;
    size_t per_pass = ds->n / B;
    for (int s = 0; s < steps && !st; s++) {
        size_t first = (per_pass ? (size_t)s % per_pass : 0) * B;
        int b = ds->n < (size_t)B ? (int)ds->n : B;
        double recon = 0, kl = 0; /* set by take_losses unless a step failed */
        st = clvae_upload_range(&m, ds, first, b, stage);
        if (!st) st = clvae_model_train_step(&m, b);
        if (!st) st = clvae_model_take_losses(&m, &recon, &kl);
        losses[s] = (recon + kl) / b;
    }
    clvae_model_free(&m);
done:
    free(stage);
    return st;
}
