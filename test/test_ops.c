/* Every backend op on every OpenCL device against the reference backend: one table line per
 * (op, device, shape) with the normalized MSE and the tolerance written next to the case, NaN
 * checks, guard bands around every output (out-of-bounds writes) and bit-identical reruns of the
 * reductions. Environment: CLVAE_TEST_SMALL=1 runs small shapes only (oclgrind);
 * CLVAE_TEST_PLATFORM=SUBSTR tests only platforms whose name contains SUBSTR. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/philox.h"
#include "testutil.h"

#ifdef CLVAE_HAVE_OPENCL
#include <ctype.h>

#include <clblast_c.h>

#include "backend/opencl/ocl_device.h"
#include "backend/opencl/gemm/tune.h"
#include "ops_twin.h"

/* ---- tolerances (normalized MSE vs the reference; 0 = bit-identical) ------------------------ */
/* Only IEEE add/mul/max/conversions, no contraction (FP_CONTRACT OFF): every device must agree
 * bit for bit (fill, copy, gather, relu, identity, SGD). */
#define TOL_EXACT 0.0
/* exp/log1p/tanh/expm1 may differ by a few ulp between libm and the device (OpenCL allows 2-5
 * ulp): nmse ~ (1e-6)^2 at worst. */
#define TOL_TRANSC 1e-10
/* Box-Muller on device vs host: log/sin/cos ulp differences (philox.clh). */
#define TOL_EPS 1e-10
/* Float tree/serial sums on the device vs double sums in the reference: ~sqrt(n) ulp. */
#define TOL_REDUCE 1e-10
/* GEMM: fp32 with a different summation order (tiles, K up to 784): ~sqrt(K) ulp relative per
 * element, nmse ~1e-12 expected; 1e-8 leaves room for devices that use FMA. */
#define TOL_GEMM 1e-8
/* Likelihood gradients: d = sigmoid(l) - x cancels when sigmoid(l) ~ x, so an ulp of exp
 * becomes a larger relative error, and a 1-element case averages nothing out (rusticl: 3e-12). */
#define TOL_GRAD 1e-8
/* Adam: sqrt and divide are correctly rounded only where the device supports it. */
#define TOL_OPT 1e-10

typedef struct dims2 {
    int rows, cols;
} dims2;

static const dims2 shapes_full[] = {{1, 1}, {7, 33}, {33, 130}, {128, 400}, {128, 784}};
static const dims2 shapes_small[] = {{1, 1}, {7, 33}, {33, 7}};

static const dims2 *shapes2(int *n)
{
    *n = E.small ? 3 : 5;
    return E.small ? shapes_small : shapes_full;
}

static const char *act_names[] = {"relu", "tanh", "softplus", "identity"};

/* ---- fill, copy, gather ------------------------------------------------------------------ */

static void test_fill_copy(void)
{
    static const size_t sizes[] = {1, 7, 130, 100003};
    int count = E.small ? 3 : 4;
    for (int i = 0; i < count; i++) {
        size_t n = sizes[i];
        char shape[64];
        snprintf(shape, sizeof shape, "n=%zu", n);
        twin a = twin_rand(n, -1, 1), b = twin_rand(n + 8, -1, 1);
        for (int side = 0; side < 2; side++) {
            RUN(BE(side)->ops->fill(BE(side)->ctx, V(a), n, 0.25f));
        }
        compare(&a, "fill", shape, TOL_EXACT);
        for (int side = 0; side < 2; side++) {
            RUN(BE(side)->ops->copy(BE(side)->ctx, V(a), clvae_view_at(V(b), 3), n));
            /* overlapping, memmove semantics: shift b right by 5 floats */
            RUN(BE(side)->ops->copy(BE(side)->ctx, clvae_view_at(V(b), 5), V(b), n));
        }
        compare(&a, "copy", shape, TOL_EXACT);
        compare(&b, "copy(overlap)", shape, TOL_EXACT);
        twin_free(&a);
        twin_free(&b);
    }
}

static void test_gather(void)
{
    int rows = 50, dims[] = {1, 33, 784}, count = 37;
    for (int di = 0; di < (E.small ? 2 : 3); di++) {
        int dim = dims[di];
        unsigned char *src = malloc((size_t)rows * dim);
        uint32_t idx[37];
        for (size_t i = 0; i < (size_t)rows * dim; i++)
            src[i] = (unsigned char)(frand(0, 256));
        for (int i = 0; i < count; i++)
            idx[i] = (uint32_t)frand(0, (float)rows) % rows;
        twin out = twin_const((size_t)count * dim, -1.0f), ix = twin_const(count, 0.0f);
        char shape[64];
        snprintf(shape, sizeof shape, "count=%d dim=%d", count, dim);
        for (int side = 0; side < 2; side++) {
            clvae_backend *be = BE(side);
            clvae_buffer *sb = NULL;
            RUN(be->ops->buffer_alloc(be->ctx, (size_t)rows * dim, &sb));
            RUN(be->ops->upload(be->ctx, (clvae_view){sb, 0}, src, (size_t)rows * dim));
            RUN(be->ops->upload(be->ctx, V(ix), idx, sizeof idx));
            RUN(be->ops->gather_u8(be->ctx, V(out), sb, V(ix), count, dim));
            RUN(be->ops->finish(be->ctx));
            be->ops->buffer_free(be->ctx, sb);
        }
        compare(&out, "gather_u8", shape, TOL_EXACT);
        twin_free(&out);
        twin_free(&ix);
        free(src);
    }
}

/* Conditional models: onehot rows of float labels, row r from label r % batch; an out-of-range
 * label (10 with C = 10, -1) gives a zero row. The reference itself is checked against the
 * definition, then the device bit for bit (only compares and stores). */
static void test_onehot(void)
{
    const int batch = 37, S = 3, C = 10, rows = S * batch;
    float lab[37];
    for (int i = 0; i < batch; i++) lab[i] = (float)((int)frand(0, 12) - 1); /* -1..10 */
    twin out = twin_const((size_t)rows * C, -1.0f), lt = twin_from(lab, batch);
    for (int side = 0; side < 2; side++) {
        clvae_backend *be = BE(side);
        RUN(be->ops->onehot(be->ctx, rows, batch, C, V(lt), V(out)));
        RUN(be->ops->finish(be->ctx));
    }
    float *got[2];
    twin_download(&out, got);
    int bad = 0;
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < C; k++)
            bad += got[0][OFF + r * C + k] != (lab[r % batch] == (float)k ? 1.0f : 0.0f);
    CHECK(bad == 0, "reference onehot: %d entries differ from the definition", bad);
    free(got[0]);
    free(got[1]);
    compare(&out, "onehot", "rows=111 batch=37 C=10", TOL_EXACT);
    twin_free(&out);
    twin_free(&lt);
}

/* ---- GEMM ---------------------------------------------------------------------------------- */

typedef struct gemm_case {
    int m, n, k;
} gemm_case;

static const gemm_case gemm_full[] = {
    {1, 1, 1},       {7, 33, 130},    {33, 7, 1},     {130, 33, 7},   {128, 400, 784},
    {400, 784, 128}, {128, 784, 400}, {128, 40, 400}, {128, 400, 20}, {7, 33, 0},
};
static const gemm_case gemm_small[] = {{1, 1, 1}, {7, 33, 13}, {9, 5, 0}};

#define MAX1(x) ((x) > 1 ? (x) : 1)

static const char *gemm_op = "gemm"; /* table label: "gemm" or "gemm(indirect)" */

static void gemm_one(gemm_case g, bool ta, bool tb, float alpha, float beta, int pad)
{
    /* BLAS: a leading dimension is at least 1 even when the operand is empty (k = 0) */
    int lda = MAX1(ta ? g.m : g.k) + pad, ldb = MAX1(tb ? g.k : g.n) + pad, ldc = MAX1(g.n) + pad;
    size_t a_rows = ta ? g.k : g.m, b_rows = tb ? g.n : g.k;
    twin a = twin_rand(a_rows * lda, -1, 1), b = twin_rand(b_rows * ldb, -1, 1);
    /* beta = 0 must ignore C: start from NaN there (BLAS semantics) */
    twin c =
        beta == 0.0f ? twin_const((size_t)g.m * ldc, NAN) : twin_rand((size_t)g.m * ldc, -1, 1);
    for (int side = 0; side < 2; side++)
        RUN(BE(side)->ops->gemm(BE(side)->ctx, ta, tb, g.m, g.n, g.k, alpha, V(a), lda, V(b), ldb,
                                beta, V(c), ldc));
    char shape[64];
    snprintf(shape, sizeof shape, "%dx%dx%d %c%c a%.1f b%.0f p%d", g.m, g.n, g.k, ta ? 'T' : 'N',
             tb ? 'T' : 'N', alpha, beta, pad);
    if (beta == 0.0f && pad) {
        /* the padding columns of C stay NaN on both sides; compare the m x n part only */
        float *got[2];
        twin_download(&c, got);
        for (int side = 0; side < 2; side++)
            for (int i = 0; i < g.m; i++)
                for (int j = g.n; j < ldc; j++)
                    got[side][OFF + (size_t)i * ldc + j] = 0.0f;
        double nmse = tu_nmse(got[0] + OFF, got[1] + OFF, c.n);
        bool ok = nmse <= TOL_GEMM && !has_nan(got[1] + OFF, c.n) && guards_intact(got[1], c.n);
        printf("%-14s %-12s %-30s nmse %9.2e  tol %7.1e  %s\n", gemm_op, E.label, shape, nmse,
               TOL_GEMM, ok ? "ok" : "FAIL");
        CHECK(ok, "%s %s on %s: nmse %.3e", gemm_op, shape, E.label, nmse);
        free(got[0]);
        free(got[1]);
    } else {
        compare(&c, gemm_op, shape, TOL_GEMM);
    }
    twin_free(&a);
    twin_free(&b);
    twin_free(&c);
}

static void test_gemm(void)
{
    int count = E.small ? 3 : 10;
    const gemm_case *cases = E.small ? gemm_small : gemm_full;
    for (int i = 0; i < count; i++)
        for (int t = 0; t < 4; t++) {
            bool big = (size_t)cases[i].m * cases[i].n * cases[i].k > 1000000;
            gemm_one(cases[i], t & 1, t & 2, 1.0f, 0.0f, t == 3 ? 3 : 0);
            if (!big || t == 0) gemm_one(cases[i], t & 1, t & 2, 0.5f, 1.0f, t == 1 ? 2 : 0);
        }
}

/* CLBlast's indirect path (pad/transpose kernels + the temporary buffer clvae preallocates):
 * forced for this device from here on by a zero XGEMM_MIN_INDIRECT_SIZE. */
static void test_gemm_indirect(cl_device_id device)
{
    const char *names[] = {"XGEMM_MIN_INDIRECT_SIZE"};
    const size_t values[] = {0};
    int st =
        CLBlastOverrideParameters(device, "GemmRoutine", CLBlastPrecisionSingle, 1, names, values);
    CHECK(st == 0, "CLBlastOverrideParameters: %d", st);
    if (st) return;
    static const gemm_case cases[] = {{7, 33, 13}, {33, 7, 1}, {128, 400, 784}, {128, 40, 400}};
    gemm_op = "gemm(indirect)";
    for (int i = 0; i < (E.small ? 2 : 4); i++)
        for (int t = 0; t < 4; t++) {
            gemm_one(cases[i], t & 1, t & 2, 1.0f, 0.0f, t == 2 ? 1 : 0);
            gemm_one(cases[i], t & 1, t & 2, -0.5f, 1.0f, t == 1 ? 3 : 0);
        }
    gemm_op = "gemm";
}

/* clvae's register-tiled and packed GEMM kernels, forced for every call: each form at edge
 * shapes (m, n not multiples of the tile, k not a multiple of the vector width, k = 1), every
 * transpose the form takes, work-groups of 1 and 4 (a group running past the grid), both grid
 * orders, beta = 0 with NaN in C. packb reads op(A) in place: m = 33 and 37 leave rows past m
 * in the last tile, whose reads are clamped to row m - 1 (a read past A changes no stored value;
 * Oclgrind, which runs the small cases, reports it). */
static void test_gemm_tiled(void)
{
    static const clvae_tiled variants[] = {{CLVAE_TILED_OUTER, 3, 2, 4, 1, 0, 0},
                                           {CLVAE_TILED_OUTER, 8, 1, 16, 4, 1, 0},
                                           {CLVAE_TILED_OUTER, 5, 3, 1, 1, 0, 0},
                                           {CLVAE_TILED_DOT, 3, 2, 4, 1, 0, 0},
                                           {CLVAE_TILED_DOT, 2, 3, 16, 4, 1, 0},
                                           {CLVAE_TILED_PACKED, 3, 2, 4, 1, 0, 0},
                                           {CLVAE_TILED_PACKED, 8, 1, 16, 4, 1, 0},
                                           {CLVAE_TILED_PACKB, 3, 2, 4, 1, 0, 0},
                                           {CLVAE_TILED_PACKB, 8, 1, 16, 4, 1, 0},
                                           {CLVAE_TILED_OUTER, 3, 2, 4, 1, 0, 4},
                                           {CLVAE_TILED_OUTER, 8, 1, 16, 4, 1, 7}};
    /* small mode (Oclgrind) runs the first two: k = 1 with n under a vector, and every edge */
    static const gemm_case cases[] = {{33, 7, 1}, {37, 29, 130}, {1, 1, 1}, {130, 20, 7}};
    char label[64];
    for (size_t v = 0; v < sizeof variants / sizeof *variants; v++) {
        clvae_tiled_format(&variants[v], label + 6, sizeof label - 6);
        memcpy(label, "gemm: ", 6);
        gemm_op = label;
        int side = 1;
        RUN(clvae_opencl_gemm_force(&E.dev, &variants[v]));
        for (int t = 0; t < 4; t++) {
            if (!clvae_tiled_valid(&variants[v], t & 1, t & 2)) continue;
            for (int i = 0; i < (E.small ? 2 : 4); i++) {
                /* leading dimensions past the width on every transpose (the model's NT and NN
                 * GEMMs read B inside a wider [x | condition] matrix) */
                gemm_one(cases[i], t & 1, t & 2, 1.0f, 0.0f, t == 3 ? 3 : 0);
                gemm_one(cases[i], t & 1, t & 2, -0.5f, 1.0f, 1 + t);
            }
        }
    }
    int side = 1;
    RUN(clvae_opencl_gemm_force(&E.dev, NULL));
    gemm_op = "gemm";
}

/* gemm_bias_act, the forward layer with the bias and activation in the GEMM's epilogue: against
 * the reference (gemm then bias_act there), and on the device bit for bit what gemm followed by
 * bias_act computes, on CLBlast and on each kernel form (relu and identity fused, tanh not). */
static void test_gemm_bias_act(void)
{
    static const clvae_tiled variants[] = {{CLVAE_TILED_NONE, 0, 0, 0, 1, 0, 0},
                                           {CLVAE_TILED_OUTER, 3, 2, 4, 1, 0, 0},
                                           {CLVAE_TILED_DOT, 3, 2, 4, 1, 1, 0},
                                           {CLVAE_TILED_PACKED, 3, 2, 4, 1, 1, 0},
                                           {CLVAE_TILED_PACKB, 3, 2, 4, 1, 0, 0},
                                           {CLVAE_TILED_PACKB, 8, 1, 16, 4, 1, 0},
                                           {CLVAE_TILED_OUTER, 3, 2, 4, 1, 0, 3}};
    static const gemm_case cases[] = {{37, 29, 130}, {33, 7, 1}};
    static const int acts[] = {CLVAE_ACT_RELU, CLVAE_ACT_IDENTITY, CLVAE_ACT_TANH};
    if (!E.dev.ops->gemm_bias_act) return;
    int side = 1;
    for (size_t v = 0; v < sizeof variants / sizeof *variants; v++) {
        RUN(clvae_opencl_gemm_force(&E.dev, &variants[v]));
        for (int t = 0; t < 2; t++) /* NT (the forward layers) and NN */
            for (int i = 0; i < 2; i++)
                for (int ai = 0; ai < 3; ai++) {
                    bool tb = t == 0;
                    if (!clvae_tiled_valid(&variants[v], false, tb)) continue;
                    gemm_case g = cases[i];
                    clvae_act act = (clvae_act)acts[ai];
                    int ldb = tb ? g.k : g.n;
                    twin a = twin_rand((size_t)g.m * g.k, -1, 1);
                    twin b = twin_rand((size_t)g.k * g.n, -1, 1), bias = twin_rand(g.n, -1, 1);
                    twin y = twin_const((size_t)g.m * g.n, NAN);
                    twin y2 = twin_const((size_t)g.m * g.n, NAN);
                    for (side = 0; side < 2; side++) {
                        const clvae_backend_ops *o = BE(side)->ops;
                        void *c = BE(side)->ctx;
                        if (side == 1)
                            RUN(o->gemm_bias_act(c, false, tb, g.m, g.n, g.k, V(a), g.k, V(b),
                                                 ldb, act, V(bias), V(y)));
                        twin *dst = side == 1 ? &y2 : &y;
                        RUN(o->gemm(c, false, tb, g.m, g.n, g.k, 1.0f, V(a), g.k, V(b), ldb, 0.0f,
                                    view_of(dst, side), g.n));
                        RUN(o->bias_act(c, act, g.m, g.n, V(bias), view_of(dst, side)));
                    }
                    char shape[96], name[48];
                    clvae_tiled_format(&variants[v], name, sizeof name);
                    snprintf(shape, sizeof shape, "%dx%dx%d N%c %s %s", g.m, g.n, g.k,
                             tb ? 'T' : 'N', act_names[act], name);
                    compare(&y, "gemm_bias_act", shape, TOL_GEMM);
                    float *f[2], *u[2];
                    twin_download(&y, f);
                    twin_download(&y2, u);
                    /* Tolerance 0: the same products, sum and expressions as the two ops. */
                    CHECK(!memcmp(f[1], u[1], ((size_t)g.m * g.n + OFF + GUARD) * sizeof(float)),
                          "gemm_bias_act %s on %s differs from gemm + bias_act", shape, E.label);
                    for (int k = 0; k < 2; k++) {
                        free(f[k]);
                        free(u[k]);
                    }
                    twin_free(&a);
                    twin_free(&b);
                    twin_free(&bias);
                    twin_free(&y);
                    twin_free(&y2);
                    side = 1;
                }
    }
    RUN(clvae_opencl_gemm_force(&E.dev, NULL));
}

/* ---- activations and column sums ------------------------------------------------------------ */

static void test_bias_act(void)
{
    int ns;
    const dims2 *s = shapes2(&ns);
    for (int i = 0; i < ns; i++)
        for (int act = 0; act < 4; act++) {
            int r = s[i].rows, c = s[i].cols;
            twin y = twin_rand((size_t)r * c, -4, 4), bias = twin_rand(c, -1, 1);
            for (int side = 0; side < 2; side++)
                RUN(BE(side)->ops->bias_act(BE(side)->ctx, act, r, c, V(bias), V(y)));
            char shape[64];
            snprintf(shape, sizeof shape, "%dx%d %s", r, c, act_names[act]);
            bool exact = act == CLVAE_ACT_RELU || act == CLVAE_ACT_IDENTITY;
            compare(&y, "bias_act", shape, exact ? TOL_EXACT : TOL_TRANSC);
            twin_free(&y);
            twin_free(&bias);
        }
}

/* y as an activation would have produced it (relu zeros, tanh in (-1,1), softplus > 0). */
static float act_output(int act, float x)
{
    switch (act) {
    case CLVAE_ACT_RELU: return x > 0 ? x : 0.0f;
    case CLVAE_ACT_TANH: return tanhf(x);
    case CLVAE_ACT_SOFTPLUS: return log1pf(expf(x));
    default: return x;
    }
}

static void test_act_bwd(void)
{
    int ns;
    const dims2 *s = shapes2(&ns);
    for (int i = 0; i < ns; i++)
        for (int act = 0; act < 4; act++) {
            size_t n = (size_t)s[i].rows * s[i].cols;
            float *yh = malloc(n * sizeof *yh);
            for (size_t j = 0; j < n; j++)
                yh[j] = act_output(act, frand(-3, 3));
            twin y = twin_from(yh, n), dy = twin_rand(n, -1, 1);
            for (int side = 0; side < 2; side++)
                RUN(BE(side)->ops->act_bwd(BE(side)->ctx, act, s[i].rows, s[i].cols, V(y), V(dy)));
            char shape[64];
            snprintf(shape, sizeof shape, "%dx%d %s", s[i].rows, s[i].cols, act_names[act]);
            compare(&dy, "act_bwd", shape, act == CLVAE_ACT_SOFTPLUS ? TOL_TRANSC : TOL_EXACT);
            twin_free(&y);
            twin_free(&dy);
            free(yh);
        }
}

static void test_col_sum(void)
{
    int ns;
    const dims2 *s = shapes2(&ns);
    for (int i = 0; i < ns; i++) {
        int r = s[i].rows, c = s[i].cols;
        twin x = twin_rand((size_t)r * c, -1, 1), out = twin_rand(c, -1, 1);
        for (int side = 0; side < 2; side++)
            RUN(BE(side)->ops->col_sum(BE(side)->ctx, r, c, V(x), V(out)));
        char shape[64];
        snprintf(shape, sizeof shape, "%dx%d", r, c);
        compare(&out, "col_sum", shape, TOL_REDUCE);
        twin_free(&x);
        twin_free(&out);
    }
}

/* act_bwd_col_sum: vs the reference, and on the device bit for bit what act_bwd followed by
 * col_sum computes (the fusion must not change a training step's numbers). */
static void test_act_bwd_col_sum(void)
{
    int ns;
    const dims2 *s = shapes2(&ns);
    for (int i = 0; i < ns; i++)
        for (int act = 0; act < 4; act++) {
            int r = s[i].rows, c = s[i].cols;
            size_t n = (size_t)r * c;
            float *yh = malloc(n * sizeof *yh), *dyh = malloc(n * sizeof *dyh);
            for (size_t j = 0; j < n; j++) {
                yh[j] = act_output(act, frand(-3, 3));
                dyh[j] = frand(-1, 1);
            }
            twin y = twin_from(yh, n), dy = twin_from(dyh, n), dy2 = twin_from(dyh, n);
            twin db = twin_rand(c, -1, 1), db2 = twin_rand(c, -1, 1);
            for (int side = 0; side < 2; side++) {
                RUN(BE(side)->ops->act_bwd_col_sum(BE(side)->ctx, act, r, c, V(y), V(dy), V(db)));
                RUN(BE(side)->ops->act_bwd(BE(side)->ctx, act, r, c, V(y), V(dy2)));
                RUN(BE(side)->ops->col_sum(BE(side)->ctx, r, c, V(dy2), V(db2)));
            }
            char shape[64];
            snprintf(shape, sizeof shape, "%dx%d %s", r, c, act_names[act]);
            compare(&dy, "act_bwd_col_sum.dy", shape,
                    act == CLVAE_ACT_SOFTPLUS ? TOL_TRANSC : TOL_EXACT);
            compare(&db, "act_bwd_col_sum.db", shape, TOL_REDUCE);
            float *a[2], *b[2], *e[2], *f[2];
            twin_download(&dy, a);
            twin_download(&dy2, b);
            twin_download(&db, e);
            twin_download(&db2, f);
            /* Tolerance 0: the same products and the same summation order as the two ops. */
            CHECK(!memcmp(a[1], b[1], (n + OFF + GUARD) * sizeof(float)) &&
                      !memcmp(e[1], f[1], ((size_t)c + OFF + GUARD) * sizeof(float)),
                  "act_bwd_col_sum %s on %s differs from act_bwd + col_sum", shape, E.label);
            for (int k = 0; k < 2; k++) {
                free(a[k]);
                free(b[k]);
                free(e[k]);
                free(f[k]);
            }
            twin_free(&y);
            twin_free(&dy);
            twin_free(&dy2);
            twin_free(&db);
            twin_free(&db2);
            free(yh);
            free(dyh);
        }
}

/* ---- reparameterization ---------------------------------------------------------------------- */

typedef struct sbr {
    int samples, batch, latent;
} sbr;

static const sbr sbr_full[] = {{1, 1, 1}, {3, 7, 5}, {1, 128, 20}, {2, 33, 7}, {5, 128, 20}};
static const sbr sbr_small[] = {{1, 1, 1}, {3, 7, 5}, {2, 5, 6}};

static void reparam_one(sbr c, bool given)
{
    int S = c.samples, B = c.batch, R = c.latent;
    size_t n = (size_t)S * B * R;
    twin heads = twin_rand((size_t)B * 2 * R, -2, 2), z = twin_rand(n, -1, 1);
    twin eps = given ? twin_rand(n, -2, 2) : twin_const(n, 0.0f), kl = twin_rand(B, -1, 1);
    for (int side = 0; side < 2; side++) {
        clvae_reparam_args a = {
            B,     S,        R,    1234567890123ull, 77,   CLVAE_STREAM_EPS_TRAIN,
            given, V(heads), V(z), V(eps),           V(kl), 0, 0};
        RUN(BE(side)->ops->reparam(BE(side)->ctx, &a));
    }
    char shape[64];
    snprintf(shape, sizeof shape, "S%d B%d R%d%s", S, B, R, given ? " eps_given" : "");
    if (!given) compare(&eps, "reparam.eps", shape, TOL_EPS);
    compare(&z, "reparam.z", shape, TOL_TRANSC);
    compare(&kl, "reparam.kl", shape, TOL_REDUCE);
    twin_free(&heads);
    twin_free(&z);
    twin_free(&eps);
    twin_free(&kl);
}

static void reparam_bwd_one(sbr c, float klw)
{
    int S = c.samples, B = c.batch, R = c.latent;
    size_t n = (size_t)S * B * R;
    twin heads = twin_rand((size_t)B * 2 * R, -2, 2), eps = twin_rand(n, -2, 2);
    twin dz = twin_rand(n, -1, 1), dh = twin_rand((size_t)B * 2 * R, -1, 1);
    for (int side = 0; side < 2; side++) {
        clvae_reparam_bwd_args a = {B, S, R, klw, V(heads), V(eps), V(dz), V(dh)};
        RUN(BE(side)->ops->reparam_bwd(BE(side)->ctx, &a));
    }
    char shape[64];
    snprintf(shape, sizeof shape, "S%d B%d R%d klw%.2f", S, B, R, klw);
    compare(&dh, "reparam_bwd", shape, TOL_TRANSC);
    twin_free(&heads);
    twin_free(&eps);
    twin_free(&dz);
    twin_free(&dh);
}

static void test_reparam(void)
{
    int count = E.small ? 3 : 5;
    const sbr *cases = E.small ? sbr_small : sbr_full;
    for (int i = 0; i < count; i++) {
        reparam_one(cases[i], false);
        reparam_one(cases[i], true);
        reparam_bwd_one(cases[i], 1.0f);
        reparam_bwd_one(cases[i], 0.25f);
    }
}

/* ---- likelihood -------------------------------------------------------------------------- */

typedef struct lik_case {
    int rows, batch, dim;
} lik_case;

static const lik_case lik_full[] = {
    {1, 1, 1}, {7, 7, 33}, {14, 7, 130}, {128, 128, 784}, {3, 1, 1000}};
static const lik_case lik_small[] = {{1, 1, 1}, {7, 7, 33}, {6, 3, 5}};
static const char *lik_names[] = {"bernoulli", "gaussian", "gauss-learned"};

/* Runs the likelihood on both sides; returns the loss twin (and the gradient in *dout). */
static void lik_run(const lik_case *c, int kind, bool grad, twin *out, twin *x, twin *loss,
                    twin *dout)
{
    for (int side = 0; side < 2; side++) {
        clvae_lik_args a = {kind,     c->rows,
                            c->batch, c->dim,
                            0.7f,     1.0f / c->batch,
                            V(*out),  V(*x),
                            V(*loss), grad ? V(*dout) : (clvae_view){NULL, 0}};
        RUN(BE(side)->ops->likelihood(BE(side)->ctx, &a));
    }
}

static void test_likelihood(void)
{
    int count = E.small ? 3 : 5;
    const lik_case *cases = E.small ? lik_small : lik_full;
    for (int i = 0; i < count; i++)
        for (int kind = 0; kind < 3; kind++)
            for (int grad = 0; grad < 2; grad++) {
                const lik_case *c = &cases[i];
                size_t ld = (size_t)c->dim * (kind == CLVAE_LIK_GAUSSIAN_LEARNED ? 2 : 1);
                twin out = twin_rand((size_t)c->rows * ld, -5, 5);
                twin x = twin_rand((size_t)c->batch * c->dim, 0, 1);
                twin loss = twin_rand(c->rows, -1, 1),
                     dout = twin_rand((size_t)c->rows * ld, -1, 1);
                lik_run(c, kind, grad, &out, &x, &loss, &dout);
                char shape[64];
                snprintf(shape, sizeof shape, "%s r%d b%d d%d%s", lik_names[kind], c->rows,
                         c->batch, c->dim, grad ? " +grad" : "");
                compare(&loss, "likelihood", shape, TOL_REDUCE);
                compare(&dout, "likelihood.d", shape, grad ? TOL_GRAD : TOL_EXACT);
                twin_free(&out);
                twin_free(&x);
                twin_free(&loss);
                twin_free(&dout);
            }
}

/* ---- sum_add, optimizer ------------------------------------------------------------------- */

static void test_sum_add(void)
{
    static const size_t sizes[] = {1, 7, 128, 130, 4097, 100003, 1000000};
    int count = E.small ? 4 : 7;
    for (int i = 0; i < count; i++) {
        size_t n = sizes[i];
        twin x = twin_rand(n, -1, 2), acc = twin_const(1, 1.5f);
        for (int side = 0; side < 2; side++) {
            RUN(BE(side)->ops->sum_add(BE(side)->ctx, n, V(x), 0.5f, V(acc)));
            RUN(BE(side)->ops->sum_add(BE(side)->ctx, n, V(x), -0.125f, V(acc)));
        }
        char shape[64];
        snprintf(shape, sizeof shape, "n=%zu", n);
        compare(&acc, "sum_add", shape, TOL_REDUCE);
        twin_free(&x);
        twin_free(&acc);
    }
}

static void optimizer_one(int kind, size_t n)
{
    twin p = twin_rand(n, -1, 1), g = twin_rand(n, -1, 1), m = twin_const(n, 0.0f);
    twin v = twin_const(n, 0.0f);
    float *gh = malloc(n * sizeof *gh);
    for (uint64_t t = 1; t <= 3; t++) {
        for (size_t i = 0; i < n; i++)
            gh[i] = frand(-1, 1) * (t == 2 ? 1e-3f : 1.0f);
        for (int side = 0; side < 2; side++) {
            clvae_opt_args a = {kind, n, 1e-3f, 0.9f, 0.999f, 1e-8f,
                                0.9f, t, V(p),  V(g), V(m),   V(v)};
            RUN(BE(side)->ops->upload(BE(side)->ctx, V(g), gh, n * sizeof *gh));
            RUN(BE(side)->ops->optimizer(BE(side)->ctx, &a));
        }
    }
    char shape[64];
    snprintf(shape, sizeof shape, "%s n=%zu t=3", kind == CLVAE_OPT_ADAM ? "adam" : "sgd", n);
    double tol = kind == CLVAE_OPT_ADAM ? TOL_OPT : TOL_EXACT;
    compare(&p, "optimizer.p", shape, tol);
    compare(&m, "optimizer.m", shape, tol);
    if (kind == CLVAE_OPT_ADAM) compare(&v, "optimizer.v", shape, tol);
    free(gh);
    twin_free(&p);
    twin_free(&g);
    twin_free(&m);
    twin_free(&v);
}

static void test_optimizer(void)
{
    static const size_t sizes[] = {1, 33, 130, 300007};
    for (int i = 0; i < (E.small ? 3 : 4); i++) {
        optimizer_one(CLVAE_OPT_ADAM, sizes[i]);
        optimizer_one(CLVAE_OPT_SGD, sizes[i]);
    }
}

/* ---- determinism: the same inputs twice give the same bits on one device ------------------ */

static void download_dev(const twin *t, float *dst)
{
    int st = E.dev.ops->download(E.dev.ctx, view_of(t, 1), dst, t->n * sizeof(float));
    CHECK(st == 0, "download: %s", clvae_last_error());
}

static void test_determinism(void)
{
    size_t n = E.small ? 2000 : 100003;
    lik_case c = E.small ? (lik_case){6, 3, 50} : (lik_case){128, 128, 784};
    twin x = twin_rand(n, -1, 1), acc = twin_const(1, 0.0f);
    twin out = twin_rand((size_t)c.rows * c.dim, -5, 5),
         xt = twin_rand((size_t)c.batch * c.dim, 0, 1);
    twin loss = twin_const(c.rows, 0.0f), dout = twin_const((size_t)c.rows * c.dim, 0.0f);
    float a[2], *l[2] = {malloc(c.rows * sizeof(float)), malloc(c.rows * sizeof(float))};
    for (int run = 0; run < 2; run++) {
        int side = 1;
        RUN(E.dev.ops->fill(E.dev.ctx, V(acc), 1, 0.0f));
        RUN(E.dev.ops->sum_add(E.dev.ctx, n, V(x), 1.0f, V(acc)));
        clvae_lik_args la = {CLVAE_LIK_BERNOULLI,
                             c.rows,
                             c.batch,
                             c.dim,
                             1.0f,
                             1.0f,
                             V(out),
                             V(xt),
                             V(loss),
                             V(dout)};
        RUN(E.dev.ops->likelihood(E.dev.ctx, &la));
        download_dev(&acc, &a[run]);
        download_dev(&loss, l[run]);
    }
    bool same = !memcmp(&a[0], &a[1], sizeof(float)) && !memcmp(l[0], l[1], c.rows * sizeof(float));
    printf("%-14s %-12s %-30s %s\n", "determinism", E.label, "sum_add + likelihood x2",
           same ? "bit-identical ok" : "FAIL (results differ)");
    CHECK(same, "two identical runs differ on %s", E.label);
    free(l[0]);
    free(l[1]);
    twin_free(&x);
    twin_free(&acc);
    twin_free(&out);
    twin_free(&xt);
    twin_free(&loss);
    twin_free(&dout);
}

/* ---- driver ---------------------------------------------------------------------------------- */

static void run_all(cl_device_id device)
{
    test_fill_copy();
    test_gather();
    test_bias_act();
    test_act_bwd();
    test_col_sum();
    test_act_bwd_col_sum();
    test_reparam();
    test_likelihood();
    test_sum_add();
    test_optimizer();
    test_gemm();
    test_gemm_tiled();
    test_gemm_bias_act();
    test_determinism();
    test_stoch_ops();
    test_gumbel_ops();
    test_onehot();
    test_conv_ops();
    test_gemm_indirect(device); /* last: the override stays for this device */
    int side = 1;
    RUN(E.dev.ops->finish(E.dev.ctx));
    for (int op = 0; op < CLVAE_OP_COUNT; op++)
        CHECK(E.dev.ops->supports(E.dev.ctx, op), "op %d unsupported on %s", op, E.label);
}

/* "portable" from "Portable Computing Language", with the device index. */
static void make_label(const clvae_ocl_device *d, char *buf, size_t size)
{
    char word[16];
    size_t i = 0;
    for (; d->platform_name[i] && d->platform_name[i] != ' ' && i < sizeof word - 1; i++)
        word[i] = (char)tolower((unsigned char)d->platform_name[i]);
    word[i] = '\0';
    snprintf(buf, size, "%s:%d", word, d->device_index);
}

static bool platform_present(const clvae_ocl_inventory *inv, const char *a, const char *b)
{
    for (int i = 0; i < inv->n_devices; i++) {
        char name[512];
        snprintf(name, sizeof name, "%s %s", inv->devices[i].platform_name,
                 inv->devices[i].platform_vendor);
        for (char *p = name; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        if (strstr(name, a) || (b && strstr(name, b))) return true;
    }
    return false;
}

static int test_device(const clvae_ocl_device *d)
{
    clvae_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.device.backend = CLVAE_BACKEND_OPENCL;
    snprintf(cfg.device.platform, sizeof cfg.device.platform, "%d", d->platform_index);
    snprintf(cfg.device.device, sizeof cfg.device.device, "%d", d->device_index);
    make_label(d, E.label, sizeof E.label);
    int st = clvae_opencl_backend_create(&cfg, &E.dev);
    CHECK(st == 0, "backend on %s: %s", d->name, clvae_last_error());
    if (st) return 0;
    printf("== device %s: %s (%s)\n", E.label, E.dev.ops->device_name(E.dev.ctx), d->version);
    run_all(d->id);
    clvae_backend_free(&E.dev);
    return 1;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);      /* table lines stay whole among stderr logs */
    setenv("RUSTICL_ENABLE", "swrast", 1); /* rusticl lists llvmpipe only with this */
    const char *small = getenv("CLVAE_TEST_SMALL"), *only = getenv("CLVAE_TEST_PLATFORM");
    E.small = small && *small && strcmp(small, "0");
    clvae_ocl_inventory inv;
    if (clvae_ocl_inventory_init(&inv) != 0) {
        printf("SKIP: OpenCL inventory failed: %s\n", clvae_last_error());
        return TU_SKIP;
    }
    if (!platform_present(&inv, "portable", "pocl")) printf("SKIP device pocl: not present\n");
    if (!platform_present(&inv, "rusticl", NULL)) printf("SKIP device rusticl: not present\n");
    int tested = 0;
    if (clvae_ref_backend_create(&E.ref) != 0) return 1;
    for (int i = 0; i < inv.n_devices; i++) {
        const clvae_ocl_device *d = &inv.devices[i];
        char pname[256];
        snprintf(pname, sizeof pname, "%s", d->platform_name);
        for (char *p = pname; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        if (only && *only && !strstr(pname, only)) continue;
        if (!d->usable) {
            printf("SKIP device %s: %s\n", d->name, d->why);
            continue;
        }
        tested += test_device(d);
    }
    clvae_backend_free(&E.ref);
    clvae_ocl_inventory_free(&inv);
    if (!tested && !tu_failures) {
        printf("SKIP: no usable OpenCL device\n");
        return TU_SKIP;
    }
    return tu_finish("test_ops");
}

#else
int main(void)
{
    printf("SKIP: built without OpenCL\n");
    return TU_SKIP;
}
#endif
