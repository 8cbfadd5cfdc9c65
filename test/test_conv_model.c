/* Conv models on the reference backend: the whole loss's gradient through Conv2d,
 * ConvTranspose2d (stride, padding, dilation, output padding, rectangular kernels), BatchNorm2d
 * in training mode, the NCHW <-> NHWC transposes and the dense layers around them, against
 * central differences; BatchNorm's running statistics (updated by the training forward, never
 * by the optimizer, used by evaluation); the parameter table's PyTorch names and shapes; the
 * shape errors that need the image (kernel too large, decoder output not the image); and the
 * model family on conv nets (IWAE, hierarchical, conditional, Gumbel top) against central
 * differences. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "clvae/config.h"
#include "clvae/status.h"
#include "core/philox.h"
#include "fdcheck.h"
#include "model/vae.h"
#include "model/vae_shapes.h"
#include "testutil.h"

#define B 3
#define S 2
#define STEP 5

/* x is 2x6x5 (C, H, W): several channels, so the net's edges transpose NCHW <-> NHWC.
 * encoder: conv 3 k3 s2 p1 bn -> 3x3x3, conv 5 k2x3 p1x0 -> 5x4x1, dense 5, heads (latent 3);
 * decoder: dense 6, view 2x3x3 (softplus), convt 5 k3 s2 p2 o1 d2 bn -> 5x6x6, then
 * decoder_out conv k1x2 -> 2x6x5. encoder.0 and decoder_out (at most 4 channels) run the
 * direct conv ops, encoder.1 and decoder.2 im2col / col2im and GEMMs (vae_conv.c); the family
 * models below have a ConvTranspose2d to 3 channels (its forward direct). */
static int setup(clvae_model *m, clvae_config *cfg, const char *enc, const char *dec,
                 const char *out, const char *shape)
{
    char a[256];
    clvae_config_defaults(cfg);
    const char *sets[] = {"model.encoder=", enc, "model.decoder=", dec, "model.decoder_out=", out,
                          "data.image_shape=", shape};
    for (int i = 0; i < 8; i += 2) {
        snprintf(a, sizeof a, "%s%s", sets[i], sets[i + 1]);
        if (clvae_config_set(cfg, a)) return CLVAE_ERR_CONFIG;
    }
    cfg->model.latent[0] = 3;
    cfg->model.activation = CLVAE_ACT_TANH;
    cfg->train.batch = B;
    cfg->train.samples = S;
    cfg->train.seed = 7;
    int st = clvae_config_validate(cfg);
    if (!st) st = clvae_model_layout(m, cfg, 60);
    return st;
}

static const char *ENC = "conv 3 k3 s2 p1 bn, conv 5 k2x3 p1x0, 5";
static const char *DEC = "6, 2x3x3 softplus, convt 5 k3 s2 p2 o1 d2 bn";
static const char *OUT = "conv k1x2";

/* The ELBO of a training forward (batch statistics): (1/(S*B)) sum nll + (1/B) sum kl. */
static double train_loss(clvae_model *m, void *ctx)
{
    float loss[S * B], kl[B];
    int st = clvae_model_forward_backward(m, B, STEP, CLVAE_STREAM_EPS_TRAIN);
    if (st) {
        fprintf(stderr, "forward_backward: %s\n", clvae_last_error());
        exit(1);
    }
    down(m->loss, loss, S * B);
    down(m->kl, kl, B);
    double r = 0, k = 0;
    for (int i = 0; i < S * B; i++) r += loss[i];
    for (int i = 0; i < B; i++) k += kl[i];
    return r / (S * B) + k / B;
}

static void check_names(const clvae_model *m)
{
    static const struct { const char *name; int ndim; size_t shape[4]; } want[] = {
        {"encoder.0.weight", 4, {3, 2, 3, 3}}, {"encoder.0.bias", 1, {3}},
        {"encoder.1.weight", 1, {3}}, {"encoder.1.running_var", 1, {3}},
        {"encoder.2.weight", 4, {5, 3, 2, 3}}, {"encoder.3.weight", 2, {5, 20}},
        {"encoder.mu.weight", 2, {3, 5}}, {"decoder.0.weight", 2, {6, 3}},
        {"decoder.1.weight", 2, {18, 6}}, {"decoder.2.weight", 4, {2, 5, 3, 3}},
        {"decoder.3.running_mean", 1, {5}}, {"decoder.out.weight", 4, {2, 5, 1, 2}},
        {"decoder.out.bias", 1, {2}}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int k = clvae_model_find_param(m, want[i].name);
        CHECK(k >= 0, "no parameter %s", want[i].name);
        if (k < 0) continue;
        const clvae_param *p = &m->params[k];
        CHECK(p->ndim == want[i].ndim && !memcmp(p->shape, want[i].shape, sizeof(size_t) * p->ndim),
              "%s: %d dims (%zu, %zu, ...)", want[i].name, p->ndim, p->shape[0], p->shape[1]);
    }
    CHECK(m->n_params == 26, "%d parameters", m->n_params);
}

/* Central differences of the training loss at h = 1e-2 over every parameter (the running
 * statistics have no effect on it and a zero gradient: their FD is 0 too). Reports the tensor
 * of the worst entry. */
static void check_gradient(clvae_model *m)
{
    size_t n = m->n_floats;
    float *p = malloc(n * sizeof(float)), *ga = malloc(n * sizeof(float)), x[B * 60];
    clvae_model_get_params(m, p);
    for (int i = 0; i < m->n_params; i++) /* biases, gamma, beta: not their init values */
        if (m->params[i].init == CLVAE_PINIT_ZERO || m->params[i].init == CLVAE_PINIT_ONE)
            fill_uniform(p + m->params[i].offset, (size_t)m->params[i].rows, 0.5, 1.0);
    clvae_model_set_params(m, p);
    fill_uniform(x, B * 60, 0, 1);
    be.ops->upload(be.ctx, m->x, x, sizeof x);
    double l0 = train_loss(m, NULL);
    clvae_model_get_grads(m, ga);
    double num = 0, den = 0, worst = 0;
    const char *worst_name = "";
    for (int t = 0; t < m->n_params; t++) {
        const clvae_param *pr = &m->params[t];
        for (size_t i = pr->offset; i < pr->offset + (size_t)pr->rows * pr->cols; i++) {
            float p0 = p[i];
            p[i] = p0 + 1e-2f;
            clvae_model_set_params(m, p);
            double lp = train_loss(m, NULL);
            p[i] = p0 - 1e-2f;
            clvae_model_set_params(m, p);
            double lm = train_loss(m, NULL);
            p[i] = p0;
            double g = (lp - lm) / ((double)(p0 + 1e-2f) - (double)(p0 - 1e-2f)), d = g - ga[i];
            num += d * d, den += g * g;
            /* floor 1e-1: the loss is ~60 here, so its float noise (~4e-6) over 2h is ~2e-4 */
            if (fabs(d) / (fabs(g) + 1e-1) > worst) worst = fabs(d) / (fabs(g) + 1e-1), worst_name = pr->name;
        }
    }
    clvae_model_set_params(m, p);
    double rel = sqrt(num / den);
    printf("conv model: %zu floats, L %.6f, gradient rel L2 %.2e, worst entry %.2e (%s)\n", n, l0,
           rel, worst, worst_name);
    /* As test_gradcheck's dense models (float32 loss noise over 2h plus O(h^2) truncation):
     * 1e-3 relative L2 (measured 1.8e-4) and 1e-2 per entry; a wrong term in any op's gradient
     * is O(1e-1..1). */
    CHECK(rel < 1e-3, "gradient relative L2 error %g", rel);
    CHECK(worst < 1e-2, "worst gradient entry off by %g (%s)", worst, worst_name);
    free(p);
    free(ga);
}

/* The training forward moves the running statistics (momentum 0.1 from 0 / 1), their gradient
 * is 0, the optimizer leaves them bit for bit, and evaluation reads them (eval loss differs
 * from the training-mode loss). */
static void check_running_stats(clvae_model *m)
{
    size_t n = m->n_floats;
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float));
    clvae_model_forward_backward(m, B, STEP, CLVAE_STREAM_EPS_TRAIN);
    clvae_model_get_params(m, a);
    clvae_model_get_grads(m, g);
    clvae_model_apply_grads(m);
    clvae_model_get_params(m, b);
    int stats = 0, moved = 0, zero_grad = 0, kept = 0, trained_moved = 0;
    for (int i = 0; i < m->n_params; i++) {
        const clvae_param *p = &m->params[i];
        bool stat = p->init == CLVAE_PINIT_STAT_ZERO || p->init == CLVAE_PINIT_STAT_ONE;
        for (int j = 0; j < p->rows * p->cols; j++) {
            size_t k = p->offset + (size_t)j;
            if (!stat) {
                trained_moved += a[k] != b[k];
                continue;
            }
            stats++;
            moved += a[k] != (p->init == CLVAE_PINIT_STAT_ONE ? 1.0f : 0.0f);
            zero_grad += g[k] == 0.0f;
            kept += memcmp(&a[k], &b[k], sizeof(float)) == 0;
        }
    }
    CHECK(stats == 2 * (3 + 5) && moved == stats, /* BN layers of 3 and 5 channels */
          "%d of %d running statistics moved", moved, stats);
    CHECK(zero_grad == stats && kept == stats, "running statistics: %d zero gradients, %d kept by "
          "the optimizer, of %d", zero_grad, kept, stats);
    CHECK(trained_moved > 0, "the optimizer moved no trained parameter");
    /* evaluation: deterministic passes use the running statistics, and do not update them */
    clvae_model_forward(m, B, 1, STEP, CLVAE_STREAM_EPS_TRAIN, true);
    clvae_model_get_params(m, a);
    CHECK(memcmp(a, b, n * sizeof(float)) == 0, "an evaluation pass changed the parameters");
    free(a), free(b), free(g);
}

static void check_shape_errors(void)
{
    clvae_config cfg;
    clvae_model m;
    int st = setup(&m, &cfg, "conv 3 k9, 5", DEC, OUT, "6x5x2");
    CHECK(st == CLVAE_ERR_CONFIG && strstr(clvae_last_error(), "larger than the padded input"),
          "kernel 9 on 6x5: %s", clvae_last_error());
    st = setup(&m, &cfg, ENC, DEC, "conv k2x2", "6x5x2");
    CHECK(st == CLVAE_ERR_CONFIG && strstr(clvae_last_error(), "2x5x5") &&
              strstr(clvae_last_error(), "2x6x5"),
          "decoder output 5x5 for a 6x5 image: %s", clvae_last_error());
    st = setup(&m, &cfg, ENC, DEC, OUT, "none");
    CHECK(st == CLVAE_ERR_CONFIG && strstr(clvae_last_error(), "without an image shape"),
          "no image shape: %s", clvae_last_error());
}


/* ---- the model family on conv nets ---------------------------------------------------- */

/* The loss forward_backward differentiates, from its own forward (training mode: batch
 * statistics), in double: the IWAE bound from m->loss and m->kl_sum, else the ELBO. */
static double family_loss(clvae_model *m, void *ctx)
{
    static float nll[64], kl[64];
    int b = B, K = m->samples, rows = K * b;
    if (clvae_model_forward_backward(m, b, STEP, CLVAE_STREAM_EPS_TRAIN)) {
        fprintf(stderr, "forward_backward: %s\n", clvae_last_error());
        exit(1);
    }
    down(m->loss, nll, rows);
    if (m->objective == CLVAE_OBJ_IWAE) {
        down(m->kl_sum, kl, rows);
        double total = 0;
        for (int i = 0; i < b; i++) {
            double mx = -INFINITY, s = 0;
            for (int k = 0; k < K; k++) mx = fmax(mx, -(nll[k * b + i] + (double)kl[k * b + i]));
            for (int k = 0; k < K; k++) s += exp(-(nll[k * b + i] + (double)kl[k * b + i]) - mx);
            total += -(mx + log(s) - log((double)K));
        }
        return total / b;
    }
    double L = 0;
    for (int r = 0; r < rows; r++) L += nll[r] / (double)rows;
    for (int l = 0; l < m->T; l++) {
        int n = l == m->T - 1 && l == 0 ? b : rows; /* the top's analytic KL: one per q row */
        down(m->lat[l].kl, kl, n);
        for (int r = 0; r < n; r++) L += kl[r] / (double)n;
    }
    return L;
}

/* A conv model of the family (sets: --set assignments on top of ENC/DEC/OUT on 2x6x5 data)
 * against central differences of its whole loss. */
static void check_family(const char *name, const char *const *sets, int n_sets)
{
    clvae_config cfg;
    clvae_model m;
    char a[256];
    clvae_config_defaults(&cfg);
    const char *base[] = {"model.encoder=conv 3 k3 s2 p1 bn, conv 4 k2x3 p1x0", "model.decoder=2x3x3 softplus, convt 3 k3 s2 p2 o1 d2 bn",
                          "model.decoder_out=conv k1x2", "data.image_shape=6x5x2", "model.activation=tanh",
                          "model.latent=3", "train.samples=2", "train.seed=9"};
    int st = 0;
    for (int i = 0; i < 8 && !st; i++) st = clvae_config_set(&cfg, base[i]);
    for (int i = 0; i < n_sets && !st; i++) {
        snprintf(a, sizeof a, "%s", sets[i]);
        st = clvae_config_set(&cfg, a);
    }
    if (!st) st = clvae_config_validate(&cfg);
    if (!st) st = clvae_model_layout(&m, &cfg, 60);
    if (!st) st = clvae_model_init(&m, &be, B, cfg.train.samples, true);
    CHECK(!st, "%s: setup: %s", name, clvae_last_error());
    if (st) return;
    uint8_t labels[B] = {2, 0, 1};
    clvae_model_set_labels(&m, labels, B);
    size_t n = m.n_floats;
    float *p = malloc(n * sizeof(float)), *ga = malloc(n * sizeof(float)), x[B * 60];
    clvae_model_get_params(&m, p);
    for (int i = 0; i < m.n_params; i++)
        if (m.params[i].init == CLVAE_PINIT_ZERO || m.params[i].init == CLVAE_PINIT_ONE)
            fill_uniform(p + m.params[i].offset, (size_t)m.params[i].rows, 0.5, 1.0);
    clvae_model_set_params(&m, p);
    fill_uniform(x, B * 60, 0, 1);
    be.ops->upload(be.ctx, m.x, x, sizeof x);
    double l0 = family_loss(&m, NULL), worst;
    clvae_model_get_grads(&m, ga);
    double rel = fd_model(&m, p, ga, 1e-2f, family_loss, NULL, &worst);
    printf("%-34s %3zu floats, L %.5f, gradient rel L2 %.2e, worst entry %.2e\n", name, n, l0,
           rel, worst);
    /* as check_gradient; fd_model's per-entry floor is 1e-2 (losses here ~40-60: float noise
     * over 2h ~2e-4, so a zero gradient may read 2e-2): only the relative L2 is bounded. */
    CHECK(rel < 1e-3, "%s: gradient relative L2 error %g", name, rel);
    free(p);
    free(ga);
    clvae_model_free(&m);
}

/* The im2col work in chunks of one image (chunk_floats 1) against the whole batch at once:
 * the same loss bit for bit (every row's products are the same), gradients within 1e-6
 * relative L2 (the weight gradients sum the chunks in another order: float rounding, ~1e-7). */
static void check_chunks(void)
{
    clvae_config cfg;
    clvae_model m[2];
    float x[B * 60], *g[2] = {NULL, NULL}, *p = NULL, loss[2][S * B];
    fill_uniform(x, B * 60, 0, 1);
    for (int k = 0; k < 2; k++) {
        int st = setup(&m[k], &cfg, ENC, DEC, OUT, "6x5x2");
        m[k].lat[0].q.conv.chunk_floats = m[k].dec.conv.chunk_floats = (size_t)k;
        if (!st) st = clvae_model_init(&m[k], &be, B, S, true);
        CHECK(!st, "chunked model: %s", clvae_last_error());
        if (st) return;
        g[k] = malloc(m[k].n_floats * sizeof(float));
        if (!p) {
            p = malloc(m[k].n_floats * sizeof(float));
            clvae_model_get_params(&m[k], p);
            fill_uniform(p, m[k].n_floats, -0.5, 0.5);
            for (int i = 0; i < m[k].n_params; i++)
                if (m[k].params[i].init == CLVAE_PINIT_STAT_ONE)
                    fill_uniform(p + m[k].params[i].offset, (size_t)m[k].params[i].rows, 0.5, 1.5);
        }
        clvae_model_set_params(&m[k], p);
        be.ops->upload(be.ctx, m[k].x, x, sizeof x);
        clvae_model_forward_backward(&m[k], B, STEP, CLVAE_STREAM_EPS_TRAIN);
        be.ops->download(be.ctx, m[k].loss, loss[k], sizeof loss[k]);
        clvae_model_get_grads(&m[k], g[k]);
    }
    double e = 0, n = 0;
    for (size_t i = 0; i < m[0].n_floats; i++) {
        e += ((double)g[1][i] - g[0][i]) * ((double)g[1][i] - g[0][i]);
        n += (double)g[0][i] * g[0][i];
    }
    CHECK(!memcmp(loss[0], loss[1], sizeof loss[0]), "chunked im2col: the loss differs");
    CHECK(sqrt(e / n) <= 1e-6, "chunked im2col: gradients differ by %.3g relative L2", sqrt(e / n));
    printf("im2col in chunks of one image: loss bit-identical, gradients rel L2 %.2e\n", sqrt(e / n));
    free(g[0]), free(g[1]), free(p);
    clvae_model_free(&m[0]);
    clvae_model_free(&m[1]);
}

/* A backend without the fused act_bwd_col_sum runs act_bwd (or leaky_bwd) then col_sum: the same
 * gradients bit for bit (dense leaky_relu layers, the view's activation, conv layers). */
static void check_unfused(void)
{
    const char *enc = "conv 3 k3 s2 p1 bn, conv 4 k2x3 p1x0, 5", *dec = "6, 2x3x3, convt 3 k3 s2 p2 o1 d2 bn";
    clvae_config cfg;
    clvae_model m[2];
    static clvae_backend_ops unfused;
    unfused = *be.ops;
    unfused.act_bwd_col_sum = NULL;
    clvae_backend plain = {&unfused, be.ctx};
    float x[B * 60], *g[2] = {NULL, NULL}, *p = NULL;
    fill_uniform(x, B * 60, 0, 1);
    for (int k = 0; k < 2; k++) {
        int st = setup(&m[k], &cfg, enc, dec, OUT, "6x5x2");
        if (!st) {
            cfg.model.activation = CLVAE_ACT_LEAKY_RELU;
            st = clvae_model_layout(&m[k], &cfg, 60);
        }
        if (!st) st = clvae_model_init(&m[k], k ? &plain : &be, B, S, true);
        CHECK(!st, "unfused setup: %s", clvae_last_error());
        if (st) return;
        g[k] = malloc(m[k].n_floats * sizeof(float));
        if (!p) {
            p = malloc(m[k].n_floats * sizeof(float));
            clvae_model_get_params(&m[k], p);
            fill_uniform(p, m[k].n_floats, -0.5, 0.5); /* biases too; BN variances stay > 0 */
            for (int i = 0; i < m[k].n_params; i++)
                if (m[k].params[i].init == CLVAE_PINIT_STAT_ONE)
                    fill_uniform(p + m[k].params[i].offset, (size_t)m[k].params[i].rows, 0.5, 1.5);
        }
        clvae_model_set_params(&m[k], p);
        be.ops->upload(be.ctx, m[k].x, x, sizeof x);
        clvae_model_forward_backward(&m[k], B, STEP, CLVAE_STREAM_EPS_TRAIN);
        clvae_model_get_grads(&m[k], g[k]);
    }
    CHECK(!memcmp(g[0], g[1], m[0].n_floats * sizeof(float)),
          "gradients with and without act_bwd_col_sum differ");
    free(g[0]), free(g[1]), free(p);
    clvae_model_free(&m[0]);
    clvae_model_free(&m[1]);
}

int main(void)
{
    int st = clvae_ref_backend_create(&be);
    if (st) return 1;
    clvae_config cfg;
    clvae_model m;
    st = setup(&m, &cfg, ENC, DEC, OUT, "6x5x2");
    CHECK(!st, "layout: %s", clvae_last_error());
    if (!st) st = clvae_model_init(&m, &be, B, S, true);
    CHECK(!st, "init: %s", clvae_last_error());
    if (!st) {
        /* the tuner's shape list holds the conv GEMMs: encoder.1's forward (B*4*1, 5, 3*6) */
        clvae_gemm_shape shapes[64];
        int ns = clvae_model_gemm_shapes(&m, B, S, shapes, 64), found = 0;
        for (int i = 0; i < ns; i++)
            found |= !shapes[i].ta && shapes[i].tb && shapes[i].m == B * 4 && shapes[i].n == 5 &&
                     shapes[i].k == 18;
        CHECK(ns > 0 && found, "gemm shapes of a conv model: %d, conv forward %s", ns,
              found ? "found" : "missing");
        check_names(&m);
        check_gradient(&m);
        check_running_stats(&m);
        clvae_model_free(&m);
    }
    check_shape_errors();
    check_unfused();
    check_chunks();
    /* IWAE (S*B rows through the decoder's BatchNorm), a hierarchical model whose first
     * segment is conv with a conditional one-hot joining the first dense layers, a Gumbel top */
    const char *iwae[] = {"train.objective=iwae", "model.latent=3,2", "model.encoder=conv 3 k3 s2 p1 bn, conv 4 k2x3 p1x0, 5 | 4",
                          "model.decoder=4 | 6, 2x3x3 softplus, convt 3 k3 s2 p2 o1 d2 bn",
                          "model.conditional=true", "model.classes=3"};
    check_family("iwae, 2 layers, conditional", iwae, 6);
    const char *gumbel[] = {"model.latent_type=categorical", "model.categorical=2x3", "train.samples=1"};
    check_family("gumbel-softmax top", gumbel, 3);
    /* gaussian-learned: decoder_out has 2C channels, [mean maps | log-variance maps] */
    const char *learned[] = {"model.likelihood=gaussian-learned", "train.samples=1"};
    check_family("gaussian-learned (2C output maps)", learned, 2);
    clvae_backend_free(&be);
    return tu_finish("test_conv_model");
}
