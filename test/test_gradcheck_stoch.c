/* The math of the stochastic-layer ops on the reference backend, checked in double against
 * independent re-implementations: gauss_terms against log q - log p from the Gaussian densities
 * at z (not through eps), prior_bwd and latent_bwd against central differences of those
 * densities, iw_weights against a direct log-mean-exp and its weights against the derivative of
 * the bound, binarize against the Bernoulli frequencies it must produce. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "clvae/status.h"
#include "core/philox.h"
#include "fdcheck.h"
#include "testutil.h"

#define LOG_2PI_D 1.8378770664093454835606594728112

enum { H = 3, S = 2, R = 4, ROWS = S * H, NZ = ROWS * R, NH = H * 2 * R, NP = ROWS * 2 * R };

/* log N(x; m, exp(lv)) in double. */
static double log_normal(double x, double m, double lv)
{
    return -0.5 * LOG_2PI_D - 0.5 * lv - 0.5 * (x - m) * (x - m) * exp(-lv);
}

/* log p_r at z: prior heads (ROWS, 2R) or N(0, I) when prior is NULL. */
static double log_p_row(const double *z, const double *prior, int r)
{
    double s = 0;
    for (int j = 0; j < R; j++) {
        double zj = z[r * R + j];
        s += prior ? log_normal(zj, prior[r * 2 * R + j], prior[r * 2 * R + R + j])
                   : log_normal(zj, 0, 0);
    }
    return s;
}

/* Heads with mu in [-2, 2] and logvar in [-3, 2]. */
static void make_heads(float *h, int rows)
{
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < R; j++) {
            h[r * 2 * R + j] = (float)urand(-2, 2);
            h[r * 2 * R + R + j] = (float)urand(-3, 2);
        }
}

/* c_r = scale * w[r], or scale without weights (backend.h). */
static void row_weights(double *c, const float *w, float scale)
{
    for (int r = 0; r < ROWS; r++)
        c[r] = w ? (double)scale * w[r] : scale;
}

/* z (ROWS, R) = mu + exp(lv/2) eps by the reparam op (eps given), as the model draws it. */
static clvae_view draw_z(clvae_view heads, clvae_view eps, float *z)
{
    clvae_view vz = dev(NULL, NZ), vk = dev(NULL, H);
    clvae_reparam_args a = {.batch = H,
                            .samples = S,
                            .latent = R,
                            .eps_given = true,
                            .heads = heads,
                            .z = vz,
                            .eps = eps,
                            .kl = vk};
    int st = be.ops->reparam(be.ctx, &a);
    CHECK(!st, "reparam: %s", clvae_last_error());
    down(vz, z, NZ);
    return vz;
}

/* ------------------------------------------------------------------ gauss_terms */

static void check_gauss_terms(bool with_prior)
{
    float heads[NH], eps[NZ], z[NZ], prior[NP], kl[ROWS], ks[ROWS], ks0[ROWS];
    make_heads(heads, H);
    make_heads(prior, ROWS);
    fill_uniform(eps, NZ, -2, 2);
    fill_uniform(ks0, ROWS, -3, 3);
    clvae_view vh = dev(heads, NH), ve = dev(eps, NZ), vz = draw_z(vh, ve, z);
    clvae_view vp = with_prior ? dev(prior, NP) : (clvae_view){NULL, 0};
    clvae_view vk = dev(NULL, ROWS), vs = dev(ks0, ROWS);
    clvae_gauss_terms_args a = {ROWS, H, R, vh, vz, ve, vp, vk, vs, false};
    be.ops->gauss_terms(be.ctx, &a); /* kl_sum accumulates onto ks0 */
    down(vk, kl, ROWS);
    down(vs, ks, ROWS);

    /* log q from the density of q at z itself: (z - mu)^2 / var, not eps^2. */
    double *zd = to_double(z, NZ), *pd = to_double(prior, NP), want[ROWS], want_s[ROWS];
    for (int r = 0; r < ROWS; r++) {
        const float *q = heads + (r % H) * 2 * R;
        double lq = 0;
        for (int j = 0; j < R; j++)
            lq += log_normal(zd[r * R + j], q[j], q[R + j]);
        want[r] = lq - log_p_row(zd, with_prior ? pd : NULL, r);
        want_s[r] = ks0[r] + want[r];
    }
    double e = scaled_err(want, kl, ROWS), e_s = scaled_err(want_s, ks, ROWS);
    printf("gauss_terms %-7s kl %.2e  kl_sum (accumulated) %.2e\n", with_prior ? "prior" : "N(0,I)",
           e, e_s);
    /* z is float: (z - mu) carries ulp(z) ~ 2.4e-7 of absolute error, i.e. ~4e-6 of a term
     * (sigma >= 0.22) against |kl| ~ 5: 1e-5 of the largest entry. A wrong constant or a
     * missing 1/2 is off by > 1e-2. */
    CHECK(e <= 1e-5, "gauss_terms (%s) differs from log q - log p by %g",
          with_prior ? "prior" : "N(0,I)", e);
    CHECK(e_s <= 1e-5, "gauss_terms kl_sum did not accumulate: %g", e_s);
    /* sum_init: kl_sum = kl exactly */
    a.sum_init = true;
    be.ops->gauss_terms(be.ctx, &a);
    down(vs, ks, ROWS);
    CHECK(!memcmp(ks, kl, sizeof ks), "gauss_terms sum_init: kl_sum != kl");
    free(zd);
    free(pd);
    free_bufs();
}

/* ------------------------------------------------------------------ prior_bwd */

typedef struct prior_ctx {
    const double *c; /* (ROWS) row weights */
    bool with_prior;
} prior_ctx;

/* f(z, prior) = sum_r c_r (-log p_r(z_r)); x packs [z (NZ) | prior (NP)]. */
static double prior_obj(const double *x, void *vc)
{
    const prior_ctx *p = vc;
    double s = 0;
    for (int r = 0; r < ROWS; r++)
        s -= p->c[r] * log_p_row(x, p->with_prior ? x + NZ : NULL, r);
    return s;
}

static void check_prior_bwd(bool with_prior, bool weights)
{
    float z[NZ], prior[NP], w[ROWS], dz0[NZ], dz[NZ], dp[NP], got[NZ + NP];
    float scale = 0.3f;
    fill_uniform(z, NZ, -3, 3);
    make_heads(prior, ROWS);
    fill_uniform(w, ROWS, 0, 1);
    fill_uniform(dz0, NZ, -1, 1);
    clvae_view vz = dev(z, NZ), vp = dev(prior, NP), vw = dev(w, ROWS), vdz = dev(dz0, NZ);
    clvae_view vdp = dev(NULL, NP);
    clvae_prior_bwd_args a = {ROWS,  R,
                              scale, weights ? vw : (clvae_view){NULL, 0},
                              vz,    with_prior ? vp : (clvae_view){NULL, 0},
                              vdz,   vdp};
    be.ops->prior_bwd(be.ctx, &a);
    down(vdz, dz, NZ);
    down(vdp, dp, NP);

    double c[ROWS], x[NZ + NP], g[NZ + NP];
    row_weights(c, weights ? w : NULL, scale);
    for (int i = 0; i < NZ; i++)
        x[i] = z[i];
    for (int i = 0; i < NP; i++)
        x[NZ + i] = prior[i];
    prior_ctx pc = {c, with_prior};
    int n = with_prior ? NZ + NP : NZ;
    for (int i = 0; i < n; i++)
        g[i] = central(prior_obj, x, (size_t)i, &pc) + (i < NZ ? dz0[i] : 0.0);
    for (int i = 0; i < NZ; i++)
        got[i] = dz[i]; /* dz accumulates onto dz0 */
    memcpy(got + NZ, dp, sizeof dp);
    double e = scaled_err(g, got, (size_t)n);
    printf("prior_bwd   %-7s%s gradient %.2e\n", with_prior ? "prior" : "N(0,I)",
           weights ? " +w" : "   ", e);
    /* float products of 3-4 factors including expf: ~10 ulp; 1e-5 of the largest entry. */
    CHECK(e <= 1e-5, "prior_bwd (%s%s) differs from finite differences by %g",
          with_prior ? "prior" : "N(0,I)", weights ? ", weights" : "", e);
    free_bufs();
}

/* ------------------------------------------------------------------ latent_bwd */

typedef struct latent_ctx {
    const double *g, *eps, *c; /* (ROWS, R) upstream dz, (ROWS, R) noise, (ROWS) weights */
    double kl_weight;
} latent_ctx;

/* f(heads) = sum g z + kl_weight sum_h KL(q_h || N(0, I)) + sum_r c_r log q_r(z_r), with
 * z = mu + exp(lv/2) eps at fixed eps and log q evaluated from the density at z. */
static double latent_obj(const double *heads, void *vc)
{
    const latent_ctx *L = vc;
    double f = 0;
    for (int h = 0; h < H; h++)
        for (int j = 0; j < R; j++) {
            double mu = heads[h * 2 * R + j], lv = heads[h * 2 * R + R + j];
            f += L->kl_weight * 0.5 * (mu * mu + exp(lv) - lv - 1);
            for (int s = 0; s < S; s++) {
                int r = s * H + h, i = r * R + j;
                double z = mu + exp(0.5 * lv) * L->eps[i];
                f += L->g[i] * z + L->c[r] * log_normal(z, mu, lv);
            }
        }
    return f;
}

static void check_latent_bwd(bool weights, float klw, float scale)
{
    float heads[NH], eps[NZ], dz[NZ], w[ROWS], dh[NH];
    make_heads(heads, H);
    fill_uniform(eps, NZ, -2, 2);
    fill_uniform(dz, NZ, -1, 1);
    fill_uniform(w, ROWS, 0, 1);
    clvae_view vh = dev(heads, NH), ve = dev(eps, NZ), vdz = dev(dz, NZ), vw = dev(w, ROWS);
    clvae_view vdh = dev(NULL, NH);
    clvae_latent_bwd_args a = {H,  S,  R,   klw, scale, weights ? vw : (clvae_view){NULL, 0},
                               vh, ve, vdz, vdh};
    be.ops->latent_bwd(be.ctx, &a);
    down(vdh, dh, NH);

    double c[ROWS], g[NH];
    row_weights(c, weights ? w : NULL, scale);
    double *hd = to_double(heads, NH), *gd = to_double(dz, NZ), *ed = to_double(eps, NZ);
    latent_ctx L = {gd, ed, c, klw};
    for (int i = 0; i < NH; i++)
        g[i] = central(latent_obj, hd, (size_t)i, &L);
    double e = scaled_err(g, dh, NH);
    printf("latent_bwd  klw %.1f c %.2f%s gradient %.2e\n", klw, scale, weights ? " +w" : "   ", e);
    /* sums over S of float products with expf: ~100 ulp at most; 1e-5 of the largest entry.
     * Dropping the -c/2 log q term or the path through z is off by > 1e-2. */
    CHECK(e <= 1e-5, "latent_bwd (klw %g, scale %g%s) differs from finite differences by %g", klw,
          scale, weights ? ", weights" : "", e);
    free(hd);
    free(gd);
    free(ed);
    free_bufs();
}

/* ------------------------------------------------------------------ iw_weights */

typedef struct iw_ctx {
    int batch, samples;
    double scale, base;
} iw_ctx;

/* f(lw) = -scale * sum_b log(1/S sum_s exp(lw_{s,b})) less the constant -scale B base (so
 * exp(lw - base) stays in range for |lw| ~ 1e4 and f stays O(1): its rounding does not swamp
 * the differences). x = lw (S*B); base = 0: the direct formula. */
static double iw_obj(const double *x, void *vc)
{
    const iw_ctx *c = vc;
    double f = 0;
    for (int b = 0; b < c->batch; b++) {
        double s = 0;
        for (int k = 0; k < c->samples; k++)
            s += exp(x[(size_t)k * c->batch + b] - c->base);
        f -= c->scale * log(s / c->samples);
    }
    return f;
}

/* The IWAE bound and its weights from nll, kl with log w = -(nll + kl) in [base - 25, base + 5]:
 * bound = log mean exp(log w) directly in double, weights = -d f / d log w (the softmax). The
 * double side starts from the float log w the op forms (at |log w| ~ 1e4 the float sum
 * nll + kl itself is only good to ulp(1e4) ~ 1e-3, an input rounding no formula can undo). */
static void check_iw(int batch, int samples, double base)
{
    size_t n = (size_t)batch * samples;
    float *h = malloc(2 * n * sizeof *h), *w = malloc(n * sizeof *w), *bound = malloc(batch * 4);
    double *x = malloc(n * sizeof *x), *gw = malloc(n * sizeof *gw), *wb = malloc(batch * 8);
    for (size_t i = 0; i < n; i++) {
        h[i] = (float)urand(-base, -base + 20); /* nll */
        h[n + i] = (float)urand(-5, 5);         /* kl */
        x[i] = -(h[i] + h[n + i]);              /* the float log w */
    }
    clvae_view vn = dev(h, n), vk = dev(h + n, n), vw = dev(NULL, n), vb = dev(NULL, batch);
    float scale = 1.0f / batch;
    clvae_iw_args a = {batch, samples, scale, vn, vk, vw, vb};
    be.ops->iw_weights(be.ctx, &a);
    down(vw, w, n);
    down(vb, bound, batch);

    iw_ctx c = {batch, samples, scale, base};
    for (int b = 0; b < batch; b++) {
        double s = 0;
        for (int k = 0; k < samples; k++)
            s += exp(x[(size_t)k * batch + b] - base);
        wb[b] = base + log(s / samples);
    }
    for (size_t i = 0; i < n; i++)
        gw[i] = -central(iw_obj, x, i, &c);
    double e_b = scaled_err(wb, bound, (size_t)batch), e_w = scaled_err(gw, w, n);
    printf("iw_weights  B%d S%d log w ~ %-6g bound %.2e  weights vs d bound %.2e\n", batch, samples,
           base, e_b, e_w);
    /* bound: float log-sum-exp of terms within 30 of the max: a few ulp of |bound| (up to 1e4);
     * 1e-6 of the largest. weights: a few ulp relative each (the FD of S exps at h = 1e-6 is
     * good to ~1e-6 relative even at |log w| ~ 1e4): 1e-5 of the largest weight. */
    CHECK(e_b <= 1e-6, "iw bound (B%d S%d base %g) differs from log-mean-exp by %g", batch, samples,
          base, e_b);
    CHECK(e_w <= 1e-5, "iw weights (B%d S%d base %g) differ from d bound / d log w by %g", batch,
          samples, base, e_w);
    free(h);
    free(w);
    free(bound);
    free(x);
    free(gw);
    free(wb);
    free_bufs();
}

/* ------------------------------------------------------------------ binarize */

static void check_binarize(void)
{
    enum { N = 200000 };
    float *p = malloc(N * sizeof *p), *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    fill_uniform(p, N, 0, 1);
    p[0] = 0.0f;
    p[1] = 1.0f;
    clvae_view v = dev(p, N);
    be.ops->binarize(be.ctx, N, 42, 9, CLVAE_STREAM_BINARIZE, v);
    down(v, x, N);
    be.ops->upload(be.ctx, v, p, N * sizeof *p);
    be.ops->binarize(be.ctx, N, 42, 10, CLVAE_STREAM_BINARIZE, v); /* the next step */
    down(v, y, N);
    double ones = 0, mean = 0, var = 0;
    size_t bad = 0, same = 0;
    for (int i = 0; i < N; i++) {
        ones += x[i];
        mean += p[i];
        var += (double)p[i] * (1 - p[i]);
        bad += x[i] != 0.0f && x[i] != 1.0f;
        same += x[i] == y[i];
    }
    double zscore = (ones - mean) / sqrt(var);
    printf("binarize    ones %.0f expected %.1f (z %.2f), same bits at the next step %.3f\n", ones,
           mean, zscore, (double)same / N);
    CHECK(bad == 0, "binarize wrote %zu values other than 0 and 1", bad);
    CHECK(x[0] == 0.0f && x[1] == 1.0f, "binarize: p = 0 must give 0 and p = 1 must give 1");
    /* Bernoulli(p) draws: the count of ones is within 5 standard deviations of sum p (a draw
     * with the comparison reversed, or u not uniform, is hundreds of sigma off). */
    CHECK(fabs(zscore) < 5, "binarize: %g ones, expected %g +- %g", ones, mean, sqrt(var));
    /* Independent draws at another step agree where both are likely: E = sum p^2 + (1-p)^2
     * = 2/3 of the pixels for uniform p; identical draws would agree everywhere. */
    CHECK(fabs((double)same / N - 2.0 / 3.0) < 0.01, "binarize: steps 9 and 10 agree on %.3f",
          (double)same / N);
    free(p);
    free(x);
    free(y);
    free_bufs();
}

int main(void)
{
    int st = clvae_ref_backend_create(&be);
    CHECK(!st, "reference backend: %s", clvae_last_error());
    if (st) return tu_finish("test_gradcheck_stoch");
    check_gauss_terms(false);
    check_gauss_terms(true);
    for (int prior = 0; prior < 2; prior++)
        for (int w = 0; w < 2; w++)
            check_prior_bwd(prior, w);
    check_latent_bwd(false, 1.0f, 0.0f);
    check_latent_bwd(true, 0.0f, 0.25f);
    check_latent_bwd(true, 0.7f, 1.0f);
    check_iw(4, 1, 0);
    check_iw(4, 5, 0);
    check_iw(3, 5, -1e4);
    check_iw(2, 300, -1e4);
    check_binarize();
    be.ops->free(be.ctx);
    return tu_finish("test_gradcheck_stoch");
}
