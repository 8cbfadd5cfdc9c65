/* Categorical (Gumbel-softmax) layers on the reference backend: finite-difference checks of the
 * whole loss of tiny categorical models (relaxed path at several temperatures, the schedule's
 * temperature at a later step, a two-layer model with a categorical top, a conditional one),
 * the straight-through gradient against the finite differences of its surrogate (one-hot
 * forward + y - stopgrad(y)), the temperature schedule, and the one-hot Monte Carlo terms
 * against the closed-form KL (the log K term and the sign). Noise is Philox at a fixed step, so
 * every forward pass sees the same Gumbel draws. */
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
#include "model/vae_internal.h"
#include "testutil.h"


typedef struct cat_case {
    const char *name;
    const char *latent, *encoder, *decoder;
    const char *types; /* latent_type per layer */
    int G, K, samples;
    double tau, tau_min, tau_decay;
    long step;
    bool hard;
    int classes;
} cat_case;

#define B 4
#define DIM 6
#define NOISE_STEP 3
static const uint8_t labels[B] = {1, 0, 2, 1};

static int setup(clvae_model *m, const cat_case *cc, int batch)
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
    cfg.model.n_latent_type = 0;
    for (const char *t = cc->types; *t; t++)
        if (*t == 'g' || *t == 'c')
            cfg.model.latent_type[cfg.model.n_latent_type++] =
                *t == 'c' ? CLVAE_LATENT_CATEGORICAL : CLVAE_LATENT_GAUSSIAN;
    cfg.model.categorical[0] = cc->G;
    cfg.model.categorical[1] = cc->K;
    cfg.model.hard = cc->hard;
    cfg.model.activation = CLVAE_ACT_TANH;
    cfg.train.tau = cc->tau;
    cfg.train.tau_min = cc->tau_min;
    cfg.train.tau_decay = cc->tau_decay;
    cfg.train.samples = cc->samples;
    cfg.train.seed = 9;
    cfg.model.conditional = cc->classes > 0;
    cfg.model.classes = cc->classes;
    if (clvae_config_validate(&cfg)) return -1;
    memset(m, 0, sizeof *m);
    int st = clvae_model_layout(m, &cfg, DIM);
    if (!st) st = clvae_model_init(m, &be, batch, cc->samples, true);
    if (!st) st = clvae_model_set_labels(m, labels, batch);
    m->step = (uint64_t)cc->step;
    return st;
}

/* The ELBO the backward differentiates, from a forward pass at the training temperature, in
 * double: mean likelihood loss + mean of every layer's kl (the top's analytic KL: one per q
 * row). */
static double host_loss(clvae_model *m, int b, int S)
{
    static float nll[64], kl[64];
    int rows = S * b;
    m->tau_now = clvae_model_tau(m, m->step);
    clvae_model_forward_core(m, b, S, NOISE_STEP, CLVAE_STREAM_EPS_TRAIN, false);
    clvae_model_likelihood(m, b, S, false, 0.0f);
    clvae_model_layer_terms(m, b, S, CLVAE_TERMS_ELBO);
    double L = 0;
    down(m->loss, nll, rows);
    for (int r = 0; r < rows; r++) L += nll[r] / (double)rows;
    for (int l = 0; l < m->T; l++) {
        int n = l == m->T - 1 && l == 0 ? b : rows;
        down(m->lat[l].kl, kl, n);
        for (int r = 0; r < n; r++) L += kl[r] / (double)n;
    }
    return L;
}

/* The straight-through surrogate (one layer): the decoder reads z0 + (y(theta) - y0), z0 the
 * one-hot and y0 the relaxed sample at the parameters the gradient was taken at (constants),
 * plus the closed-form KL at theta. Its gradient is what straight-through backpropagates. */
static float st_z0[256], st_y0[256];
static double surrogate_loss(clvae_model *m, int b, int S)
{
    static float y[256], nll[64], kl[64];
    clvae_stoch *L = &m->lat[0];
    int rows = S * b, n = rows * L->R;
    m->hard = false; /* the relaxed sample y(theta) with the same noise */
    m->tau_now = clvae_model_tau(m, m->step);
    clvae_model_forward_core(m, b, S, NOISE_STEP, CLVAE_STREAM_EPS_TRAIN, false);
    m->hard = true;
    down(L->z, y, (size_t)n);
    down(L->kl, kl, (size_t)b);
    for (int i = 0; i < n; i++) y[i] = st_z0[i] + (y[i] - st_y0[i]);
    be.ops->upload(be.ctx, L->z, y, (size_t)n * sizeof(float));
    clvae_model_decode(m, rows);
    clvae_model_likelihood(m, b, S, false, 0.0f);
    down(m->loss, nll, rows);
    double loss = 0;
    for (int r = 0; r < rows; r++) loss += nll[r] / (double)rows;
    for (int r = 0; r < b; r++) loss += kl[r] / (double)b;
    return loss;
}

static double fd_loss(clvae_model *m, void *samples)
{
    return host_loss(m, B, *(const int *)samples);
}

static double fd_surrogate(clvae_model *m, void *samples)
{
    return surrogate_loss(m, B, *(const int *)samples);
}

/* Central differences at h = 1e-2 on float forward passes, as test_chain (truncation ~1e-5
 * relative, float loss noise ~5e-5 per entry); the bounds are test_chain's. */
static void check_case(const cat_case *cc)
{
    clvae_model m;
    CHECK(setup(&m, cc, B) == CLVAE_OK, "%s: setup: %s", cc->name, clvae_last_error());
    if (!m.be) return;
    size_t n = m.n_floats;
    float *p = malloc(n * sizeof(float)), *ga = malloc(n * sizeof(float)), x[B * DIM];
    clvae_model_get_params(&m, p);
    char logits[32]; /* the categorical layer's head: larger weights, less uniform q */
    snprintf(logits, sizeof logits, m.T == 1 ? "encoder.out.weight" : "q%d.out.weight", m.T);
    for (int i = 0; i < m.n_params; i++) /* non-zero biases */
        for (int j = 0; j < m.params[i].rows * m.params[i].cols; j++)
            if (m.params[i].is_bias) p[m.params[i].offset + j] = (float)urand(-0.5, 0.5);
            else if (!strcmp(m.params[i].name, logits)) p[m.params[i].offset + j] *= 2.0f;
    clvae_model_set_params(&m, p);
    for (int i = 0; i < B * DIM; i++) x[i] = (float)urand(0, 1);
    be.ops->upload(be.ctx, m.x, x, sizeof x);
    CHECK(clvae_model_forward_backward(&m, B, NOISE_STEP, CLVAE_STREAM_EPS_TRAIN) == CLVAE_OK,
          "%s: forward_backward: %s", cc->name, clvae_last_error());
    clvae_model_get_grads(&m, ga);
    int S = cc->samples;
    if (cc->hard) {
        down(m.lat[0].z, st_z0, (size_t)S * B * m.lat[0].R);
        down(m.lat[0].y, st_y0, (size_t)S * B * m.lat[0].R);
    }
    model_loss_fn loss = cc->hard ? fd_surrogate : fd_loss;
    double l0 = loss(&m, &S), worst;
    double rel = fd_model(&m, p, ga, 1e-2f, loss, &S, &worst);
    printf("%-40s T=%d params %4zu  tau %.3f  L %.5f  rel L2 %.2e  worst %.2e\n", cc->name, m.T,
           n, clvae_model_tau(&m, m.step), l0, rel, worst);
    /* a wrong or missing term (1/tau, the KL's gradient, the straight-through pass) is O(1e-1) */
    CHECK(rel < 1e-3, "%s: gradient relative L2 error %g", cc->name, rel);
    CHECK(worst < 1e-2, "%s: worst gradient entry off by %g", cc->name, worst);
    free(p);
    free(ga);
    clvae_model_free(&m);
}

/* tau = max(tau_min, tau * exp(-decay * step)), step from 0; eval uses the last step's. */
static void check_schedule(void)
{
    cat_case cc = {"schedule", "3", "5", "4", "c", 2, 3, 1, 1.0, 0.5, 3e-5, 0, false, 0};
    clvae_model m;
    CHECK(setup(&m, &cc, B) == CLVAE_OK, "schedule setup: %s", clvae_last_error());
    if (!m.be) return;
    const uint64_t steps[] = {0, 1, 1000, 23104, 23105, 100000};
    double worst = 0;
    for (int i = 0; i < 6; i++) {
        double want = fmax(0.5, exp(-3e-5 * (double)steps[i]));
        worst = fmax(worst, fabs(clvae_model_tau(&m, steps[i]) - want) / want);
    }
    m.step = 1000;
    float ev = clvae_model_eval_tau(&m);
    printf("tau schedule: worst relative error %.2e; tau(0) %.6f tau(1000) %.6f eval at step 1000 "
           "%.6f\n", worst, clvae_model_tau(&m, 0), clvae_model_tau(&m, 1000), ev);
    /* float of the double expression: half an ulp, 6e-8 */
    CHECK(worst < 1.2e-7, "tau schedule off by %g", worst);
    CHECK(clvae_model_tau(&m, 0) == 1.0f && clvae_model_tau(&m, 100000) == 0.5f,
          "tau(0) must be tau, tau(large) tau_min");
    CHECK(ev == clvae_model_tau(&m, 999), "eval tau must be the last step's");
    clvae_model_free(&m);
}

/* The one-hot Monte Carlo terms log q(z) - log p(z) averaged over many exact samples must match
 * the closed-form KL sum q log(K q): the wrong sign, a missing log K (G log K = 3.3 nats here)
 * or KL(p || q) instead are far outside the band. */
#define MC_N 4000
static void check_kl_monte_carlo(void)
{
    cat_case cc = {"mc", "3", "5", "4", "c", 3, 3, 1, 1.0, 1.0, 0, 0, false, 0};
    clvae_model m;
    CHECK(setup(&m, &cc, MC_N) == CLVAE_OK, "mc setup: %s", clvae_last_error());
    if (!m.be) return;
    float *x = malloc(sizeof(float) * MC_N * DIM), *kl = malloc(sizeof(float) * MC_N);
    float *ks = malloc(sizeof(float) * MC_N), *p = malloc(m.n_floats * sizeof(float));
    clvae_model_get_params(&m, p); /* peaked logits: a KL of ~2 nats, not ~0 */
    for (size_t i = 0; i < m.n_floats; i++) p[i] *= 6.0f;
    clvae_model_set_params(&m, p);
    for (int j = 0; j < DIM; j++) x[j] = (float)urand(0, 1);
    for (int i = 1; i < MC_N; i++) memcpy(x + i * DIM, x, sizeof(float) * DIM);
    be.ops->upload(be.ctx, m.x, x, sizeof(float) * MC_N * DIM);
    m.cat_onehot = true;
    CHECK(clvae_model_forward_terms(&m, MC_N, 1, 0, CLVAE_STREAM_EPS_EVAL, false,
                                    CLVAE_TERMS_MC) == CLVAE_OK,
          "mc forward: %s", clvae_last_error());
    down(m.kl_sum, ks, MC_N);
    clvae_cat_terms_args a = {.rows = MC_N, .hrows = MC_N, .groups = 3, .cats = 3,
                              .logits = m.lat[0].q.out, .kl = m.lat[0].kl};
    be.ops->cat_terms(be.ctx, &a);
    down(m.lat[0].kl, kl, MC_N);
    double s = 0, s2 = 0;
    for (int i = 0; i < MC_N; i++) s += ks[i], s2 += (double)ks[i] * ks[i];
    double mean = s / MC_N, se = sqrt((s2 / MC_N - mean * mean) / MC_N);
    printf("one-hot log q - log p: %.4f +- %.4f vs closed-form KL %.4f\n", mean, se, kl[0]);
    /* N = 4000 draws: within 4 standard errors (fixed seeds: a fixed outcome) */
    CHECK(fabs(mean - kl[0]) < 4 * se, "MC %g +- %g vs KL %g", mean, se, kl[0]);
    CHECK(kl[0] > 0 && kl[0] < 3 * log(3.0), "KL %g outside (0, G log K)", kl[0]);
    free(x), free(kl), free(ks), free(p);
    clvae_model_free(&m);
}

int main(void)
{
    urand_seed(0x6A09E667F3BCC909ull);
    if (clvae_ref_backend_create(&be)) return tu_finish("test_gumbel");
    const cat_case cases[] = {
        {"relaxed 2x3 tau 1", "3", "5", "4", "c", 2, 3, 1, 1.0, 1.0, 0, 0, false, 0},
        {"relaxed 2x3 tau 0.5 S=2", "3", "5", "4", "c", 2, 3, 2, 0.5, 0.5, 0, 0, false, 0},
        {"relaxed 3x2 tau 0.3, no hidden", "3", "", "", "c", 3, 2, 1, 0.3, 0.3, 0, 0, false, 0},
        {"relaxed 2x4 schedule step 20000", "3", "5", "4", "c", 2, 4, 1, 1.0, 0.5, 3e-5, 20000,
         false, 0},
        {"T=2 gaussian | categorical 2x3", "3,1", "5 | 4", "4 | 5", "g,c", 2, 3, 2, 0.7, 0.7, 0,
         0, false, 0},
        {"conditional 2x3 tau 0.5", "3", "5", "4", "c", 2, 3, 1, 0.5, 0.5, 0, 0, false, 3},
        {"hard (straight-through) 2x3 tau 1", "3", "5", "4", "c", 2, 3, 1, 1.0, 1.0, 0, 0, true,
         0},
        {"hard (straight-through) 3x3 tau 0.5 S=2", "3", "5", "4", "c", 3, 3, 2, 0.5, 0.5, 0, 0,
         true, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i]);
    check_schedule();
    check_kl_monte_carlo();
    be.ops->free(be.ctx);
    return tu_finish("test_gumbel");
}
