/* The categorical-layer ops (backend.h "Categorical layers") on the device under test against
 * the reference backend, part of test_ops: the Gumbel-softmax sample with Philox noise and with
 * given noise, relaxed and hard (straight-through one-hot), several temperatures down to 0.05
 * with logits up to +-60 (a softmax without its max subtracted overflows there); the KL to the
 * uniform prior and the one-hot log-density ratio with kl_sum absent / initialized /
 * accumulated; the backward with several samples per logits row and KL weights. Besides the
 * comparison with the reference: the device's noise is the host's Philox Gumbel draw, every
 * relaxed group sums to 1, a hard sample is one-hot at the relaxed sample's maximum, and the
 * KL is 0 at uniform logits and log K at a (numerically) one-hot q. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/ref/ref_math.h"
#include "core/philox.h"
#include "ops_twin.h"

/* ---- tolerances (normalized MSE vs the reference) ----------------------------------------- */
/* exp/log of the device vs the host's libm (OpenCL allows 3-4 ulp) inside otherwise identical
 * float expressions in the same order: nmse ~1e-13 measured; 1e-10 as for the Gaussian layer
 * ops (ops_stoch.c) still fails any wrong term (a missing 1/tau gives nmse ~0.1 at tau 0.5). */
#define TOL_G_TRANSC 1e-10
/* Given noise and hard samples: the one-hot is decided by comparisons of IEEE-exact
 * (l + g) / tau values (correctly rounded division): bit-identical. */
#define TOL_G_EXACT 0.0

typedef struct cat_case {
    int rows, hrows, groups, cats; /* rows = S * hrows */
} cat_case;

static const cat_case cases_full[] = {{1, 1, 1, 2},      {7, 7, 3, 5},     {20, 4, 2, 2},
                                      {300, 100, 30, 10}, {64, 64, 30, 10}, {9, 3, 4, 33}};
static const cat_case cases_small[] = {{1, 1, 1, 2}, {6, 3, 2, 5}, {4, 4, 3, 10}};

static const cat_case *cat_cases(int *n)
{
    *n = E.small ? 3 : 6;
    return E.small ? cases_small : cases_full;
}

static size_t cat_n(cat_case c)
{
    return (size_t)c.rows * c.groups * c.cats;
}

/* Device-side invariants of a gumbel result: g equals the host's Philox Gumbel draw
 * (|dev - host| / (1 + |host|) <= 1e-6: a few ulp of two nested logs; measured 1.2e-7), each relaxed
 * group sums to 1 (K ulps of the serial sum: 1e-5), a hard z is one-hot at the max of y. */
static void gumbel_invariants(const twin *g, const twin *y, const twin *z, cat_case c, bool hard,
                              bool given, uint64_t step, const char *shape)
{
    float *gg[2], *gy[2], *gz[2];
    twin_download(g, gg);
    twin_download(y, gy);
    twin_download(z, gz);
    const float *dg = gg[1] + OFF, *dy = gy[1] + OFF, *dz = gz[1] + OFF;
    double worst_g = 0, worst_sum = 0;
    int bad_hard = 0;
    for (size_t i = 0; !given && i < cat_n(c); i++) {
        float want = clvae_gumbel_noise(clvae_philox_uniform(77, step, 9, i));
        worst_g = fmax(worst_g, fabs(dg[i] - want) / (1.0 + fabs(want)));
    }
    for (size_t b = 0; b < (size_t)c.rows * c.groups; b++) {
        const float *yb = dy + b * c.cats, *zb = dz + b * c.cats;
        double s = 0;
        int arg = 0, ones = 0;
        for (int k = 0; k < c.cats; k++) {
            s += yb[k];
            if (yb[k] > yb[arg]) arg = k;
            ones += zb[k] == 1.0f;
        }
        worst_sum = fmax(worst_sum, fabs(s - 1.0));
        if (hard && (ones != 1 || zb[arg] != 1.0f)) bad_hard++;
    }
    bool ok = worst_g <= 1e-6 && worst_sum <= 1e-5 && bad_hard == 0 &&
              !has_nan(dy, cat_n(c)) && !has_nan(dz, cat_n(c));
    printf("%-14s %-12s %-30s g %7.1e sum %7.1e hard %d  %s\n", "gumbel.inv", E.label, shape,
           worst_g, worst_sum, bad_hard, ok ? "ok" : "FAIL");
    CHECK(ok, "gumbel %s on %s: noise off %.2e, group sums off %.2e, %d bad one-hots", shape,
          E.label, worst_g, worst_sum, bad_hard);
    for (int side = 0; side < 2; side++) {
        free(gg[side]);
        free(gy[side]);
        free(gz[side]);
    }
}

static void gumbel_one(cat_case c, float tau, float spread, bool hard, bool given)
{
    size_t n = cat_n(c);
    uint64_t step = (1ull << 32) + 3;
    twin l = twin_rand((size_t)c.hrows * c.groups * c.cats, -spread, spread);
    twin g = twin_rand(n, -2, 4), y = twin_rand(n, -1, 1), z = twin_rand(n, -1, 1);
    for (int side = 0; side < 2; side++) {
        clvae_gumbel_args a = {.rows = c.rows, .hrows = c.hrows, .groups = c.groups,
                               .cats = c.cats, .tau = tau, .hard = hard, .noise_given = given,
                               .seed = 77, .step = step, .stream = 9, .logits = V(l),
                               .g = V(g), .y = V(y), .z = V(z)};
        RUN(BE(side)->ops->gumbel(BE(side)->ctx, &a));
    }
    char shape[64];
    snprintf(shape, sizeof shape, "r%d h%d %dx%d t%.2f l%g%s%s", c.rows, c.hrows, c.groups,
             c.cats, tau, spread, hard ? " hard" : "", given ? " given" : "");
    compare(&g, "gumbel.g", shape, given ? TOL_G_EXACT : TOL_G_TRANSC);
    compare(&y, "gumbel.y", shape, TOL_G_TRANSC);
    compare(&z, "gumbel.z", shape, hard && given ? TOL_G_EXACT : TOL_G_TRANSC);
    gumbel_invariants(&g, &y, &z, c, hard, given, step, shape);
    twin_free(&l);
    twin_free(&g);
    twin_free(&y);
    twin_free(&z);
}

/* z (rows, G*K) one-hot at random categories. */
static twin random_onehot(cat_case c)
{
    size_t n = cat_n(c);
    float *h = calloc(n, sizeof *h);
    for (size_t b = 0; b < (size_t)c.rows * c.groups; b++) {
        int k = (int)frand(0, (float)c.cats);
        h[b * c.cats + (k < c.cats ? k : c.cats - 1)] = 1.0f;
    }
    twin t = twin_from(h, n);
    free(h);
    return t;
}

enum { SUM_NONE, SUM_INIT, SUM_ACC };

static void cat_terms_one(cat_case c, bool onehot, int sum)
{
    twin l = twin_rand((size_t)c.hrows * c.groups * c.cats, -8, 8), z = random_onehot(c);
    twin kl = twin_rand(c.rows, -1, 1), ks = twin_rand(c.rows, -5, 5);
    for (int side = 0; side < 2; side++) {
        clvae_cat_terms_args a = {.rows = c.rows, .hrows = c.hrows, .groups = c.groups,
                                  .cats = c.cats, .logits = V(l), .kl = V(kl),
                                  .sum_init = sum == SUM_INIT};
        if (onehot) a.z = V(z);
        if (sum != SUM_NONE) a.kl_sum = V(ks);
        RUN(BE(side)->ops->cat_terms(BE(side)->ctx, &a));
    }
    char shape[64];
    snprintf(shape, sizeof shape, "r%d h%d %dx%d %s%s", c.rows, c.hrows, c.groups, c.cats,
             onehot ? "one-hot" : "analytic",
             sum == SUM_INIT ? " sum=init" : sum == SUM_ACC ? " sum=acc" : "");
    compare(&kl, "cat_terms", shape, TOL_G_TRANSC);
    compare(&ks, "cat_terms.sum", shape, onehot && sum != SUM_NONE ? TOL_G_TRANSC : TOL_G_EXACT);
    twin_free(&l);
    twin_free(&z);
    twin_free(&kl);
    twin_free(&ks);
}

/* The analytic KL at uniform logits (0 per group) and at logits with one category 60 above the
 * others (q one-hot to float precision: log K per group), on the device. Tolerance: K terms of
 * a few ulp each, 1e-5 per group. */
static void cat_terms_known(void)
{
    cat_case c = {4, 4, 30, 10};
    size_t n = (size_t)c.hrows * c.groups * c.cats;
    float *h = malloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++)
        h[i] = i < n / 2 ? 3.25f : (i % c.cats == 7 ? 60.0f : -0.5f); /* rows 0-1 | rows 2-3 */
    twin l = twin_from(h, n), kl = twin_rand(c.hrows, -1, 1);
    int side = 1;
    clvae_cat_terms_args a = {.rows = c.rows, .hrows = c.hrows, .groups = c.groups,
                              .cats = c.cats, .logits = V(l), .kl = V(kl)};
    RUN(BE(1)->ops->cat_terms(BE(1)->ctx, &a));
    float *got[2];
    twin_download(&kl, got);
    double want[4] = {0, 0, c.groups * log(10.0), c.groups * log(10.0)}, worst = 0;
    for (int r = 0; r < 4; r++) worst = fmax(worst, fabs(got[1][OFF + r] - want[r]));
    bool ok = worst <= 1e-5 * c.groups;
    printf("%-14s %-12s %-30s |kl - known| %8.1e  %s\n", "cat_terms.kl", E.label,
           "uniform 0, one-hot G log K", worst, ok ? "ok" : "FAIL");
    CHECK(ok, "cat_terms on %s: KL at uniform / one-hot q off by %.2e", E.label, worst);
    free(got[0]);
    free(got[1]);
    free(h);
    twin_free(&l);
    twin_free(&kl);
}

static void cat_bwd_one(cat_case c, float tau, float klw)
{
    int S = c.rows / c.hrows;
    size_t n = cat_n(c), nh = (size_t)c.hrows * c.groups * c.cats;
    twin l = twin_rand(nh, -6, 6), y = twin_rand(n, 0, 1), dz = twin_rand(n, -1, 1);
    twin dl = twin_rand(nh, -1, 1);
    for (int side = 0; side < 2; side++) {
        clvae_cat_bwd_args a = {.hrows = c.hrows, .samples = S, .groups = c.groups,
                                .cats = c.cats, .tau = tau, .kl_weight = klw, .logits = V(l),
                                .y = V(y), .dz = V(dz), .dlogits = V(dl)};
        RUN(BE(side)->ops->cat_bwd(BE(side)->ctx, &a));
    }
    char shape[64];
    snprintf(shape, sizeof shape, "h%d S%d %dx%d t%.2f klw%.2f", c.hrows, S, c.groups, c.cats,
             tau, klw);
    compare(&dl, "cat_bwd", shape, TOL_G_TRANSC);
    twin_free(&l);
    twin_free(&y);
    twin_free(&dz);
    twin_free(&dl);
}

void test_gumbel_ops(void)
{
    int count;
    const cat_case *cases = cat_cases(&count);
    for (int i = 0; i < count; i++) {
        gumbel_one(cases[i], 1.0f, 3, false, false);
        gumbel_one(cases[i], 0.5f, 8, true, false);
        gumbel_one(cases[i], 0.05f, 60, false, false);
        gumbel_one(cases[i], 0.5f, 8, true, true);
        gumbel_one(cases[i], 0.7f, 3, false, true);
        for (int sum = SUM_NONE; sum <= SUM_ACC; sum++) {
            cat_terms_one(cases[i], false, sum);
            cat_terms_one(cases[i], true, sum);
        }
        cat_bwd_one(cases[i], 1.0f, 0.0f);
        cat_bwd_one(cases[i], 0.5f, 0.7f);
        cat_bwd_one(cases[i], 0.05f, 1.0f / cases[i].rows);
    }
    cat_terms_known();
}
