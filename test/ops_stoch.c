/* The stochastic-layer ops (backend.h "Stochastic-layer chain") on the device under test
 * against the reference backend, part of test_ops: both prior modes, weights absent and given,
 * kl_sum absent / initialized / accumulated, several samples per heads row, importance weights
 * for S = 1, 5 and large S including log weights near -1e4 (where exp underflows without the
 * max subtracted), and binarization bit for bit with the host's Philox. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/philox.h"
#include "ops_twin.h"

/* ---- tolerances (normalized MSE vs the reference; 0 = bit-identical) ---------------------- */
/* Only IEEE add/mul/compare in the same order as the reference with FP_CONTRACT OFF (row_scale,
 * N(0, I) prior terms and gradients, binarize): every device must agree bit for bit. */
#define TOL_S_EXACT 0.0
/* exp/log of the device vs the host's libm (OpenCL allows 3-4 ulp) inside otherwise identical
 * float expressions, summed in the same order: relative errors ~1e-6 at worst on cancelling
 * sums such as log q - log p, nmse ~1e-12; 1e-10 leaves a margin and still fails any wrong
 * term (a missing factor 1/2 gives nmse ~0.1). */
#define TOL_S_TRANSC 1e-10

typedef struct layer_case {
    int rows, hrows, latent; /* rows = S * hrows */
} layer_case;

static const layer_case layers_full[] = {{1, 1, 1},      {7, 7, 5},      {15, 5, 6},
                                         {256, 128, 20}, {640, 128, 50}, {300, 100, 1}};
static const layer_case layers_small[] = {{1, 1, 1}, {6, 3, 5}, {10, 2, 3}};

static const layer_case *layer_cases(int *n)
{
    *n = E.small ? 3 : 6;
    return E.small ? layers_small : layers_full;
}

/* kl_sum modes: absent, initialized by this call, accumulated onto its contents. */
enum { SUM_NONE, SUM_INIT, SUM_ACC };
static const char *sum_names[] = {"", " sum=init", " sum=acc"};

static void gauss_terms_one(layer_case c, bool prior, int sum)
{
    size_t n = (size_t)c.rows * c.latent;
    twin heads = twin_rand((size_t)c.hrows * 2 * c.latent, -2, 2), z = twin_rand(n, -3, 3);
    twin eps = twin_rand(n, -2, 2), pr = twin_rand(2 * n, -2, 2);
    twin kl = twin_rand(c.rows, -1, 1), ks = twin_rand(c.rows, -5, 5);
    for (int side = 0; side < 2; side++) {
        clvae_gauss_terms_args a = {c.rows,
                                    c.hrows,
                                    c.latent,
                                    V(heads),
                                    V(z),
                                    V(eps),
                                    prior ? V(pr) : (clvae_view){NULL, 0},
                                    V(kl),
                                    sum != SUM_NONE ? V(ks) : (clvae_view){NULL, 0},
                                    sum == SUM_INIT};
        RUN(BE(side)->ops->gauss_terms(BE(side)->ctx, &a));
    }
    char shape[64];
    snprintf(shape, sizeof shape, "r%d h%d R%d %s%s", c.rows, c.hrows, c.latent,
             prior ? "prior" : "N(0,I)", sum_names[sum]);
    double tol = prior ? TOL_S_TRANSC : TOL_S_EXACT;
    compare(&kl, "gauss_terms", shape, tol);
    compare(&ks, "gauss_terms.sum", shape, sum == SUM_NONE ? TOL_S_EXACT : tol);
    twin_free(&heads);
    twin_free(&z);
    twin_free(&eps);
    twin_free(&pr);
    twin_free(&kl);
    twin_free(&ks);
}

static void prior_bwd_one(layer_case c, bool prior, bool weights)
{
    size_t n = (size_t)c.rows * c.latent;
    twin w = twin_rand(c.rows, 0, 1), z = twin_rand(n, -3, 3), pr = twin_rand(2 * n, -2, 2);
    twin dz = twin_rand(n, -1, 1), dp = twin_rand(2 * n, -1, 1);
    for (int side = 0; side < 2; side++) {
        clvae_prior_bwd_args a = {c.rows, c.latent,
                                  0.37f,  weights ? V(w) : (clvae_view){NULL, 0},
                                  V(z),   prior ? V(pr) : (clvae_view){NULL, 0},
                                  V(dz),  V(dp)};
        RUN(BE(side)->ops->prior_bwd(BE(side)->ctx, &a));
    }
    char shape[64];
    snprintf(shape, sizeof shape, "r%d R%d %s%s", c.rows, c.latent, prior ? "prior" : "N(0,I)",
             weights ? " +w" : "");
    double tol = prior ? TOL_S_TRANSC : TOL_S_EXACT;
    compare(&dz, "prior_bwd.dz", shape, tol);
    compare(&dp, "prior_bwd.dp", shape, tol); /* untouched without a prior: equal inputs */
    twin_free(&w);
    twin_free(&z);
    twin_free(&pr);
    twin_free(&dz);
    twin_free(&dp);
}

static void latent_bwd_one(layer_case c, bool weights, float klw, float scale)
{
    int S = c.rows / c.hrows;
    size_t n = (size_t)c.rows * c.latent, nh = (size_t)c.hrows * 2 * c.latent;
    twin w = twin_rand(c.rows, 0, 1), heads = twin_rand(nh, -2, 2), eps = twin_rand(n, -2, 2);
    twin dz = twin_rand(n, -1, 1), dh = twin_rand(nh, -1, 1);
    for (int side = 0; side < 2; side++) {
        clvae_latent_bwd_args a = {
            c.hrows,  S,      c.latent, klw,  scale, weights ? V(w) : (clvae_view){NULL, 0},
            V(heads), V(eps), V(dz),    V(dh)};
        RUN(BE(side)->ops->latent_bwd(BE(side)->ctx, &a));
    }
    char shape[64];
    snprintf(shape, sizeof shape, "h%d S%d R%d klw%.1f c%.2f%s", c.hrows, S, c.latent, klw, scale,
             weights ? " +w" : "");
    compare(&dh, "latent_bwd", shape, TOL_S_TRANSC);
    twin_free(&w);
    twin_free(&heads);
    twin_free(&eps);
    twin_free(&dz);
    twin_free(&dh);
}

static void test_layer_ops(void)
{
    int count;
    const layer_case *cases = layer_cases(&count);
    for (int i = 0; i < count; i++) {
        for (int prior = 0; prior < 2; prior++)
            for (int sum = SUM_NONE; sum <= SUM_ACC; sum++)
                gauss_terms_one(cases[i], prior, sum);
        for (int prior = 0; prior < 2; prior++)
            for (int w = 0; w < 2; w++)
                prior_bwd_one(cases[i], prior, w);
        latent_bwd_one(cases[i], false, 1.0f, 0.0f);
        latent_bwd_one(cases[i], true, 0.0f, 0.01f);
        latent_bwd_one(cases[i], true, 0.3f, 1.0f / cases[i].rows);
    }
}

/* ---- importance weights ------------------------------------------------------------------ */

typedef struct iw_case {
    int batch, samples;
    float base; /* log weights lie in [base - 25, base + 5]: -1e4 underflows a naive exp */
} iw_case;

static const iw_case iw_full[] = {{1, 1, 0},     {7, 1, 0},    {7, 5, 0},     {128, 5, 0},
                                  {33, 5, -1e4}, {3, 1, -1e4}, {20, 1000, 0}, {4, 5000, -1e4}};
static const iw_case iw_small[] = {{1, 1, 0}, {3, 5, 0}, {3, 5, -1e4}, {2, 70, -1e4}, {1, 600, 0}};

/* Device-side invariants: weights (S*B) sum to scale per data row, bounds (B) are finite. */
static void iw_invariants(const twin *w, const twin *bound, iw_case c, float scale,
                          const char *shape)
{
    float *gw[2], *gb[2];
    twin_download(w, gw);
    twin_download(bound, gb);
    double worst = 0;
    bool finite = !tu_has_nonfinite(gb[1] + OFF, (size_t)c.batch);
    for (int b = 0; b < c.batch; b++) {
        double s = 0;
        for (int k = 0; k < c.samples; k++)
            s += gw[1][OFF + (size_t)k * c.batch + b];
        worst = fmax(worst, fabs(s / scale - 1.0));
    }
    /* Each weight carries a few ulp of exp, and the serial float sum of the S terms behind the
     * normalization ~sqrt(S) ulp (measured: 2e-7 at S = 5, 7e-6 at S = 5000): 1e-6 (1 + sqrt S).
     * Weights not normalized, or a log-sum-exp rounded at |log w| ~ 1e4 (5e-4), fail it. */
    bool ok = finite && worst <= 1e-6 * (1.0 + sqrt((double)c.samples));
    printf("%-14s %-12s %-30s |sum w/c - 1| %8.1e  %s\n", "iw_weights.sum", E.label, shape, worst,
           ok ? "ok" : "FAIL");
    CHECK(ok, "iw_weights %s on %s: weights sum off by %.2e or bound not finite", shape, E.label,
          worst);
    for (int side = 0; side < 2; side++) {
        free(gw[side]);
        free(gb[side]);
    }
}

/* The OpenCL backend's two layouts of iw_weights (ocl_stoch.c): one work-item per data row,
 * or one work-group per row for many samples, chosen by S unless CLVAE_OCL_IW_GROUP_MIN_S
 * says otherwise. Both must give the same bits. */
static const char *const iw_layouts[] = {"serial", "group"};
static const char *const iw_layout_env[] = {"4294967295", "0"};

/* Runs case c in layout `layout` on both sides and compares; *dev gets the device's weights
 * and bounds (n + B floats) for the layout comparison. */
static void iw_one(iw_case c, int layout, float **dev)
{
    size_t n = (size_t)c.samples * c.batch;
    float scale = 1.0f / c.batch;
    /* log w = -(nll + kl): nll in [-base, -base + 20], kl in [-5, 5] */
    twin nll = twin_rand(n, -c.base, -c.base + 20), kl = twin_rand(n, -5, 5);
    twin w = twin_rand(n, -1, 1), bound = twin_rand(c.batch, -1, 1);
    setenv("CLVAE_OCL_IW_GROUP_MIN_S", iw_layout_env[layout], 1);
    for (int side = 0; side < 2; side++) {
        clvae_iw_args a = {c.batch, c.samples, scale, V(nll), V(kl), V(w), V(bound)};
        RUN(BE(side)->ops->iw_weights(BE(side)->ctx, &a));
    }
    unsetenv("CLVAE_OCL_IW_GROUP_MIN_S");
    char shape[64];
    snprintf(shape, sizeof shape, "B%d S%d logw~%g %s", c.batch, c.samples, c.base,
             iw_layouts[layout]);
    compare(&w, "iw_weights.w", shape, TOL_S_TRANSC);
    compare(&bound, "iw_weights.bound", shape, TOL_S_TRANSC);
    iw_invariants(&w, &bound, c, scale, shape);
    float *got[2];
    twin_download(&w, got);
    *dev = malloc((n + c.batch) * sizeof(float));
    memcpy(*dev, got[1] + OFF, n * sizeof(float));
    free(got[0]);
    free(got[1]);
    twin_download(&bound, got);
    memcpy(*dev + n, got[1] + OFF, c.batch * sizeof(float));
    free(got[0]);
    free(got[1]);
    twin_free(&nll);
    twin_free(&kl);
    twin_free(&w);
    twin_free(&bound);
}

static void test_iw_weights(void)
{
    int count = E.small ? 5 : 8;
    const iw_case *cases = E.small ? iw_small : iw_full;
    uint64_t saved = frand_state();
    for (int i = 0; i < count; i++) {
        float *dev[2];
        size_t n = (size_t)cases[i].samples * cases[i].batch + cases[i].batch;
        for (int layout = 0; layout < 2; layout++) {
            frand_seed(saved + (uint64_t)i); /* the same inputs for both layouts */
            iw_one(cases[i], layout, &dev[layout]);
        }
        bool same = !memcmp(dev[0], dev[1], n * sizeof(float));
        printf("%-14s %-12s B%-4d S%-25d %s\n", "iw_weights", E.label, cases[i].batch,
               cases[i].samples, same ? "group == serial, bit-identical ok" : "FAIL (differ)");
        CHECK(same, "iw_weights B%d S%d on %s: the group layout differs from the serial one",
              cases[i].batch, cases[i].samples, E.label);
        free(dev[0]);
        free(dev[1]);
    }
}

/* ---- row scale, binarize ------------------------------------------------------------------ */

static void test_row_scale(void)
{
    static const int shapes[][2] = {{1, 1}, {7, 33}, {640, 784}, {5, 1}};
    for (int i = 0; i < (E.small ? 2 : 4); i++) {
        int r = shapes[i][0], c = shapes[i][1];
        twin w = twin_rand(r, 0, 2), x = twin_rand((size_t)r * c, -3, 3);
        for (int side = 0; side < 2; side++)
            RUN(BE(side)->ops->row_scale(BE(side)->ctx, r, c, V(w), V(x)));
        char shape[64];
        snprintf(shape, sizeof shape, "%dx%d", r, c);
        compare(&x, "row_scale", shape, TOL_S_EXACT);
        twin_free(&w);
        twin_free(&x);
    }
}

/* x in [0, 1] with exact 0s and 1s mixed in; the result must be the host's Philox draw bit
 * for bit (stated directly, besides the comparison with the reference backend). */
static void binarize_one(size_t n, uint64_t seed, uint64_t step, uint32_t stream)
{
    float *h = malloc(n * sizeof *h), *want = malloc(n * sizeof *want);
    for (size_t i = 0; i < n; i++) {
        h[i] = i % 7 == 0 ? 0.0f : i % 7 == 1 ? 1.0f : frand(0, 1);
        want[i] = clvae_philox_uniform(seed, step, stream, i) < h[i] ? 1.0f : 0.0f;
    }
    twin x = twin_from(h, n);
    for (int side = 0; side < 2; side++)
        RUN(BE(side)->ops->binarize(BE(side)->ctx, n, seed, step, stream, V(x)));
    char shape[64];
    snprintf(shape, sizeof shape, "n=%zu stream %u", n, (unsigned)stream);
    compare(&x, "binarize", shape, TOL_S_EXACT);
    float *got[2];
    twin_download(&x, got);
    size_t diff = 0;
    for (size_t i = 0; i < n; i++)
        diff += got[1][OFF + i] != want[i];
    CHECK(diff == 0, "binarize %s on %s: %zu of %zu differ from the host Philox", shape, E.label,
          diff, n);
    free(got[0]);
    free(got[1]);
    twin_free(&x);
    free(h);
    free(want);
}

/* Sizes around the kernel's work-item of CLVAE_VW blocks (4 * CLVAE_VW elements: 64 at width
 * 16, 16 at width 4): partial first work-items (1, 7), one full and one partial (65), full
 * work-items only (4096), a partial last one after many (1003, 100003). */
static void test_binarize(void)
{
    static const size_t sizes[] = {1, 7, 1003, 65, 4096, 100003};
    const uint32_t streams[] = {CLVAE_STREAM_BINARIZE, CLVAE_STREAM_BINARIZE_FIXED,
                                CLVAE_STREAM_BINARIZE_TEST,
                                CLVAE_STREAM_LAYER(CLVAE_STREAM_BINARIZE, 1)};
    for (int i = 0; i < (E.small ? 4 : 6); i++)
        binarize_one(sizes[i], 0x0123456789ABCDEFull, (1ull << 32) + 5 + i, streams[i % 4]);
}

void test_stoch_ops(void)
{
    test_layer_ops();
    test_iw_weights();
    test_row_scale();
    test_binarize();
}
