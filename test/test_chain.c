/* The chain of stochastic layers on the reference backend: finite-difference gradient checks of
 * the whole loss (ELBO with beta and warm-up, the importance-weighted bound) for one, two and
 * three layers, and the Monte Carlo check that tells a valid hierarchical ELBO from the
 * analytic-KL mistake. Conditional (cVAE) cases: every MLP also reads onehot(label), through
 * the one-hot columns of its first layer's weight; the labels must change the loss. */
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
#include "testutil.h"

/* be, urand (test data, independent of Philox), down and fd_model: fdcheck.c */

typedef struct chain_case {
    const char *name;
    const char *latent, *encoder, *decoder;
    clvae_objective objective;
    clvae_likelihood lik;
    clvae_act act;
    int samples;
    double beta;
    long warmup, step; /* beta_warmup and the step the model stands at (KL weight < beta) */
    int classes;       /* > 0: conditional model on labels `case_labels` */
} chain_case;

#define B 4
#define DIM 6
#define NOISE_STEP 3

static const uint8_t case_labels[B] = {2, 0, 2, 1}, other_labels[B] = {0, 1, 1, 2};

static int setup(clvae_model *m, const chain_case *cc, int batch)
{
    clvae_config cfg;
    char set[256];
    clvae_config_defaults(&cfg);
    const char *kv[][2] = {{"model.latent", cc->latent}, {"model.encoder", cc->encoder},
                           {"model.decoder", cc->decoder}};
    for (int i = 0; i < 3; i++) {
        snprintf(set, sizeof set, "%s=%s", kv[i][0], kv[i][1]);
        if (clvae_config_set(&cfg, set)) return -1;
    }
    cfg.model.activation = cc->act;
    cfg.model.likelihood = cc->lik;
    cfg.model.sigma_x = 0.8;
    cfg.model.beta = cc->beta;
    cfg.model.beta_warmup = cc->warmup;
    cfg.train.objective = cc->objective;
    cfg.train.samples = cc->samples;
    cfg.train.seed = 5;
    cfg.model.conditional = cc->classes > 0;
    cfg.model.classes = cc->classes;
    if (clvae_config_validate(&cfg)) return -1;
    memset(m, 0, sizeof *m);
    int st = clvae_model_layout(m, &cfg, DIM);
    if (!st) st = clvae_model_init(m, &be, batch, cc->samples, true);
    m->step = (uint64_t)cc->step;
    return st;
}

/* The loss the backward differentiates, from a forward pass, in double on the host. */
static double host_loss(clvae_model *m, int b, int S)
{
    static float nll[64], kl[64];
    int rows = S * b;
    if (m->objective == CLVAE_OBJ_IWAE) {
        clvae_model_forward_terms(m, b, S, NOISE_STEP, CLVAE_STREAM_EPS_TRAIN, false,
                                  CLVAE_TERMS_MC);
        down(m->loss, nll, rows);
        down(m->kl_sum, kl, rows);
        double total = 0;
        for (int i = 0; i < b; i++) {
            double mx = -INFINITY, s = 0;
            for (int k = 0; k < S; k++) mx = fmax(mx, -(nll[k * b + i] + (double)kl[k * b + i]));
            for (int k = 0; k < S; k++) s += exp(-(nll[k * b + i] + (double)kl[k * b + i]) - mx);
            total += -(mx + log(s) - log((double)S));
        }
        return total / b;
    }
    clvae_model_forward(m, b, S, NOISE_STEP, CLVAE_STREAM_EPS_TRAIN, false);
    double kw = clvae_model_kl_weight(m), L = 0;
    down(m->loss, nll, rows);
    for (int r = 0; r < rows; r++) L += nll[r] / (double)rows;
    for (int l = 0; l < m->T; l++) {
        int n = l == m->T - 1 && l == 0 ? b : rows; /* the top's analytic KL: one per q row */
        down(m->lat[l].kl, kl, n);
        for (int r = 0; r < n; r++) L += kw * kl[r] / (double)n;
    }
    return L;
}

static double fd_loss(clvae_model *m, void *samples)
{
    return host_loss(m, B, *(const int *)samples);
}

/* Central differences at h = 1e-2 on float forward passes: as test_gradcheck's whole-model
 * check (truncation ~1e-5 relative, float loss noise ~5e-5 per entry); smooth activations only. */
static void check_case(const chain_case *cc)
{
    clvae_model m;
    CHECK(setup(&m, cc, B) == CLVAE_OK, "%s: setup: %s", cc->name, clvae_last_error());
    if (!m.be) return;
    size_t n = m.n_floats;
    float *p = malloc(n * sizeof(float)), *ga = malloc(n * sizeof(float)), x[B * DIM];
    clvae_model_get_params(&m, p);
    for (int i = 0; i < m.n_params; i++) /* biases non-zero so that they matter */
        if (m.params[i].is_bias)
            for (int j = 0; j < m.params[i].rows; j++)
                p[m.params[i].offset + j] = (float)urand(-0.5, 0.5);
    clvae_model_set_params(&m, p);
    for (int i = 0; i < B * DIM; i++) x[i] = (float)urand(0, 1);
    be.ops->upload(be.ctx, m.x, x, sizeof x);
    if (cc->classes) { /* the labels must matter: a forward that ignored them passes the FD check */
        clvae_model_set_labels(&m, other_labels, B);
        double other = host_loss(&m, B, cc->samples);
        clvae_model_set_labels(&m, case_labels, B);
        double own = host_loss(&m, B, cc->samples);
        CHECK(fabs(own - other) > 1e-3 * fabs(own), "%s: the labels do not change the loss "
              "(%.6f vs %.6f)", cc->name, own, other);
    }
    CHECK(clvae_model_forward_backward(&m, B, NOISE_STEP, CLVAE_STREAM_EPS_TRAIN) == CLVAE_OK,
          "%s: forward_backward: %s", cc->name, clvae_last_error());
    clvae_model_get_grads(&m, ga);
    int S = cc->samples;
    double l0 = host_loss(&m, B, S), worst;
    double rel = fd_model(&m, p, ga, 1e-2f, fd_loss, &S, &worst);
    printf("%-34s T=%d params %4zu  L %.5f  kl_weight %.3f  rel L2 %.2e  worst %.2e\n", cc->name,
           m.T, n, l0, clvae_model_kl_weight(&m), rel, worst);
    /* the same bounds as test_gradcheck's whole-model check (measured there 1.6e-5..8.3e-5):
     * a wrong or missing term (a layer's log q, a prior's gradient, the weights) is O(1e-1) */
    CHECK(rel < 1e-3, "%s: gradient relative L2 error %g", cc->name, rel);
    CHECK(worst < 1e-2, "%s: worst gradient entry off by %g", cc->name, worst);
    free(p);
    free(ga);
    clvae_model_free(&m);
}

/* KL(N(mq, e^lq) || N(mp, e^lp)) summed over R. */
static double gauss_kl(const float *q, const float *p, int R)
{
    double s = 0;
    for (int j = 0; j < R; j++) {
        double vq = exp(q[R + j]), vp = exp(p[R + j]), d = q[j] - p[j];
        s += 0.5 * (p[R + j] - q[R + j] + (vq + d * d) / vp - 1.0);
    }
    return s;
}

/* Sets parameter `name` (rows, cols) to diag * I + bias value (weights) or to `value` (biases). */
static void set_param(clvae_model *m, float *p, const char *name, float value)
{
    int i = clvae_model_find_param(m, name);
    CHECK(i >= 0, "no parameter %s", name);
    if (i < 0) return;
    const clvae_param *pr = &m->params[i];
    for (int r = 0; r < pr->rows; r++)
        for (int c = 0; c < pr->cols; c++)
            p[pr->offset + (size_t)r * pr->cols + c] = pr->is_bias || r == c ? value : 0.0f;
}

/* One input repeated N times, one sample each: three estimators of the two-layer negative ELBO
 * per row. A: the model's ELBO terms (layer 1: log q - log p at the sample; top: analytic KL
 * given z_1); B: log q - log p at the samples everywhere (minus log w); C: the mistake, an
 * analytic KL(q(z_1|x) || p(z_1|z_2)) for layer 1 although z_2 was drawn given z_1. A and B
 * have the same mean; C does not. The model is built so that C is far off: q(z_1|x) has unit
 * variance, q(z_2|z_1) = N(z_1, 0.01) and p(z_1|z_2) = N(z_2, 0.01), so z_2 tracks the drawn z_1
 * and log p(z_1|z_2) is large at the sample, while the analytic KL averages over all z_1. */
#define MC_N 4000
static void check_monte_carlo(void)
{
    chain_case cc = {"mc", "2,2", " | ", " | 5", CLVAE_OBJ_ELBO, CLVAE_LIK_BERNOULLI,
                     CLVAE_ACT_TANH, 1, 1.0, 0, 0, 0};
    clvae_model m;
    CHECK(setup(&m, &cc, MC_N) == CLVAE_OK, "mc setup: %s", clvae_last_error());
    if (!m.be) return;
    float *p = malloc(m.n_floats * sizeof(float)), *x = malloc(sizeof(float) * MC_N * DIM);
    float *nll = malloc(sizeof(float) * MC_N), *kl0 = malloc(sizeof(float) * MC_N);
    float *kl1 = malloc(sizeof(float) * MC_N), *ksum = malloc(sizeof(float) * MC_N);
    float *q0 = malloc(sizeof(float) * MC_N * 4), *p0 = malloc(sizeof(float) * MC_N * 4);
    const float lv_small = logf(0.01f);
    clvae_model_get_params(&m, p);
    set_param(&m, p, "q1.logvar.weight", 0.0f);
    set_param(&m, p, "q1.logvar.bias", 0.0f);
    set_param(&m, p, "q2.mu.weight", 1.0f);
    set_param(&m, p, "q2.mu.bias", 0.0f);
    set_param(&m, p, "q2.logvar.weight", 0.0f);
    set_param(&m, p, "q2.logvar.bias", lv_small);
    set_param(&m, p, "p1.mu.weight", 1.0f);
    set_param(&m, p, "p1.mu.bias", 0.0f);
    set_param(&m, p, "p1.logvar.weight", 0.0f);
    set_param(&m, p, "p1.logvar.bias", lv_small);
    clvae_model_set_params(&m, p);
    for (int j = 0; j < DIM; j++) x[j] = (float)urand(0, 1);
    for (int i = 1; i < MC_N; i++) memcpy(x + i * DIM, x, sizeof(float) * DIM);
    be.ops->upload(be.ctx, m.x, x, sizeof(float) * MC_N * DIM);
    clvae_model_forward(&m, MC_N, 1, 0, CLVAE_STREAM_EPS_EVAL, false);
    down(m.loss, nll, MC_N);
    down(m.lat[0].kl, kl0, MC_N);
    down(m.lat[1].kl, kl1, MC_N);
    down(m.lat[0].q.out, q0, MC_N * 4);
    down(m.lat[0].p.out, p0, MC_N * 4);
    clvae_model_forward_terms(&m, MC_N, 1, 0, CLVAE_STREAM_EPS_EVAL, false, CLVAE_TERMS_MC);
    down(m.kl_sum, ksum, MC_N);
    double ab = 0, ab2 = 0, cb = 0, cb2 = 0, a_mean = 0;
    for (int i = 0; i < MC_N; i++) {
        double a = nll[i] + (double)kl0[i] + kl1[i], bb = nll[i] + (double)ksum[i];
        double c = nll[i] + gauss_kl(q0 + 4 * i, p0 + 4 * i, 2) + kl1[i];
        ab += a - bb, ab2 += (a - bb) * (a - bb), cb += c - bb, cb2 += (c - bb) * (c - bb);
        a_mean += a / MC_N;
    }
    double mab = ab / MC_N, sab = sqrt((ab2 / MC_N - mab * mab) / MC_N);
    double mcb = cb / MC_N, scb = sqrt((cb2 / MC_N - mcb * mcb) / MC_N);
    printf("monte carlo: -ELBO %.4f; ELBO terms - log w: %.4f +- %.4f; analytic-KL mistake - "
           "log w: %.4f +- %.4f\n", a_mean, mab, sab, mcb, scb);
    /* paired differences over the same draws, N = 4000: within 4 standard errors (a false
     * alarm has probability 6e-5; the seeds are fixed, so the outcome is too) */
    CHECK(fabs(mab) < 4 * sab, "ELBO terms and log w disagree: %g +- %g", mab, sab);
    /* the mistake must show: beyond 6 standard errors */
    CHECK(fabs(mcb) > 6 * scb, "the analytic-KL mistake went unnoticed: %g +- %g", mcb, scb);
    free(p), free(x), free(nll), free(kl0), free(kl1), free(ksum), free(q0), free(p0);
    clvae_model_free(&m);
}

/* K = 1: the importance-weighted bound is the single-sample ELBO with Monte Carlo KLs. */
static void check_iwae_k1(void)
{
    chain_case cc = {"k1", "3,2", "5 | 4", "4 | 5", CLVAE_OBJ_IWAE, CLVAE_LIK_BERNOULLI,
                     CLVAE_ACT_TANH, 1, 1.0, 0, 0, 0};
    clvae_model m;
    float x[B * DIM], nll[B], ks[B];
    CHECK(setup(&m, &cc, B) == CLVAE_OK, "k1 setup: %s", clvae_last_error());
    if (!m.be) return;
    for (int i = 0; i < B * DIM; i++) x[i] = (float)urand(0, 1);
    be.ops->upload(be.ctx, m.x, x, sizeof x);
    double iw = host_loss(&m, B, 1);
    down(m.loss, nll, B);
    down(m.kl_sum, ks, B);
    double elbo = 0;
    for (int i = 0; i < B; i++) elbo += (nll[i] + (double)ks[i]) / B;
    /* lse of one term is the term: only float rounding of exp/log (~1e-6 relative) */
    CHECK(fabs(iw - elbo) < 1e-4 * fabs(elbo), "K = 1: bound %.7f vs ELBO %.7f", iw, elbo);
    clvae_model_free(&m);
}

int main(void)
{
    urand_seed(0x243F6A8885A308D3ull); /* this test's data since it was written */
    if (clvae_ref_backend_create(&be)) return tu_finish("test_chain");
    const chain_case cases[] = {
        {"elbo T=2 beta 0.7, warm-up 40%", "3,2", "5 | 4", "4 | 5", CLVAE_OBJ_ELBO,
         CLVAE_LIK_BERNOULLI, CLVAE_ACT_TANH, 2, 0.7, 10, 4, 0},
        {"elbo T=3 gaussian", "3,2,2", "5 | 4 | ", "3 | 4 | 5", CLVAE_OBJ_ELBO,
         CLVAE_LIK_GAUSSIAN, CLVAE_ACT_SOFTPLUS, 1, 1.0, 0, 0, 0},
        {"iwae T=1 K=5", "3", "5", "4", CLVAE_OBJ_IWAE, CLVAE_LIK_BERNOULLI, CLVAE_ACT_TANH, 5,
         1.0, 0, 0, 0},
        {"iwae T=2 K=5", "3,2", "5 | 4", "4 | 5", CLVAE_OBJ_IWAE, CLVAE_LIK_BERNOULLI,
         CLVAE_ACT_TANH, 5, 1.0, 0, 0, 0},
        {"iwae T=2 K=5 gaussian-learned", "3,2", "5,4 | ", " | 5", CLVAE_OBJ_IWAE,
         CLVAE_LIK_GAUSSIAN_LEARNED, CLVAE_ACT_SOFTPLUS, 5, 1.0, 0, 0, 0},
        {"cvae T=1 S=2", "3", "5", "4", CLVAE_OBJ_ELBO, CLVAE_LIK_BERNOULLI, CLVAE_ACT_TANH, 2,
         1.0, 0, 0, 3},
        {"cvae T=2 S=2, heads on the input", "3,2", "5 | ", " | 5", CLVAE_OBJ_ELBO,
         CLVAE_LIK_BERNOULLI, CLVAE_ACT_TANH, 2, 0.7, 0, 0, 3},
        {"cvae T=2 iwae K=3", "3,2", "5 | 4", "4 | 5", CLVAE_OBJ_IWAE, CLVAE_LIK_BERNOULLI,
         CLVAE_ACT_TANH, 3, 1.0, 0, 0, 3},
        {"cvae T=1 gaussian-learned, no hidden", "3", "", "", CLVAE_OBJ_ELBO,
         CLVAE_LIK_GAUSSIAN_LEARNED, CLVAE_ACT_TANH, 1, 1.0, 0, 0, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i]);
    check_monte_carlo();
    check_iwae_k1();
    be.ops->free(be.ctx);
    return tu_finish("test_chain");
}
