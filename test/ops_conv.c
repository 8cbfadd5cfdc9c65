/* The convolutional-net ops (backend.h "Convolutional nets") on the device under test against
 * the reference backend, part of test_ops: im2col and col2im (beta 0 and 1) at edge geometries
 * (stride 1 and 2, padding, dilation 2, a rectangular 3x2 kernel, a ConvTranspose2d output whose
 * last row and column get fewer taps, a 1x1 kernel at stride 2 and a stride above the kernel
 * whose skipped pixels get no taps at all, B = 1, C = 1, odd sizes), the adjoint identity
 * <im2col(x), y> = <x, col2im(y)> on the device alone, the NCHW <-> NHWC transpose, leaky_relu
 * forward and backward, the sum of squared deviations up to 100k rows, batch norm forward in
 * training (running statistics updated) and evaluation with every activation, its backward sums
 * and backward (dx aliasing dy too), and bit-identical reruns of the two reductions; the direct
 * (column-free) conv products at the same geometries. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_twin.h"

/* ---- tolerances (normalized MSE vs the reference) ----------------------------------------- */
/* im2col, the transpose and leaky_relu only copy, compare, multiply by the slope or add the
 * bias (no contraction): bit-identical on every device. */
#define TOL_C_EXACT 0.0
/* col2im sums at most KH*KW column entries per pixel, maybe in another order than the
 * reference: a few ulp per pixel, nmse ~1e-15; 1e-12 still fails one missed or doubled tap
 * (nmse ~1e-2). */
#define TOL_C_SUM 1e-12
/* Column reductions: float chunks on the device vs the reference's sums over up to 100k rows:
 * ~sqrt(n) ulp relative, nmse ~1e-13 measured; 1e-10 as for col_sum in test_ops. */
#define TOL_C_REDUCE 1e-10
/* Batch norm: 1/sqrt and divides (correctly rounded only where the device offers it, else up
 * to 3 ulp) and tanh/softplus (a few ulp) inside otherwise identical float expressions:
 * nmse ~1e-14; 1e-10 as for the transcendental ops. */
#define TOL_C_BN 1e-10
/* The adjoint identity in double over float results: the two dot products differ by the float
 * rounding of the col2im sums, a few ulp of sum |x_i col2im(y)_i| (which scales the difference;
 * the dot products themselves may cancel); a missed tap is ~1e-2 of it. */
#define TOL_C_ADJOINT 1e-6

/* The direct (column-free) conv products: sums of up to C*KH*KW (forward), KH*KW*O (dx) or
 * B*OH*OW (dW, in row chunks) products in another order than the reference's double sums:
 * nmse ~1e-14 measured; 1e-10 as the other reductions, while one missed tap or channel is
 * ~1e-2. */
#define TOL_C_DIRECT 1e-10

typedef struct geom_case {
    int b, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw;
} geom_case;

/* OH/OW follow from the rest (backend.h). */
static const geom_case geoms_full[] = {
    {2, 3, 7, 6, 3, 3, 1, 1, 1, 1, 1, 1},  /* "same" conv, odd sizes */
    {2, 4, 8, 8, 4, 4, 2, 2, 1, 1, 1, 1},  /* dcgan: 4x4 stride 2 pad 1 */
    {1, 1, 9, 7, 3, 2, 2, 1, 0, 1, 2, 2},  /* rectangular 3x2, dilation 2, B = C = 1 */
    {3, 2, 8, 5, 3, 3, 2, 2, 1, 1, 1, 1},  /* convT output padding 1: row 7 / col 4 fewer taps */
    {2, 5, 7, 7, 1, 1, 2, 2, 0, 0, 1, 1},  /* 1x1 stride 2: odd pixels get no taps */
    {1, 2, 5, 5, 2, 3, 3, 3, 2, 2, 1, 1},  /* stride 3 > kernel, padding 2 */
    {4, 16, 14, 14, 4, 4, 2, 2, 1, 1, 1, 1}, /* dcgan28's second conv at batch 4 */
    {2, 3, 16, 16, 3, 3, 2, 2, 1, 1, 2, 2}, /* dilation 2 with stride 2 and padding */
};
static const geom_case geoms_small[] = {
    {2, 3, 7, 6, 3, 3, 1, 1, 1, 1, 1, 1},
    {1, 1, 9, 7, 3, 2, 2, 1, 0, 1, 2, 2},
    {3, 2, 8, 5, 3, 3, 2, 2, 1, 1, 1, 1},
    {2, 5, 7, 7, 1, 1, 2, 2, 0, 0, 1, 1},
};

static clvae_conv_geom make_geom(geom_case k)
{
    clvae_conv_geom g = {.batch = k.b, .channels = k.c, .height = k.h, .width = k.w,
                         .k_h = k.kh, .k_w = k.kw, .stride_h = k.sh, .stride_w = k.sw,
                         .pad_h = k.ph, .pad_w = k.pw, .dil_h = k.dh, .dil_w = k.dw};
    g.out_h = (k.h + 2 * k.ph - k.dh * (k.kh - 1) - 1) / k.sh + 1;
    g.out_w = (k.w + 2 * k.pw - k.dw * (k.kw - 1) - 1) / k.sw + 1;
    return g;
}

static size_t n_img(const clvae_conv_geom *g)
{
    return (size_t)g->batch * g->height * g->width * g->channels;
}

static size_t n_col(const clvae_conv_geom *g)
{
    return (size_t)g->batch * g->out_h * g->out_w * g->channels * g->k_h * g->k_w;
}

/* The device's <a, b> in double; *mag = sum |a_i b_i| (the scale of its rounding). */
static double dot_dev(const twin *a, const twin *b, double *mag)
{
    float *ga[2], *gb[2];
    twin_download(a, ga);
    twin_download(b, gb);
    double s = 0;
    *mag = 0;
    for (size_t i = 0; i < a->n; i++) {
        double t = (double)ga[1][OFF + i] * gb[1][OFF + i];
        s += t;
        *mag += fabs(t);
    }
    for (int side = 0; side < 2; side++) {
        free(ga[side]);
        free(gb[side]);
    }
    return s;
}

/* im2col of random x into cols (pre-filled with garbage), col2im of random y into img with
 * beta 0 (garbage before) and beta 1, then the adjoint identity on the device. */
static void conv_geom_one(geom_case k)
{
    clvae_conv_geom g = make_geom(k);
    char shape[64];
    snprintf(shape, sizeof shape, "B%d C%d %dx%d k%dx%d s%d,%d p%d,%d d%d,%d", k.b, k.c, k.h, k.w,
             k.kh, k.kw, k.sh, k.sw, k.ph, k.pw, k.dh, k.dw);
    twin x = twin_rand(n_img(&g), -1, 1), cols = twin_rand(n_col(&g), -9, 9);
    twin y = twin_rand(n_col(&g), -1, 1), img = twin_rand(n_img(&g), -9, 9);
    twin acc = twin_rand(n_img(&g), -1, 1);
    for (int side = 0; side < 2; side++) {
        clvae_backend *be = BE(side);
        RUN(be->ops->im2col(be->ctx, &g, V(x), V(cols)));
        RUN(be->ops->col2im(be->ctx, &g, V(y), 0.0f, V(img)));
        RUN(be->ops->col2im(be->ctx, &g, V(y), 1.0f, V(acc)));
    }
    compare(&cols, "im2col", shape, TOL_C_EXACT);
    compare(&img, "col2im", shape, TOL_C_SUM);
    compare(&acc, "col2im(beta1)", shape, TOL_C_SUM);
    double ma, mb, a = dot_dev(&cols, &y, &ma), b = dot_dev(&x, &img, &mb);
    double rel = fabs(a - b) / fmax(fmax(ma, mb), 1e-30);
    bool ok = rel <= TOL_C_ADJOINT;
    printf("%-14s %-12s %-30s rel %9.2e  tol %7.1e  %s\n", "conv.adjoint", E.label, shape, rel,
           TOL_C_ADJOINT, ok ? "ok" : "FAIL");
    CHECK(ok, "im2col/col2im %s on %s: <im2col x, y> %.9g != <x, col2im y> %.9g", shape, E.label,
          a, b);
    twin_free(&x);
    twin_free(&cols);
    twin_free(&y);
    twin_free(&img);
    twin_free(&acc);
}

static void download_dev_bits(const twin *t, float *dst);

/* conv_direct, conv_direct_dx and conv_direct_dw (twice: the same bits) with O column
 * channels; outputs pre-filled with garbage (they overwrite). */
static void conv_direct_one(geom_case k, int o)
{
    clvae_conv_geom g = make_geom(k);
    char shape[80];
    snprintf(shape, sizeof shape, "B%d C%d %dx%d k%dx%d s%d,%d p%d,%d d%d,%d O%d", k.b, k.c, k.h,
             k.w, k.kh, k.kw, k.sh, k.sw, k.ph, k.pw, k.dh, k.dw, o);
    size_t ncol = (size_t)g.batch * g.out_h * g.out_w * o, nw = (size_t)o * k.c * k.kh * k.kw;
    twin x = twin_rand(n_img(&g), -1, 1), w = twin_rand(nw, -1, 1), dy = twin_rand(ncol, -1, 1);
    twin y = twin_rand(ncol, -9, 9), dx = twin_rand(n_img(&g), -9, 9), dw = twin_rand(nw, -9, 9);
    float *bits[2] = {malloc(nw * sizeof(float)), malloc(nw * sizeof(float))};
    for (int side = 0; side < 2; side++) {
        clvae_backend *be = BE(side);
        RUN(be->ops->conv_direct(be->ctx, &g, o, V(x), V(w), V(y)));
        RUN(be->ops->conv_direct_dx(be->ctx, &g, o, V(dy), V(w), V(dx)));
    }
    for (int run = 0; run < 2; run++) {
        for (int side = run; side < 2; side++)
            RUN(BE(side)->ops->conv_direct_dw(BE(side)->ctx, &g, o, V(x), V(dy), V(dw)));
        download_dev_bits(&dw, bits[run]);
    }
    compare(&y, "conv_direct", shape, TOL_C_DIRECT);
    compare(&dx, "conv_direct_dx", shape, TOL_C_DIRECT);
    compare(&dw, "conv_direct_dw", shape, TOL_C_DIRECT);
    CHECK(!memcmp(bits[0], bits[1], nw * sizeof(float)), "conv_direct_dw %s on %s: reruns differ",
          shape, E.label);
    free(bits[0]);
    free(bits[1]);
    twin_free(&x);
    twin_free(&w);
    twin_free(&dy);
    twin_free(&y);
    twin_free(&dx);
    twin_free(&dw);
}

/* Every geometry with 3 column channels (an RGB image), plus channel counts around the vector
 * width (37: vectors and a tail; 1), in full runs a map tall enough for 64 row chunks, and image
 * sides narrower than the column side (dx then runs in vectors over the column channels). */
static void test_conv_direct(void)
{
    static const geom_case extra[] = {
        {2, 37, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1},   /* vanilla64's last conv, 37 channels */
        {1, 1, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1},    /* one channel */
        {64, 5, 64, 5, 3, 3, 1, 1, 1, 1, 1, 1},  /* 4096 output rows: 64 chunks */
        {2, 1, 14, 14, 4, 4, 2, 2, 1, 1, 1, 1},  /* C 1 < O 32 (a ConvTranspose2d to 1 channel) */
        {1, 3, 9, 9, 3, 3, 2, 2, 1, 1, 1, 1},    /* C 3 < O 37: dx in vectors over O, a tail */
    };
    int count = E.small ? 4 : 8;
    for (int i = 0; i < count; i++) conv_direct_one(E.small ? geoms_small[i] : geoms_full[i], 3);
    conv_direct_one(extra[0], 3);
    conv_direct_one(extra[1], 1);
    if (!E.small) conv_direct_one(extra[2], 2);
    conv_direct_one(extra[3], 32);
    conv_direct_one(extra[4], 37);
}

static void test_transpose(void)
{
    static const int cases[][3] = {{1, 1, 1}, {3, 5, 49}, {2, 784, 1}, {4, 3, 4096}, {2, 33, 17}};
    int count = E.small ? 3 : 5;
    for (int i = 0; i < count; i++) {
        int b = cases[i][0], r = cases[i][1], c = cases[i][2];
        size_t n = (size_t)b * r * c;
        twin src = twin_rand(n, -1, 1), dst = twin_rand(n, -9, 9);
        for (int side = 0; side < 2; side++)
            RUN(BE(side)->ops->batch_transpose(BE(side)->ctx, b, r, c, V(src), V(dst)));
        char shape[64];
        snprintf(shape, sizeof shape, "B%d %dx%d", b, r, c);
        compare(&dst, "batch_transpose", shape, TOL_C_EXACT);
        twin_free(&src);
        twin_free(&dst);
    }
}

static const struct {
    int rows, cols;
} rc_full[] = {{1, 1}, {7, 33}, {98, 64}, {392, 3}, {50, 130}},
  rc_small[] = {{1, 1}, {7, 33}, {33, 7}};

static void test_leaky(void)
{
    static const float slopes[] = {0.01f, 0.2f};
    int count = E.small ? 3 : 5;
    for (int i = 0; i < count; i++)
        for (int s = 0; s < 2; s++) {
            int rows = E.small ? rc_small[i].rows : rc_full[i].rows;
            int cols = E.small ? rc_small[i].cols : rc_full[i].cols;
            size_t n = (size_t)rows * cols;
            twin y = twin_rand(n, -2, 2), bias = twin_rand(cols, -1, 1);
            twin dy = twin_rand(n, -1, 1);
            for (int side = 0; side < 2; side++) {
                clvae_backend *be = BE(side);
                RUN(be->ops->bias_leaky(be->ctx, slopes[s], rows, cols, V(bias), V(y)));
                RUN(be->ops->leaky_bwd(be->ctx, slopes[s], rows, cols, V(y), V(dy)));
            }
            char shape[64];
            snprintf(shape, sizeof shape, "%dx%d slope %g", rows, cols, slopes[s]);
            compare(&y, "bias_leaky", shape, TOL_C_EXACT);
            compare(&dy, "leaky_bwd", shape, TOL_C_EXACT);
            twin_free(&y);
            twin_free(&bias);
            twin_free(&dy);
        }
}

/* Host sums (2C) [sum x | sum (x - mean)^2] of x (rows, C) in double, for bn_fwd's input. */
static float *host_sums(const float *x, int rows, int C)
{
    float *s = calloc(2 * (size_t)C, sizeof *s);
    for (int c = 0; c < C; c++) {
        double m = 0, v = 0;
        for (int r = 0; r < rows; r++) m += x[(size_t)r * C + c];
        double mean = m / rows;
        for (int r = 0; r < rows; r++) {
            double d = x[(size_t)r * C + c] - mean;
            v += d * d;
        }
        s[c] = (float)m;
        s[C + c] = (float)v;
    }
    return s;
}

/* Random x (rows, C) around per-channel offsets up to +-50 (the one-pass sum of squares
 * would cancel there; the deviations from the mean must not). */
static float *bn_input(int rows, int C)
{
    float *h = malloc((size_t)rows * C * sizeof *h), off[64];
    for (int c = 0; c < C && c < 64; c++) off[c] = frand(-50, 50);
    for (size_t i = 0; i < (size_t)rows * C; i++) h[i] = off[i % C % 64] + frand(-2, 2);
    return h;
}

static void download_dev_bits(const twin *t, float *dst)
{
    int st = E.dev.ops->download(E.dev.ctx, view_of(t, 1), dst, t->n * sizeof(float));
    CHECK(st == 0, "download: %s", clvae_last_error());
}

/* col_sq_dev on the host's column sums, run twice on the device: the same bits. */
static void col_sq_dev_one(int rows, int C)
{
    float *h = bn_input(rows, C), *s = host_sums(h, rows, C);
    twin x = twin_from(h, (size_t)rows * C), sum = twin_from(s, C), out = twin_rand(C, -9, 9);
    float *bits[2] = {malloc(C * sizeof(float)), malloc(C * sizeof(float))};
    for (int run = 0; run < 2; run++) {
        for (int side = run; side < 2; side++)
            RUN(BE(side)->ops->col_sq_dev(BE(side)->ctx, rows, C, V(x), V(sum), (float)rows,
                                           V(out)));
        download_dev_bits(&out, bits[run]);
    }
    char shape[64];
    snprintf(shape, sizeof shape, "%dx%d", rows, C);
    compare(&out, "col_sq_dev", shape, TOL_C_REDUCE);
    CHECK(!memcmp(bits[0], bits[1], C * sizeof(float)), "col_sq_dev %s on %s: reruns differ",
          shape, E.label);
    free(bits[0]);
    free(bits[1]);
    free(h);
    free(s);
    twin_free(&x);
    twin_free(&sum);
    twin_free(&out);
}

static const char *bn_act_name(clvae_act act)
{
    static const char *names[] = {"relu", "tanh", "softplus", "identity", "leaky0.2"};
    return names[act];
}

/* bn_fwd in training (xhat written, running statistics updated) or evaluation (xhat NULL). */
static void bn_fwd_one(int rows, int C, bool training, clvae_act act)
{
    size_t n = (size_t)rows * C;
    float *h = bn_input(rows, C), *s = host_sums(h, rows, C);
    twin x = twin_from(h, n), sums = twin_from(s, 2 * (size_t)C);
    twin gamma = twin_rand(C, 0.5f, 1.5f), beta = twin_rand(C, -0.5f, 0.5f);
    twin rm = twin_rand(C, -1, 1), rv = twin_rand(C, 0.5f, 2), invstd = twin_rand(C, -9, 9);
    twin xhat = twin_rand(n, -9, 9), y = twin_rand(n, -9, 9);
    for (int side = 0; side < 2; side++) {
        clvae_bn_fwd_args a = {.rows = rows, .channels = C, .count = (float)rows, .eps = 1e-5f,
                               .momentum = 0.1f, .slope = 0.2f, .training = training,
                               .act = act, .x = V(x), .gamma = V(gamma), .beta = V(beta),
                               .running_mean = V(rm), .running_var = V(rv),
                               .invstd = V(invstd), .y = V(y)};
        if (training) {
            a.sums = V(sums);
            a.xhat = V(xhat);
        }
        RUN(BE(side)->ops->bn_fwd(BE(side)->ctx, &a));
    }
    char shape[64];
    snprintf(shape, sizeof shape, "%dx%d %s %s", rows, C, training ? "train" : "eval",
             bn_act_name(act));
    compare(&y, "bn_fwd.y", shape, TOL_C_BN);
    compare(&invstd, "bn_fwd.invstd", shape, TOL_C_BN);
    compare(&xhat, "bn_fwd.xhat", shape, training ? TOL_C_BN : TOL_C_EXACT);
    compare(&rm, "bn_fwd.rmean", shape, training ? TOL_C_BN : TOL_C_EXACT);
    compare(&rv, "bn_fwd.rvar", shape, training ? TOL_C_BN : TOL_C_EXACT);
    free(h);
    free(s);
    twin_free(&x);
    twin_free(&sums);
    twin_free(&gamma);
    twin_free(&beta);
    twin_free(&rm);
    twin_free(&rv);
    twin_free(&invstd);
    twin_free(&xhat);
    twin_free(&y);
}

/* bn_bwd_sums (twice on the device: the same bits), then bn_bwd from the reference's sums
 * into a separate dx and in place over dy. */
static void bn_bwd_one(int rows, int C)
{
    size_t n = (size_t)rows * C;
    twin dy = twin_rand(n, -1, 1), xhat = twin_rand(n, -2, 2), gamma = twin_rand(C, 0.5f, 1.5f);
    twin invstd = twin_rand(C, 0.2f, 3), sums = twin_rand(2 * (size_t)C, -9, 9);
    twin dx = twin_rand(n, -9, 9);
    float *bits[2] = {malloc(2 * C * sizeof(float)), malloc(2 * C * sizeof(float))};
    clvae_bn_bwd_args a[2];
    for (int side = 0; side < 2; side++)
        a[side] = (clvae_bn_bwd_args){.rows = rows, .channels = C, .count = (float)rows,
                                      .dy = V(dy), .xhat = V(xhat), .gamma = V(gamma),
                                      .invstd = V(invstd), .sums = V(sums), .dx = V(dx)};
    for (int run = 0; run < 2; run++) {
        for (int side = run; side < 2; side++)
            RUN(BE(side)->ops->bn_bwd_sums(BE(side)->ctx, &a[side]));
        download_dev_bits(&sums, bits[run]);
    }
    char shape[64];
    snprintf(shape, sizeof shape, "%dx%d", rows, C);
    compare(&sums, "bn_bwd_sums", shape, TOL_C_REDUCE);
    CHECK(!memcmp(bits[0], bits[1], 2 * C * sizeof(float)), "bn_bwd_sums %s on %s: reruns differ",
          shape, E.label);
    /* The device's bn_bwd from the reference's sums (no reduction error carried over). */
    float *got[2];
    twin_download(&sums, got);
    int side = 1;
    RUN(E.dev.ops->upload(E.dev.ctx, V(sums), got[0] + OFF, 2 * C * sizeof(float)));
    for (side = 0; side < 2; side++) RUN(BE(side)->ops->bn_bwd(BE(side)->ctx, &a[side]));
    compare(&dx, "bn_bwd", shape, TOL_C_BN);
    for (side = 0; side < 2; side++) {
        a[side].dx = V(dy);
        RUN(BE(side)->ops->bn_bwd(BE(side)->ctx, &a[side]));
    }
    compare(&dy, "bn_bwd(dx=dy)", shape, TOL_C_BN);
    free(got[0]);
    free(got[1]);
    free(bits[0]);
    free(bits[1]);
    twin_free(&dy);
    twin_free(&xhat);
    twin_free(&gamma);
    twin_free(&invstd);
    twin_free(&sums);
    twin_free(&dx);
}

static void test_bn(void)
{
    static const int full[][2] = {{2, 1}, {7, 3}, {98, 33}, {1568, 64}, {100003, 3}};
    static const int small[][2] = {{2, 1}, {7, 3}, {130, 5}};
    int count = E.small ? 3 : 5;
    for (int i = 0; i < count; i++) {
        int rows = E.small ? small[i][0] : full[i][0], C = E.small ? small[i][1] : full[i][1];
        col_sq_dev_one(rows, C);
        bn_bwd_one(rows, C);
        for (int act = CLVAE_ACT_RELU; act <= CLVAE_ACT_LEAKY_RELU; act++) {
            if (rows > 2000 && act != CLVAE_ACT_LEAKY_RELU) continue; /* time: one act there */
            bn_fwd_one(rows, C, true, (clvae_act)act);
            bn_fwd_one(rows, C, false, (clvae_act)act);
        }
    }
}

void test_conv_ops(void)
{
    int count = E.small ? 4 : 8;
    for (int i = 0; i < count; i++) conv_geom_one(E.small ? geoms_small[i] : geoms_full[i]);
    test_conv_direct();
    test_transpose();
    test_leaky();
    test_bn();
}
