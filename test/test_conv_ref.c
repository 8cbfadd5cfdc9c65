/* The reference backend's convolutional-net ops (backend.h, "Convolutional nets") against direct
 * definitions in double: Conv2d and ConvTranspose2d forward and backward composed from im2col,
 * gemm and col2im as the model composes them, against naive NCHW loops (stride, padding,
 * dilation, rectangular kernels, output padding); col2im as im2col's adjoint; the NCHW <-> NHWC
 * transpose; leaky ReLU; BatchNorm2d's statistics, both modes, and its backward against central
 * differences; the direct (column-free) Conv2d ops against the same naive loops. This is the
 * oracle the OpenCL kernels are compared with, so it is checked here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "fdcheck.h"
#include "testutil.h"

/* Float sums of at most a few hundred products of values in [-1, 1], against double: each term
 * rounds at ~6e-8 relative; measured at most 2.1e-7 on the scale of the tensor. */
#define TOL_CONV 2e-6

typedef struct conv_case {
    const char *name;
    bool transposed;
    int batch, in_c, in_h, in_w, out_c, k_h, k_w, s_h, s_w, p_h, p_w, d_h, d_w, o_h, o_w;
} conv_case;

static int conv_out(int in, int k, int s, int p, int d)
{
    return (in + 2 * p - d * (k - 1) - 1) / s + 1;
}

static int convt_out(int in, int k, int s, int p, int d, int o)
{
    return (in - 1) * s - 2 * p + d * (k - 1) + o + 1;
}

/* The geometry of a case: the image side is the Conv2d's input or the ConvTranspose2d's output. */
static clvae_conv_geom geom_of(const conv_case *c, int *oh, int *ow)
{
    clvae_conv_geom g = {.batch = c->batch, .k_h = c->k_h, .k_w = c->k_w, .stride_h = c->s_h,
                         .stride_w = c->s_w, .pad_h = c->p_h, .pad_w = c->p_w, .dil_h = c->d_h,
                         .dil_w = c->d_w};
    if (!c->transposed) {
        g.channels = c->in_c, g.height = c->in_h, g.width = c->in_w;
        g.out_h = *oh = conv_out(c->in_h, c->k_h, c->s_h, c->p_h, c->d_h);
        g.out_w = *ow = conv_out(c->in_w, c->k_w, c->s_w, c->p_w, c->d_w);
    } else {
        g.channels = c->out_c, g.out_h = c->in_h, g.out_w = c->in_w;
        g.height = *oh = convt_out(c->in_h, c->k_h, c->s_h, c->p_h, c->d_h, c->o_h);
        g.width = *ow = convt_out(c->in_w, c->k_w, c->s_w, c->p_w, c->d_w, c->o_w);
    }
    return g;
}

/* The direct definitions in double, NCHW. For Conv2d, W is (OC, IC, KH, KW) and
 *   y[b,o,i,j] = bias[o] + sum x[b,c,i*sh-ph+kh*dh, j*sw-pw+kw*dw] W[o,c,kh,kw];
 * for ConvTranspose2d, W is (IC, OC, KH, KW) and every input pixel scatters
 *   y[b,o,i*sh-ph+kh*dh, j*sw-pw+kw*dw] += x[b,c,i,j] W[c,o,kh,kw].
 * One loop nest serves both: (pixel of the "column" side, tap) <-> pixel of the "image" side.
 * Given x, W, dy it writes y (without bias), dx and dW. */
static void naive(const conv_case *c, int oh, int ow, const float *x, const float *w,
                  const float *dy, double *y, double *dx, double *dw)
{
    int IC = c->in_c, OC = c->out_c, KH = c->k_h, KW = c->k_w, B = c->batch;
    int H = c->in_h, W = c->in_w;
    memset(y, 0, sizeof(double) * B * OC * oh * ow);
    memset(dx, 0, sizeof(double) * B * IC * H * W);
    memset(dw, 0, sizeof(double) * OC * IC * KH * KW);
    int col_h = c->transposed ? H : oh, col_w = c->transposed ? W : ow;
    int img_h = c->transposed ? oh : H, img_w = c->transposed ? ow : W;
    for (int b = 0; b < B; b++)
        for (int o = 0; o < OC; o++)
            for (int ci = 0; ci < IC; ci++)
                for (int i = 0; i < col_h; i++)
                    for (int j = 0; j < col_w; j++)
                        for (int kh = 0; kh < KH; kh++)
                            for (int kw = 0; kw < KW; kw++) {
                                int ih = i * c->s_h - c->p_h + kh * c->d_h;
                                int iw = j * c->s_w - c->p_w + kw * c->d_w;
                                if (ih < 0 || ih >= img_h || iw < 0 || iw >= img_w) continue;
                                size_t wi = c->transposed
                                                ? (((size_t)ci * OC + o) * KH + kh) * KW + kw
                                                : (((size_t)o * IC + ci) * KH + kh) * KW + kw;
                                /* x index and y index of this (column pixel, image pixel) pair */
                                size_t xi = c->transposed
                                                ? (((size_t)b * IC + ci) * H + i) * W + j
                                                : (((size_t)b * IC + ci) * H + ih) * W + iw;
                                size_t yi = c->transposed
                                                ? (((size_t)b * OC + o) * oh + ih) * ow + iw
                                                : (((size_t)b * OC + o) * oh + i) * ow + j;
                                y[yi] += (double)x[xi] * w[wi];
                                dx[xi] += (double)dy[yi] * w[wi];
                                dw[wi] += (double)dy[yi] * x[xi];
                            }
}

/* The same layer through the ops, as the model runs it (NHWC inside, one GEMM per pass). */
static void through_ops(const conv_case *c, const clvae_conv_geom *g, int oh, int ow,
                        const float *x, const float *w, const float *bias, const float *dy,
                        float *y, float *dx, float *dw)
{
    int B = c->batch, IC = c->in_c, OC = c->out_c, K2 = c->k_h * c->k_w;
    int in_px = c->in_h * c->in_w, out_px = oh * ow, M = B * in_px, N = B * out_px;
    size_t ncols = c->transposed ? (size_t)M * OC * K2 : (size_t)N * IC * K2;
    clvae_view vx = dev(x, (size_t)M * IC), vw = dev(w, (size_t)OC * IC * K2);
    clvae_view vb = dev(bias, OC), vdy = dev(dy, (size_t)N * OC);
    clvae_view xh = dev(NULL, (size_t)M * IC), dyh = dev(NULL, (size_t)N * OC);
    clvae_view yh = dev(NULL, (size_t)N * OC), dxh = dev(NULL, (size_t)M * IC);
    clvae_view cols = dev(NULL, ncols), vdw = dev(NULL, (size_t)OC * IC * K2);
    const clvae_backend_ops *o = be.ops;
    o->fill(be.ctx, vdw, (size_t)OC * IC * K2, 0.5f); /* dW accumulates (beta 1) onto 0.5 */
    o->batch_transpose(be.ctx, B, IC, in_px, vx, xh);    /* NCHW -> NHWC */
    o->batch_transpose(be.ctx, B, OC, out_px, vdy, dyh);
    if (!c->transposed) {
        int K = IC * K2;
        o->im2col(be.ctx, g, xh, cols);                                    // (N, IC*K2)
        o->gemm(be.ctx, false, true, N, OC, K, 1, cols, K, vw, K, 0, yh, OC);
        o->gemm(be.ctx, true, false, OC, K, N, 1, dyh, OC, cols, K, 1, vdw, K);
        o->gemm(be.ctx, false, false, N, K, OC, 1, dyh, OC, vw, K, 0, cols, K);
        o->fill(be.ctx, dxh, (size_t)M * IC, 7.0f); /* beta 0 must overwrite */
        o->col2im(be.ctx, g, cols, 0.0f, dxh);
    } else {
        int K = OC * K2;
        o->gemm(be.ctx, false, false, M, K, IC, 1, xh, IC, vw, K, 0, cols, K); // (M, OC*K2)
        o->fill(be.ctx, yh, (size_t)N * OC, 7.0f);
        o->col2im(be.ctx, g, cols, 0.0f, yh);
        o->im2col(be.ctx, g, dyh, cols);
        o->gemm(be.ctx, false, true, M, IC, K, 1, cols, K, vw, K, 0, dxh, IC);
        o->gemm(be.ctx, true, false, IC, K, M, 1, xh, IC, cols, K, 1, vdw, K);
    }
    o->bias_act(be.ctx, CLVAE_ACT_IDENTITY, N, OC, vb, yh);
    o->batch_transpose(be.ctx, B, out_px, OC, yh, vdy); /* NHWC -> NCHW (reusing vdy) */
    o->batch_transpose(be.ctx, B, in_px, IC, dxh, vx);
    down(vdy, y, (size_t)N * OC);
    down(vx, dx, (size_t)M * IC);
    down(vdw, dw, (size_t)OC * IC * K2);
    free_bufs();
}

/* A Conv2d through the direct (column-free) ops, as the model runs a layer to few channels:
 * conv_direct, conv_direct_dw (overwrites; 0.5 added on the host to match through_ops) and
 * conv_direct_dx (overwrites garbage). */
static void through_direct(const conv_case *c, const clvae_conv_geom *g, int oh, int ow,
                           const float *x, const float *w, const float *bias, const float *dy,
                           float *y, float *dx, float *dw)
{
    int B = c->batch, IC = c->in_c, OC = c->out_c, K2 = c->k_h * c->k_w;
    int in_px = c->in_h * c->in_w, out_px = oh * ow, M = B * in_px, N = B * out_px;
    size_t nw = (size_t)OC * IC * K2;
    clvae_view vx = dev(x, (size_t)M * IC), vw = dev(w, nw);
    clvae_view vb = dev(bias, OC), vdy = dev(dy, (size_t)N * OC);
    clvae_view xh = dev(NULL, (size_t)M * IC), dyh = dev(NULL, (size_t)N * OC);
    clvae_view yh = dev(NULL, (size_t)N * OC), dxh = dev(NULL, (size_t)M * IC);
    clvae_view vdw = dev(NULL, nw);
    const clvae_backend_ops *o = be.ops;
    o->batch_transpose(be.ctx, B, IC, in_px, vx, xh); /* NCHW -> NHWC */
    o->batch_transpose(be.ctx, B, OC, out_px, vdy, dyh);
    o->fill(be.ctx, yh, (size_t)N * OC, 7.0f);
    o->fill(be.ctx, dxh, (size_t)M * IC, 7.0f);
    o->fill(be.ctx, vdw, nw, 7.0f);
    o->conv_direct(be.ctx, g, OC, xh, vw, yh);
    o->conv_direct_dw(be.ctx, g, OC, xh, dyh, vdw);
    o->conv_direct_dx(be.ctx, g, OC, dyh, vw, dxh);
    o->bias_act(be.ctx, CLVAE_ACT_IDENTITY, N, OC, vb, yh);
    o->batch_transpose(be.ctx, B, out_px, OC, yh, vdy); /* NHWC -> NCHW (reusing vdy) */
    o->batch_transpose(be.ctx, B, in_px, IC, dxh, vx);
    down(vdy, y, (size_t)N * OC);
    down(vx, dx, (size_t)M * IC);
    down(vdw, dw, nw);
    for (size_t i = 0; i < nw; i++) dw[i] += 0.5f;
    free_bufs();
}

static void check_conv(const conv_case *c)
{
    int oh, ow;
    clvae_conv_geom g = geom_of(c, &oh, &ow);
    size_t nx = (size_t)c->batch * c->in_c * c->in_h * c->in_w;
    size_t ny = (size_t)c->batch * c->out_c * oh * ow, nw = (size_t)c->out_c * c->in_c * c->k_h * c->k_w;
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *bias = malloc(c->out_c * 4);
    float *dy = malloc(ny * 4), *y = malloc(ny * 4), *dx = malloc(nx * 4), *dw = malloc(nw * 4);
    double *ry = malloc(ny * 8), *rdx = malloc(nx * 8), *rdw = malloc(nw * 8);
    fill_uniform(x, nx, -1, 1);
    fill_uniform(w, nw, -1, 1);
    fill_uniform(bias, c->out_c, -1, 1);
    fill_uniform(dy, ny, -1, 1);
    naive(c, oh, ow, x, w, dy, ry, rdx, rdw);
    for (size_t i = 0; i < ny; i++) ry[i] += bias[(i / ((size_t)oh * ow)) % c->out_c];
    for (size_t i = 0; i < nw; i++) rdw[i] += 0.5;
    through_ops(c, &g, oh, ow, x, w, bias, dy, y, dx, dw);
    double ey = scaled_err(ry, y, ny), edx = scaled_err(rdx, dx, nx), edw = scaled_err(rdw, dw, nw);
    CHECK(ey < TOL_CONV && edx < TOL_CONV && edw < TOL_CONV,
          "%s (out %dx%d): y %.2e dx %.2e dW %.2e", c->name, oh, ow, ey, edx, edw);
    printf("%-28s out %2dx%-2d  y %.1e  dx %.1e  dW %.1e\n", c->name, oh, ow, ey, edx, edw);
    if (!c->transposed) {
        through_direct(c, &g, oh, ow, x, w, bias, dy, y, dx, dw);
        ey = scaled_err(ry, y, ny), edx = scaled_err(rdx, dx, nx), edw = scaled_err(rdw, dw, nw);
        CHECK(ey < TOL_CONV && edx < TOL_CONV && edw < TOL_CONV,
              "%s direct (out %dx%d): y %.2e dx %.2e dW %.2e", c->name, oh, ow, ey, edx, edw);
        printf("%-28s direct     y %.1e  dx %.1e  dW %.1e\n", c->name, ey, edx, edw);
    }
    free(x), free(w), free(bias), free(dy), free(y), free(dx), free(dw);
    free(ry), free(rdx), free(rdw);
}

/* <im2col(x), c> = <x, col2im(c)> in double, and col2im with beta 1 adds onto img. */
static void check_adjoint(const conv_case *c)
{
    int oh, ow;
    clvae_conv_geom g = geom_of(c, &oh, &ow);
    size_t nimg = (size_t)g.batch * g.height * g.width * g.channels;
    size_t ncol = (size_t)g.batch * g.out_h * g.out_w * g.channels * g.k_h * g.k_w;
    float *x = malloc(nimg * 4), *cv = malloc(ncol * 4), *ax = malloc(ncol * 4);
    float *ac = malloc(nimg * 4), *acc = malloc(nimg * 4);
    fill_uniform(x, nimg, -1, 1);
    fill_uniform(cv, ncol, -1, 1);
    clvae_view vx = dev(x, nimg), vc = dev(cv, ncol), vax = dev(NULL, ncol), vac = dev(NULL, nimg);
    clvae_view vacc = dev(x, nimg);
    be.ops->im2col(be.ctx, &g, vx, vax);
    be.ops->col2im(be.ctx, &g, vc, 0.0f, vac);
    be.ops->col2im(be.ctx, &g, vc, 1.0f, vacc);
    down(vax, ax, ncol), down(vac, ac, nimg), down(vacc, acc, nimg);
    double l = 0, r = 0, s = 0, e = 0;
    for (size_t i = 0; i < ncol; i++) l += (double)ax[i] * cv[i], s += fabs((double)ax[i] * cv[i]);
    for (size_t i = 0; i < nimg; i++) r += (double)x[i] * ac[i];
    for (size_t i = 0; i < nimg; i++) e = fmax(e, fabs((double)acc[i] - ((double)x[i] + ac[i])));
    /* im2col copies exactly; col2im's float result of a double sum rounds once per pixel. */
    CHECK(fabs(l - r) <= 1e-6 * s, "%s: <im2col x, c> %.9g vs <x, col2im c> %.9g", c->name, l, r);
    CHECK(e < 1e-6, "%s: col2im beta 1 off by %.2e", c->name, e); /* one float add of |v| < ~50 */
    free_bufs();
    free(x), free(cv), free(ax), free(ac), free(acc);
}

static const conv_case cases[] = {
    /* name, transposed, B, IC, H, W, OC, KH, KW, sh, sw, ph, pw, dh, dw, oph, opw */
    {"conv k4 s2 p1 (dcgan)", false, 2, 3, 8, 8, 4, 4, 4, 2, 2, 1, 1, 1, 1, 0, 0},
    {"conv k3 s2 p1 odd size", false, 2, 2, 7, 5, 3, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0},
    {"conv rect 3x2 s(2,1) d(1,2)", false, 2, 3, 7, 6, 4, 3, 2, 2, 1, 1, 0, 1, 2, 0, 0},
    {"conv k1 s1 p0", false, 3, 4, 5, 4, 2, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0},
    {"conv k3 d2 p2", false, 1, 2, 6, 7, 3, 3, 3, 1, 1, 2, 2, 2, 2, 0, 0},
    {"conv kernel = padded input", false, 2, 1, 3, 3, 2, 5, 5, 1, 1, 1, 1, 1, 1, 0, 0},
    {"convt k4 s2 p1 (dcgan)", true, 2, 4, 4, 4, 3, 4, 4, 2, 2, 1, 1, 1, 1, 0, 0},
    {"convt k3 s2 p1 op1 (vanilla)", true, 2, 3, 2, 3, 2, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
    {"convt rect 3x2 s(2,3) op(1,2)", true, 2, 2, 3, 4, 3, 3, 2, 2, 3, 1, 0, 1, 1, 1, 2},
    {"convt k3 d2 s2 p2 op1", true, 1, 3, 3, 3, 2, 3, 3, 2, 2, 2, 2, 2, 2, 1, 1},
    {"convt k1 s1", true, 2, 3, 4, 3, 2, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0},
};

static void check_transpose(void)
{
    enum { B = 3, R = 5, C = 7, N = B * R * C };
    float src[N], dst[N];
    fill_uniform(src, N, -1, 1);
    clvae_view vs = dev(src, N), vd = dev(NULL, N);
    be.ops->batch_transpose(be.ctx, B, R, C, vs, vd);
    down(vd, dst, N);
    int bad = 0;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < R; i++)
            for (int j = 0; j < C; j++)
                bad += dst[(b * C + j) * R + i] != src[(b * R + i) * C + j];
    CHECK(bad == 0, "batch_transpose: %d elements misplaced", bad);
    free_bufs();
}

static void check_leaky(void)
{
    enum { R = 6, C = 5, N = R * C };
    const float slope = 0.2f;
    float y[N], bias[C], dy[N], gy[N], gdy[N];
    fill_uniform(y, N, -2, 2);
    fill_uniform(bias, C, -1, 1);
    fill_uniform(dy, N, -1, 1);
    clvae_view vy = dev(y, N), vb = dev(bias, C), vdy = dev(dy, N);
    be.ops->bias_leaky(be.ctx, slope, R, C, vb, vy);
    be.ops->leaky_bwd(be.ctx, slope, R, C, vy, vdy);
    down(vy, gy, N), down(vdy, gdy, N);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        float v = y[i] + bias[i % C], want = v > 0 ? v : slope * v; /* the same float ops: exact */
        bad += gy[i] != want || gdy[i] != (v > 0 ? dy[i] : dy[i] * slope);
    }
    CHECK(bad == 0, "bias_leaky / leaky_bwd: %d elements differ", bad);
    free_bufs();
}

/* ------------------------------------------------------------------ batch norm */

enum { BN_N = 24, BN_C = 3 };

typedef struct bn_ctx {
    clvae_act act;
    float slope;
    const double *w; /* (N, C) upstream gradient */
} bn_ctx;

static double act_d(clvae_act act, double slope, double v)
{
    switch (act) {
    case CLVAE_ACT_RELU: return v > 0 ? v : 0;
    case CLVAE_ACT_TANH: return tanh(v);
    case CLVAE_ACT_SOFTPLUS: return v > 0 ? v + log1p(exp(-v)) : log1p(exp(v));
    case CLVAE_ACT_LEAKY_RELU: return v > 0 ? v : slope * v;
    default: return v;
    }
}

/* BatchNorm2d in training mode in double: y = act(gamma (x - mean) / sqrt(var + eps) + beta),
 * x packs [x (N*C) | gamma (C) | beta (C)]; with w set, returns sum w*y, else writes y into out. */
static double bn_ref(const double *x, const bn_ctx *c, double *out)
{
    const double *g = x + BN_N * BN_C, *bt = g + BN_C;
    double f = 0;
    for (int ch = 0; ch < BN_C; ch++) {
        double m = 0, v = 0;
        for (int r = 0; r < BN_N; r++) m += x[r * BN_C + ch];
        m /= BN_N;
        for (int r = 0; r < BN_N; r++) v += (x[r * BN_C + ch] - m) * (x[r * BN_C + ch] - m);
        v /= BN_N;
        for (int r = 0; r < BN_N; r++) {
            double y = act_d(c->act, c->slope, g[ch] * (x[r * BN_C + ch] - m) / sqrt(v + 1e-5) + bt[ch]);
            if (out) out[r * BN_C + ch] = y;
            if (c->w) f += c->w[r * BN_C + ch] * y;
        }
    }
    return f;
}

static double bn_obj(const double *x, void *vc)
{
    return bn_ref(x, vc, NULL);
}

static void bn_act_bwd(clvae_act act, float slope, clvae_view y, clvae_view dy)
{
    if (act == CLVAE_ACT_LEAKY_RELU)
        be.ops->leaky_bwd(be.ctx, slope, BN_N, BN_C, y, dy);
    else
        be.ops->act_bwd(be.ctx, act, BN_N, BN_C, y, dy);
}

static void check_bn(clvae_act act)
{
    enum { P = BN_N * BN_C + 2 * BN_C };
    float x[P], w[BN_N * BN_C], y[BN_N * BN_C], rm[BN_C] = {0.5f, -1, 0}, rv[BN_C] = {1, 2, 0.5f};
    float grm[BN_C], grv[BN_C], dx[BN_N * BN_C], sums[2 * BN_C], ey[BN_N * BN_C];
    fill_uniform(x, P, -1, 1);
    for (int i = 0; i < BN_N * BN_C; i++) x[i] = x[i] * (1 + i % BN_C) + (float)(i % BN_C); /* per-channel scale, offset */
    fill_uniform(w, BN_N * BN_C, -1, 1);
    bn_ctx c = {act, 0.1f, NULL};
    clvae_view vx = dev(x, BN_N * BN_C), vg = dev(x + BN_N * BN_C, BN_C), vb = dev(x + BN_N * BN_C + BN_C, BN_C);
    clvae_view vrm = dev(rm, BN_C), vrv = dev(rv, BN_C), vs = dev(NULL, 2 * BN_C), vis = dev(NULL, BN_C);
    clvae_view vxh = dev(NULL, BN_N * BN_C), vy = dev(NULL, BN_N * BN_C), vdy = dev(w, BN_N * BN_C);
    clvae_view vey = dev(NULL, BN_N * BN_C), vis_eval = dev(NULL, BN_C);
    const clvae_backend_ops *o = be.ops;
    o->col_sum(be.ctx, BN_N, BN_C, vx, vs);
    o->col_sq_dev(be.ctx, BN_N, BN_C, vx, vs, (float)BN_N, clvae_view_at(vs, BN_C));
    clvae_bn_fwd_args f = {BN_N, BN_C, (float)BN_N, 1e-5f, 0.1f, c.slope, true, act, vx, vs, vg, vb,
                           vrm, vrv, vis, vxh, vy};
    o->bn_fwd(be.ctx, &f);
    down(vy, y, BN_N * BN_C), down(vrm, grm, BN_C), down(vrv, grv, BN_C), down(vs, sums, 2 * BN_C);
    /* evaluation: running statistics in, nothing updated */
    clvae_bn_fwd_args fe = f;
    fe.training = false, fe.xhat.buf = NULL, fe.y = vey, fe.sums.buf = NULL, fe.invstd = vis_eval;
    o->bn_fwd(be.ctx, &fe);
    down(vey, ey, BN_N * BN_C);
    float grm2[BN_C];
    down(vrm, grm2, BN_C);
    CHECK(!memcmp(grm, grm2, sizeof grm), "bn eval changed the running mean");
    double *xd = to_double(x, P), ry[BN_N * BN_C], e_eval = 0, s_eval = 0, e_run = 0;
    bn_ref(xd, &c, ry);
    for (int ch = 0; ch < BN_C; ch++) {
        double m = 0, v = 0;
        for (int r = 0; r < BN_N; r++) m += xd[r * BN_C + ch];
        m /= BN_N;
        for (int r = 0; r < BN_N; r++) v += (xd[r * BN_C + ch] - m) * (xd[r * BN_C + ch] - m);
        CHECK(fabs(sums[BN_C + ch] - v) < 1e-5 * (v + 1), "col_sq_dev %d: %g vs %g", ch, sums[BN_C + ch], v);
        double wm = 0.9 * rm[ch] + 0.1 * m, wv = 0.9 * rv[ch] + 0.1 * v / (BN_N - 1); /* unbiased */
        e_run = fmax(e_run, fmax(fabs(grm[ch] - wm), fabs(grv[ch] - wv)));
        for (int r = 0; r < BN_N; r++) {
            int i = r * BN_C + ch;
            double want = act_d(act, c.slope, xd[BN_N * BN_C + ch] * (xd[i] - grm[ch]) / sqrt(grv[ch] + 1e-5) + xd[BN_N * BN_C + BN_C + ch]);
            e_eval = fmax(e_eval, fabs(ey[i] - want)), s_eval = fmax(s_eval, fabs(want));
        }
    }
    /* values of a few units: float rounding of a handful of ops, well below 1e-5 */
    CHECK(e_run < 1e-5, "act %d: running statistics off by %.2e", act, e_run);
    CHECK(e_eval < 1e-5 * (1 + s_eval), "act %d: eval output off by %.2e", act, e_eval);
    double ety = scaled_err(ry, y, BN_N * BN_C);
    CHECK(ety < 1e-5, "act %d: training output off by %.2e", act, ety);
    /* backward: dy through the activation, then the sums, then dx */
    bn_act_bwd(act, c.slope, vy, vdy);
    clvae_bn_bwd_args bw = {BN_N, BN_C, (float)BN_N, vdy, vxh, vg, vis, vs, vdy}; /* dx aliases dy */
    o->bn_bwd_sums(be.ctx, &bw);
    o->bn_bwd(be.ctx, &bw);
    down(vdy, dx, BN_N * BN_C), down(vs, sums, 2 * BN_C);
    double wd[BN_N * BN_C], fd[P];
    for (int i = 0; i < BN_N * BN_C; i++) wd[i] = w[i];
    c.w = wd;
    for (int i = 0; i < P; i++) fd[i] = central(bn_obj, xd, i, &c);
    float got[P];
    memcpy(got, dx, sizeof dx);
    memcpy(got + BN_N * BN_C, sums, sizeof sums); /* [dgamma | dbeta] follow x in the packing */
    /* float forward + backward of a 24-row normalization against FD in double: measured <= 2e-7 */
    double eg = scaled_err(fd, got, P);
    CHECK(eg < 2e-6, "act %d: bn backward off by %.2e (scaled)", act, eg);
    printf("bn act %d: train y %.1e eval y %.1e running %.1e grad %.1e\n", act, ety, e_eval, e_run, eg);
    free(xd);
    free_bufs();
}

int main(void)
{
    int st = clvae_ref_backend_create(&be);
    if (st) return 1;
    for (int op = CLVAE_OP_CONV_FIRST; op < CLVAE_OP_COUNT; op++)
        CHECK(be.ops->supports(be.ctx, op), "reference backend: op %d unsupported", op);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check_conv(&cases[i]);
        check_adjoint(&cases[i]);
    }
    check_transpose();
    check_leaky();
    clvae_act acts[] = {CLVAE_ACT_IDENTITY, CLVAE_ACT_RELU, CLVAE_ACT_TANH, CLVAE_ACT_SOFTPLUS,
                        CLVAE_ACT_LEAKY_RELU};
    for (int i = 0; i < 5; i++) check_bn(acts[i]);
    clvae_backend_free(&be);
    return tu_finish("test_conv_ref");
}
