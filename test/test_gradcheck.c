/* Finite-difference gradient checks on the reference backend: every op with a gradient against
 * a double re-implementation, and the whole negative ELBO of small models per likelihood. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "clvae/config.h"
#include "clvae/status.h"
#include "core/philox.h"
#include "model/vae.h"
#include "fdcheck.h"
#include "testutil.h"

/* ------------------------------------------------------------------ bias + activation */

static double act_d(clvae_act act, double x)
{
    switch (act) {
    case CLVAE_ACT_RELU: return x > 0 ? x : 0;
    case CLVAE_ACT_TANH: return tanh(x);
    case CLVAE_ACT_SOFTPLUS: return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
    default: return x;
    }
}

typedef struct act_ctx {
    clvae_act act;
    int rows, cols;
    const double *w; /* (rows, cols) upstream gradient */
} act_ctx;

/* f(pre, bias) = sum_ij w_ij act(pre_ij + bias_j); x packs [pre (rows*cols) | bias (cols)]. */
static double act_obj(const double *x, void *vc)
{
    const act_ctx *c = vc;
    const double *bias = x + (size_t)c->rows * c->cols;
    double s = 0;
    for (int i = 0; i < c->rows; i++)
        for (int j = 0; j < c->cols; j++)
            s += c->w[i * c->cols + j] * act_d(c->act, x[i * c->cols + j] + bias[j]);
    return s;
}

static void check_act(clvae_act act)
{
    enum { ROWS = 7, COLS = 5, N = ROWS * COLS };
    float pre[N], bias[COLS], w[N], y[N], dpre[N], dbias[COLS];
    fill_uniform(bias, COLS, -1, 1);
    fill_uniform(w, N, -1, 1);
    for (int i = 0; i < N; i++) {
        /* Inputs in [-3, 3]; for ReLU none within 0.05 of the kink, so FD_H never crosses it. */
        do {
            pre[i] = (float)urand(-3, 3);
        } while (act == CLVAE_ACT_RELU && fabsf(pre[i] + bias[i % COLS]) < 0.05f);
    }
    clvae_view vy = dev(pre, N), vb = dev(bias, COLS), vd = dev(w, N), vdb = dev(NULL, COLS);
    be.ops->bias_act(be.ctx, act, ROWS, COLS, vb, vy);
    be.ops->act_bwd(be.ctx, act, ROWS, COLS, vy, vd); /* dpre = w * act'(.) */
    be.ops->col_sum(be.ctx, ROWS, COLS, vd, vdb);     /* dbias = column sums */
    down(vy, y, N);
    down(vd, dpre, N);
    down(vdb, dbias, COLS);

    double yd[N], g[N + COLS], x[N + COLS], wd[N];
    for (int i = 0; i < N; i++) {
        yd[i] = act_d(act, (double)pre[i] + bias[i % COLS]);
        x[i] = pre[i];
        wd[i] = w[i];
    }
    for (int j = 0; j < COLS; j++)
        x[N + j] = bias[j];
    act_ctx c = {act, ROWS, COLS, wd};
    for (int i = 0; i < N + COLS; i++)
        g[i] = central(act_obj, x, i, &c);
    float got[N + COLS];
    memcpy(got, dpre, sizeof dpre);
    memcpy(got + N, dbias, sizeof dbias);
    double e_fwd = rel_err(yd, y, N, 1e-6), e_bwd = scaled_err(g, got, N + COLS);
    printf("bias_act/act_bwd %-8s forward rel %.2e  gradient %.2e\n", clvae_act_name(act), e_fwd,
           e_bwd);
    /* Forward: tanhf/expf/log1pf are within ~2 ulp; 1e-6 relative (8 ulp) with a 1e-6 floor
     * for softplus values near 0. */
    CHECK(e_fwd <= 1e-6, "%s forward differs from double by %g", clvae_act_name(act), e_fwd);
    /* Backward: act' written through the float output y (1 - y^2, 1 - e^-y) loses up to a few
     * ulp of y to cancellation; 1e-5 of the largest gradient is ~100 ulp, far above that and
     * far below any wrong formula. */
    CHECK(e_bwd <= 1e-5, "%s gradient differs from finite differences by %g", clvae_act_name(act),
          e_bwd);
    free_bufs();
}

/* ------------------------------------------------------------------ reparam + KL */

typedef struct rep_ctx {
    int B, S, R;
    double kl_weight;
    const double *eps, *w; /* (S*B, R) each; w = upstream gradient of z */
} rep_ctx;

/* z and kl in double from heads (B, 2R). */
static void rep_fwd_d(const rep_ctx *c, const double *heads, double *z, double *kl)
{
    for (int b = 0; b < c->B; b++) {
        const double *mu = heads + (size_t)b * 2 * c->R, *lv = mu + c->R;
        double s = 0;
        for (int j = 0; j < c->R; j++)
            s += mu[j] * mu[j] + exp(lv[j]) - lv[j] - 1;
        kl[b] = 0.5 * s;
        for (int k = 0; k < c->S; k++)
            for (int j = 0; j < c->R; j++) {
                size_t i = ((size_t)k * c->B + b) * c->R + j;
                z[i] = mu[j] + exp(0.5 * lv[j]) * c->eps[i];
            }
    }
}

/* f(heads) = sum w * z + kl_weight * sum_b kl_b. */
static double rep_obj(const double *heads, void *vc)
{
    const rep_ctx *c = vc;
    double z[256], kl[16], s = 0;
    rep_fwd_d(c, heads, z, kl);
    for (int i = 0; i < c->S * c->B * c->R; i++)
        s += c->w[i] * z[i];
    for (int b = 0; b < c->B; b++)
        s += c->kl_weight * kl[b];
    return s;
}

static void check_reparam(void)
{
    enum { B = 4, S = 3, R = 5, NH = B * 2 * R, NZ = S * B * R };
    float heads[NH], eps[NZ], z[NZ], kl[B], w[NZ], dh[NH];
    for (int b = 0; b < B; b++)
        for (int j = 0; j < R; j++) {
            heads[b * 2 * R + j] = (float)urand(-2, 2);     /* mu */
            heads[b * 2 * R + R + j] = (float)urand(-3, 2); /* logvar */
        }
    fill_uniform(w, NZ, -1, 1);
    clvae_view vh = dev(heads, NH), vz = dev(NULL, NZ), ve = dev(NULL, NZ), vk = dev(NULL, B);
    clvae_view vw = dev(w, NZ), vdh = dev(NULL, NH);
    clvae_reparam_args a = {.batch = B,
                            .samples = S,
                            .latent = R,
                            .seed = 7,
                            .step = 3,
                            .stream = CLVAE_STREAM_EPS_TRAIN,
                            .eps_given = false,
                            .heads = vh,
                            .z = vz,
                            .eps = ve,
                            .kl = vk};
    be.ops->reparam(be.ctx, &a);
    down(ve, eps, NZ);
    /* Generated noise is exactly the documented counter layout (same host code: bit-equal). */
    int layout_ok = 1;
    for (int i = 0; i < NZ; i++)
        layout_ok &= eps[i] == clvae_philox_normal(7, 3, CLVAE_STREAM_EPS_TRAIN, (uint64_t)i);
    CHECK(layout_ok, "reparam eps is not clvae_philox_normal(seed, step, stream, (s*B+b)*R+j)");
    /* eps_given reads the eps buffer: re-run with it and expect the same z. */
    a.eps_given = true;
    be.ops->reparam(be.ctx, &a);
    down(vz, z, NZ);
    down(vk, kl, B);
    float kw = 0.7f / B;
    clvae_reparam_bwd_args ba = {.batch = B,
                                 .samples = S,
                                 .latent = R,
                                 .kl_weight = kw,
                                 .heads = vh,
                                 .eps = ve,
                                 .dz = vw,
                                 .dheads = vdh};
    be.ops->reparam_bwd(be.ctx, &ba);
    down(vdh, dh, NH);

    double *hd = to_double(heads, NH), *ed = to_double(eps, NZ), *wd = to_double(w, NZ);
    double zd[NZ], kld[B], g[NH];
    rep_ctx c = {B, S, R, kw, ed, wd};
    rep_fwd_d(&c, hd, zd, kld);
    for (int i = 0; i < NH; i++)
        g[i] = central(rep_obj, hd, i, &c);
    double e_z = scaled_err(zd, z, NZ), e_kl = rel_err(kld, kl, B, 0), e_g = scaled_err(g, dh, NH);
    printf("reparam          z %.2e  kl rel %.2e  gradient %.2e\n", e_z, e_kl, e_g);
    /* z = mu + expf(lv/2) eps: ~2 ulp of the largest |z|; 1e-6 is 8 ulp. */
    CHECK(e_z <= 1e-6, "reparam z differs from double by %g", e_z);
    /* kl: R = 5 float terms mu^2 + e^lv - lv - 1 that partly cancel; 1e-5 relative. */
    CHECK(e_kl <= 1e-5, "reparam kl differs from double by %g", e_kl);
    /* dheads: sums over S of float products; 1e-5 of the largest entry (~100 ulp). */
    CHECK(e_g <= 1e-5, "reparam_bwd differs from finite differences by %g", e_g);
    free(hd);
    free(ed);
    free(wd);
    free_bufs();
}

/* ------------------------------------------------------------------ likelihoods */

typedef struct lik_ctx {
    clvae_likelihood kind;
    int rows, batch, dim;
    double sigma_x, grad_scale;
    const double *x; /* (batch, dim) */
} lik_ctx;

/* Per-row negative log-likelihood in double, exactly backend.h's formulas. */
static double lik_row_d(const lik_ctx *c, const double *out, int r)
{
    int D = c->dim, learned = c->kind == CLVAE_LIK_GAUSSIAN_LEARNED;
    const double *o = out + (size_t)r * (learned ? 2 * D : D),
                 *x = c->x + (size_t)(r % c->batch) * D;
    double s = 0;
    for (int j = 0; j < D; j++) {
        double l = o[j], d = x[j] - l;
        if (c->kind == CLVAE_LIK_BERNOULLI)
            s += (l > 0 ? l + log1p(exp(-l)) : log1p(exp(l))) - x[j] * l;
        else if (c->kind == CLVAE_LIK_GAUSSIAN)
            s += d * d / (2 * c->sigma_x * c->sigma_x);
        else
            s += d * d / (2 * exp(o[D + j])) + 0.5 * o[D + j] + 0.5 * log(2 * M_PI);
    }
    if (c->kind == CLVAE_LIK_GAUSSIAN) s += 0.5 * D * log(2 * M_PI * c->sigma_x * c->sigma_x);
    return s;
}

static double lik_obj(const double *out, void *vc)
{
    const lik_ctx *c = vc;
    double s = 0;
    for (int r = 0; r < c->rows; r++)
        s += lik_row_d(c, out, r);
    return c->grad_scale * s;
}

static void check_likelihood(clvae_likelihood kind)
{
    enum { B = 3, S = 2, ROWS = S * B, D = 4, MAXO = ROWS * 2 * D };
    int learned = kind == CLVAE_LIK_GAUSSIAN_LEARNED, ld = learned ? 2 * D : D, no = ROWS * ld;
    float out[MAXO], x[B * D], loss[ROWS], loss2[ROWS], dout[MAXO];
    float sx = 0.7f, gs = 1.0f / ROWS;
    fill_uniform(x, B * D, 0, 1);
    x[0] = 0.0f; /* exact binary targets too */
    x[1] = 1.0f;
    for (int r = 0; r < ROWS; r++)
        for (int j = 0; j < ld; j++)
            out[r * ld + j] = (float)(j < D ? urand(-4, 4) : urand(-2, 2)); /* logvar in [-2, 2] */
    if (kind == CLVAE_LIK_BERNOULLI) {
        out[2] = 25.0f; /* saturated logits: the stable softplus form must hold */
        out[3] = -25.0f;
    }
    clvae_view vo = dev(out, no), vx = dev(x, B * D), vl = dev(NULL, ROWS), vd = dev(NULL, no);
    clvae_lik_args a = {.kind = kind,
                        .rows = ROWS,
                        .batch = B,
                        .dim = D,
                        .sigma_x = sx,
                        .grad_scale = gs,
                        .out = vo,
                        .x = vx,
                        .loss = vl,
                        .dout = vd};
    be.ops->likelihood(be.ctx, &a);
    down(vl, loss, ROWS);
    down(vd, dout, no);
    a.dout.buf = NULL; /* the loss-only path gives the same rows */
    be.ops->likelihood(be.ctx, &a);
    down(vl, loss2, ROWS);
    CHECK(!memcmp(loss, loss2, sizeof loss), "%s: loss with and without dout differ",
          clvae_likelihood_name(kind));

    double *od = to_double(out, no), *xd = to_double(x, B * D), ld_[ROWS], g[MAXO];
    lik_ctx c = {kind, ROWS, B, D, sx, gs, xd};
    for (int r = 0; r < ROWS; r++)
        ld_[r] = lik_row_d(&c, od, r);
    for (int i = 0; i < no; i++)
        g[i] = central(lik_obj, od, i, &c);
    double e_l = rel_err(ld_, loss, ROWS, 0), e_g = scaled_err(g, dout, no);
    printf("likelihood %-16s loss rel %.2e  gradient %.2e\n", clvae_likelihood_name(kind), e_l,
           e_g);
    /* Row losses: D float terms up to ~25 (saturated logits, whose softplus(l) - x l cancels
     * to ~2.5: ulp(25) = 1.9e-6) summed in double; 1e-5 relative covers that cancellation. */
    CHECK(e_l <= 1e-5, "%s loss differs from double by %g", clvae_likelihood_name(kind), e_l);
    /* dout = grad_scale * (sigmoid(l) - x | (m - x)/sx^2 | ...): a few ulp; 1e-5 of the
     * largest entry. */
    CHECK(e_g <= 1e-5, "%s gradient differs from finite differences by %g",
          clvae_likelihood_name(kind), e_g);
    free(od);
    free(xd);
    free_bufs();
}

/* ------------------------------------------------------------------ gemm */

typedef struct gemm_ctx {
    bool ta, tb;
    int m, n, k, lda, ldb, ldc;
    double alpha, beta;
    const double *c0, *w; /* C before (m, ldc); upstream gradient (m, n) */
    size_t na;            /* x packs [A storage (na) | B storage] */
} gemm_ctx;

static double gemm_elem(const gemm_ctx *c, const double *a, const double *b, int i, int j)
{
    double s = 0;
    for (int p = 0; p < c->k; p++) {
        double av = c->ta ? a[(size_t)p * c->lda + i] : a[(size_t)i * c->lda + p];
        double bv = c->tb ? b[(size_t)j * c->ldb + p] : b[(size_t)p * c->ldb + j];
        s += av * bv;
    }
    return c->alpha * s + c->beta * c->c0[(size_t)i * c->ldc + j];
}

/* f(A, B) = sum_ij w_ij C_ij. */
static double gemm_obj(const double *x, void *vc)
{
    const gemm_ctx *c = vc;
    double s = 0;
    for (int i = 0; i < c->m; i++)
        for (int j = 0; j < c->n; j++)
            s += c->w[i * c->n + j] * gemm_elem(c, x, x + c->na, i, j);
    return s;
}

/* C = alpha op(A) op(B) + beta C with padded leading dimensions, and its gradients computed
 * the way layer_bwd does (gemm with the transposes flipped). */
static void check_gemm(bool ta, bool tb)
{
    enum { M = 5, N = 4, K = 3, PAD = 2 };
    int lda = (ta ? M : K) + PAD, ldb = (tb ? K : N) + PAD, ldc = N + PAD;
    size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
    float a[64], b[64], c[64], cout[64], w[M * N], da[K * M], db[K * N];
    float alpha = 0.75f, beta = 0.5f;
    fill_uniform(a, na, -1, 1);
    fill_uniform(b, nb, -1, 1);
    fill_uniform(c, nc, -1, 1);
    fill_uniform(w, M * N, -1, 1);
    clvae_view va = dev(a, na), vb = dev(b, nb), vc = dev(c, nc), vw = dev(w, M * N);
    clvae_view vda = dev(NULL, (size_t)M * K), vdb = dev(NULL, (size_t)K * N);
    be.ops->gemm(be.ctx, ta, tb, M, N, K, alpha, va, lda, vb, ldb, beta, vc, ldc);
    /* d op(A) (M, K) = alpha W op(B)^T;  d op(B) (K, N) = alpha op(A)^T W. */
    be.ops->gemm(be.ctx, false, !tb, M, K, N, alpha, vw, N, vb, ldb, 0.0f, vda, K);
    be.ops->gemm(be.ctx, !ta, false, K, N, M, alpha, va, lda, vw, N, 0.0f, vdb, N);
    down(vc, cout, nc);
    down(vda, da, (size_t)M * K);
    down(vdb, db, (size_t)K * N);

    double *x = malloc((na + nb) * sizeof(double)), *cd = to_double(c, nc);
    double *wd = to_double(w, M * N), cref[64], g[128];
    for (size_t i = 0; i < na; i++)
        x[i] = a[i];
    for (size_t i = 0; i < nb; i++)
        x[na + i] = b[i];
    gemm_ctx gc = {ta, tb, M, N, K, lda, ldb, ldc, alpha, beta, cd, wd, na};
    /* Expected C: the GEMM inside (M, N), padding columns untouched. */
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldc; j++)
            cref[i * ldc + j] = j < N ? gemm_elem(&gc, x, x + na, i, j) : c[i * ldc + j];
    /* Analytic gradient of each stored element of A and B (0 in the padding). */
    float an[128];
    for (size_t i = 0; i < na; i++) {
        int r = (int)(i / lda), col = (int)(i % lda), inside = col < (ta ? M : K);
        /* stored A[r][col] is op(A)[r][col] (no transpose) or op(A)[col][r] (transposed) */
        an[i] = !inside ? 0.0f : ta ? da[col * K + r] : da[r * K + col];
        g[i] = central(gemm_obj, x, i, &gc);
    }
    for (size_t i = 0; i < nb; i++) {
        int r = (int)(i / ldb), col = (int)(i % ldb), inside = col < (tb ? K : N);
        an[na + i] = !inside ? 0.0f : tb ? db[col * N + r] : db[r * N + col];
        g[na + i] = central(gemm_obj, x, na + i, &gc);
    }
    double e_c = scaled_err(cref, cout, nc), e_g = scaled_err(g, an, na + nb);
    printf("gemm ta=%d tb=%d      C %.2e  gradient %.2e\n", ta, tb, e_c, e_g);
    /* K = 3 (forward) and up to N = 5 (gradient) term float dot products of values in [-1, 1]:
     * a few ulp of the largest entry; 1e-6 is ~8 ulp. The FD of a function linear in A and B
     * is exact up to double rounding. */
    CHECK(e_c <= 1e-6, "gemm ta=%d tb=%d: C differs from double by %g", ta, tb, e_c);
    CHECK(e_g <= 1e-6, "gemm ta=%d tb=%d: gradient differs from finite differences by %g", ta, tb,
          e_g);
    free(x);
    free(cd);
    free(wd);
    free_bufs();
}

/* ------------------------------------------------------------------ whole model */

typedef struct model_case {
    clvae_likelihood lik;
    clvae_act act;
    int dim;
} model_case;

#define MC_BATCH 4
#define MC_SAMPLES 2
#define MC_STEP 5 /* the noise step: forward and forward_backward draw the same eps */

/* L = (1/(S*b)) sum nll + (beta/b) sum kl from the last forward's m->loss and m->kl. */
static double model_loss(clvae_model *m, int b, int s)
{
    float loss[MC_SAMPLES * MC_BATCH], kl[MC_BATCH];
    be.ops->download(be.ctx, m->loss, loss, sizeof(float) * s * b);
    be.ops->download(be.ctx, m->kl, kl, sizeof(float) * b);
    double r = 0, k = 0;
    for (int i = 0; i < s * b; i++)
        r += loss[i];
    for (int i = 0; i < b; i++)
        k += kl[i];
    return r / (s * b) + (double)m->beta / b * k;
}

static double forward_loss(clvae_model *m)
{
    int st = clvae_model_forward(m, MC_BATCH, MC_SAMPLES, MC_STEP, CLVAE_STREAM_EPS_TRAIN, false);
    if (st) {
        fprintf(stderr, "clvae_model_forward: %s\n", clvae_last_error());
        exit(1);
    }
    return model_loss(m, MC_BATCH, MC_SAMPLES);
}

/* Which hidden ReLU units are on after the last forward (bit pattern over the hidden
 * activations of ReLU layers); a parameter whose +-h evaluations change it straddles a kink.
 * Smooth activations contribute nothing (their sign changes are no kinks). */
static size_t relu_pattern(clvae_model *m, unsigned char *pat)
{
    float h[MC_SAMPLES * MC_BATCH * 16];
    const clvae_mlp *nets[] = {&m->lat[0].q, &m->dec};
    const int rows[] = {MC_BATCH, MC_SAMPLES * MC_BATCH};
    size_t n = 0;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < nets[k]->n_hidden; i++) {
            if (nets[k]->hidden[i].act != CLVAE_ACT_RELU) continue;
            size_t cnt = (size_t)rows[k] * nets[k]->hidden[i].out;
            down(nets[k]->h[i], h, cnt);
            for (size_t j = 0; j < cnt; j++)
                pat[n++] = h[j] > 0;
        }
    return n;
}

/* Central differences of the whole loss at h = 1e-2 (float forward passes): truncation is
 * O(h^2 f''') ~ 1e-5 relative for these smooth O(1)-weight models, and rounding is the float
 * loss noise (~1e-6 absolute on a loss of ~5-20) over 2h = 2e-2, i.e. ~5e-5 per entry. */
#define MODEL_H 1e-2f

static void check_model(const model_case *mc)
{
    clvae_config cfg;
    clvae_model m = {0};
    clvae_config_defaults(&cfg);
    cfg.model.encoder[0] = (clvae_widths){.n = 1, .w = {5}};
    cfg.model.decoder[0] = (clvae_widths){.n = 1, .w = {4}};
    cfg.model.latent[0] = 3;
    cfg.model.activation = mc->act;
    cfg.model.likelihood = mc->lik;
    cfg.model.sigma_x = 0.8;
    cfg.model.beta = 0.7;
    cfg.train.batch = MC_BATCH;
    cfg.train.samples = MC_SAMPLES;
    cfg.train.seed = 11;
    int st = clvae_model_layout(&m, &cfg, mc->dim);
    if (!st) st = clvae_model_init(&m, &be, MC_BATCH, MC_SAMPLES, true);
    CHECK(!st, "model setup: %s", clvae_last_error());
    if (st) return;
    size_t n = m.n_floats;
    float *p = malloc(n * sizeof(float)), *ga = malloc(n * sizeof(float));
    double *gn = malloc(n * sizeof(double));
    unsigned char base[512], pat[512];
    /* Xavier weights from the library's init; biases made non-zero so they matter. */
    clvae_model_get_params(&m, p);
    for (int i = 0; i < m.n_params; i++)
        if (m.params[i].is_bias)
            fill_uniform(p + m.params[i].offset, (size_t)m.params[i].rows, -0.5, 0.5);
    clvae_model_set_params(&m, p);
    float x[MC_BATCH * 16];
    fill_uniform(x, (size_t)MC_BATCH * mc->dim, 0, 1);
    be.ops->upload(be.ctx, m.x, x, sizeof(float) * MC_BATCH * mc->dim);

    st = clvae_model_forward_backward(&m, MC_BATCH, MC_STEP, CLVAE_STREAM_EPS_TRAIN);
    CHECK(!st, "forward_backward: %s", clvae_last_error());
    double l_fb = model_loss(&m, MC_BATCH, MC_SAMPLES);
    clvae_model_get_grads(&m, ga);
    double l0 = forward_loss(&m);
    size_t np = relu_pattern(&m, base);
    /* forward and forward_backward run the same ops on the same eps: the same bits. */
    CHECK(l0 == l_fb, "forward loss %.9g != forward_backward loss %.9g", l0, l_fb);

    int skipped = 0;
    double num = 0, den = 0, worst = 0;
    for (size_t i = 0; i < n; i++) {
        float p0 = p[i];
        int kink = 0;
        p[i] = p0 + MODEL_H;
        clvae_model_set_params(&m, p);
        double lp = forward_loss(&m);
        relu_pattern(&m, pat);
        kink |= memcmp(pat, base, np) != 0;
        p[i] = p0 - MODEL_H;
        clvae_model_set_params(&m, p);
        double lm = forward_loss(&m);
        relu_pattern(&m, pat);
        kink |= memcmp(pat, base, np) != 0;
        p[i] = p0;
        /* the actual step: p0 +- h rounded to float */
        gn[i] = (lp - lm) / ((double)(p0 + MODEL_H) - (double)(p0 - MODEL_H));
        if (kink) { /* only ReLU can change the pattern: that entry's FD is meaningless */
            skipped++;
            continue;
        }
        double d = gn[i] - ga[i];
        num += d * d;
        den += gn[i] * gn[i];
        worst = fmax(worst, fabs(d) / (fabs(gn[i]) + 1e-2));
    }
    clvae_model_set_params(&m, p);
    double rel_l2 = sqrt(num / den);
    printf("model %-16s %-8s D=%-2d params %3zu  L %.6f  rel L2 %.2e  max |d|/(|g|+1e-2) %.2e"
           "  skipped (ReLU kink) %d\n",
           clvae_likelihood_name(mc->lik), clvae_act_name(mc->act), mc->dim, n, l0, rel_l2, worst,
           skipped);
    /* Relative L2 error over all parameters: float32 loss noise plus O(h^2) truncation at
     * h = 1e-2; measured 1.6e-5..8.3e-5 over the five cases, so 1e-3 leaves a 12x margin
     * (a wrong term in any gradient shows up at O(1e-1..1)). */
    CHECK(rel_l2 < 1e-3, "%s/%s: gradient relative L2 error %g", clvae_likelihood_name(mc->lik),
          clvae_act_name(mc->act), rel_l2);
    /* Each entry: |fd - analytic| / (|fd| + 1e-2) (FD noise ~5e-5 absolute; the floor keeps
     * near-zero gradients from failing on it): measured <= 1.3e-3, bound 1e-2. */
    CHECK(worst < 1e-2, "%s/%s: worst gradient entry off by %g", clvae_likelihood_name(mc->lik),
          clvae_act_name(mc->act), worst);
    /* ReLU: only a few entries may be skipped, or the check would test nothing. */
    CHECK(skipped <= (int)(n / 10), "%d of %zu entries straddle a ReLU kink", skipped, n);
    free(p);
    free(ga);
    free(gn);
    clvae_model_free(&m);
}

int main(void)
{
    int st = clvae_ref_backend_create(&be);
    CHECK(!st, "reference backend: %s", clvae_last_error());
    if (st) return tu_finish("test_gradcheck");

    const clvae_act acts[] = {CLVAE_ACT_RELU, CLVAE_ACT_TANH, CLVAE_ACT_SOFTPLUS};
    for (int i = 0; i < 3; i++)
        check_act(acts[i]);
    check_reparam();
    const clvae_likelihood liks[] = {CLVAE_LIK_BERNOULLI, CLVAE_LIK_GAUSSIAN,
                                     CLVAE_LIK_GAUSSIAN_LEARNED};
    for (int i = 0; i < 3; i++)
        check_likelihood(liks[i]);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            check_gemm(ta, tb);

    const model_case cases[] = {
        {CLVAE_LIK_BERNOULLI, CLVAE_ACT_TANH, 6},
        {CLVAE_LIK_GAUSSIAN, CLVAE_ACT_SOFTPLUS, 8},
        {CLVAE_LIK_GAUSSIAN_LEARNED, CLVAE_ACT_TANH, 10},
        {CLVAE_LIK_GAUSSIAN_LEARNED, CLVAE_ACT_SOFTPLUS, 7},
        {CLVAE_LIK_BERNOULLI, CLVAE_ACT_RELU, 9},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_model(&cases[i]);
    be.ops->free(be.ctx);
    return tu_finish("test_gradcheck");
}
