/* The reference math of the convolutional-net op group (backend.h, "Convolutional nets"): im2col
 * and its adjoint col2im over NHWC maps, the direct (column-free) conv products, the per-item transpose between NCHW and NHWC, leaky ReLU,
 * and BatchNorm2d's statistics, forward and backward. Plain loops; sums in double (the oracle). */
#include <math.h>
#include <stddef.h>

#include "backend/ref/ref_math.h"

/* The image coordinate read by column position o and kernel tap k along one axis. */
static int tap(int o, int k, int stride, int pad, int dil)
{
    return o * stride - pad + k * dil;
}

void clvae_ref_im2col(const clvae_conv_geom *g, const float *img, float *cols)
{
    int C = g->channels, KH = g->k_h, KW = g->k_w;
    size_t ncol = (size_t)C * KH * KW;
    for (int b = 0; b < g->batch; b++)
        for (int oh = 0; oh < g->out_h; oh++)
            for (int ow = 0; ow < g->out_w; ow++) {
                float *row = cols + (((size_t)b * g->out_h + oh) * g->out_w + ow) * ncol;
                for (int c = 0; c < C; c++)
                    for (int kh = 0; kh < KH; kh++)
                        for (int kw = 0; kw < KW; kw++) {
                            int h = tap(oh, kh, g->stride_h, g->pad_h, g->dil_h);
                            int w = tap(ow, kw, g->stride_w, g->pad_w, g->dil_w);
                            float v = 0.0f;
                            if (h >= 0 && h < g->height && w >= 0 && w < g->width)
                                v = img[(((size_t)b * g->height + h) * g->width + w) * C + c];
                            row[((size_t)c * KH + kh) * KW + kw] = v;
                        }
            }
}

/* One axis of col2im's gather: does image coordinate `i` receive tap k from some column position
 * o in [0, out)? Returns o or -1. */
static int source(int i, int k, int out, int stride, int pad, int dil)
{
    int t = i + pad - k * dil;
    if (t < 0 || t % stride) return -1;
    t /= stride;
    return t < out ? t : -1;
}

/* Pixel (b, h, w, c): the sum, in (kh, kw) order, of every cols entry im2col reads from it. */
static double col2im_pixel(const clvae_conv_geom *g, const float *cols, int b, int h, int w, int c)
{
    size_t ncol = (size_t)g->channels * g->k_h * g->k_w;
    double s = 0;
    for (int kh = 0; kh < g->k_h; kh++) {
        int oh = source(h, kh, g->out_h, g->stride_h, g->pad_h, g->dil_h);
        if (oh < 0) continue;
        for (int kw = 0; kw < g->k_w; kw++) {
            int ow = source(w, kw, g->out_w, g->stride_w, g->pad_w, g->dil_w);
            if (ow < 0) continue;
            size_t r = ((size_t)b * g->out_h + oh) * g->out_w + ow;
            s += cols[r * ncol + ((size_t)c * g->k_h + kh) * g->k_w + kw];
        }
    }
    return s;
}

void clvae_ref_col2im(const clvae_conv_geom *g, const float *cols, float beta, float *img)
{
    int C = g->channels;
    for (int b = 0; b < g->batch; b++)
        for (int h = 0; h < g->height; h++)
            for (int w = 0; w < g->width; w++)
                for (int c = 0; c < C; c++) {
                    float *p = img + (((size_t)b * g->height + h) * g->width + w) * C + c;
                    double s = col2im_pixel(g, cols, b, h, w, c);
                    *p = beta != 0.0f ? (float)(beta * *p + s) : (float)s;
                }
}

/* The image pixel that tap (kh, kw) of column position (b, oh, ow) reads, or NULL in the
 * padding. */
static const float *tap_pixel(const clvae_conv_geom *g, const float *img, int b, int oh, int ow,
                              int kh, int kw)
{
    int h = tap(oh, kh, g->stride_h, g->pad_h, g->dil_h);
    int w = tap(ow, kw, g->stride_w, g->pad_w, g->dil_w);
    if (h < 0 || h >= g->height || w < 0 || w >= g->width) return NULL;
    return img + (((size_t)b * g->height + h) * g->width + w) * g->channels;
}

void clvae_ref_conv_direct(const clvae_conv_geom *g, int o, const float *img, const float *w,
                           float *col)
{
    int C = g->channels, KH = g->k_h, KW = g->k_w;
    size_t ncol = (size_t)C * KH * KW, r = 0;
    for (int b = 0; b < g->batch; b++)
        for (int oh = 0; oh < g->out_h; oh++)
            for (int ow = 0; ow < g->out_w; ow++, r++)
                for (int j = 0; j < o; j++) {
                    double s = 0;
                    for (int kh = 0; kh < KH; kh++)
                        for (int kw = 0; kw < KW; kw++) {
                            const float *px = tap_pixel(g, img, b, oh, ow, kh, kw);
                            for (int c = 0; px && c < C; c++)
                                s += (double)px[c] * w[j * ncol + ((size_t)c * KH + kh) * KW + kw];
                        }
                    col[r * o + j] = (float)s;
                }
}

void clvae_ref_conv_direct_dx(const clvae_conv_geom *g, int o, const float *col, const float *w,
                              float *img)
{
    int C = g->channels, KH = g->k_h, KW = g->k_w;
    size_t ncol = (size_t)C * KH * KW;
    for (int b = 0; b < g->batch; b++)
        for (int h = 0; h < g->height; h++)
            for (int x = 0; x < g->width; x++)
                for (int c = 0; c < C; c++) {
                    double s = 0;
                    for (int kh = 0; kh < KH; kh++) {
                        int oh = source(h, kh, g->out_h, g->stride_h, g->pad_h, g->dil_h);
                        for (int kw = 0; oh >= 0 && kw < KW; kw++) {
                            int ow = source(x, kw, g->out_w, g->stride_w, g->pad_w, g->dil_w);
                            if (ow < 0) continue;
                            const float *d = col + (((size_t)b * g->out_h + oh) * g->out_w + ow) * o;
                            for (int j = 0; j < o; j++)
                                s += (double)d[j] * w[j * ncol + ((size_t)c * KH + kh) * KW + kw];
                        }
                    }
                    img[(((size_t)b * g->height + h) * g->width + x) * C + c] = (float)s;
                }
}

void clvae_ref_conv_direct_dw(const clvae_conv_geom *g, int o, const float *img, const float *col,
                              float *w)
{
    int C = g->channels, KH = g->k_h, KW = g->k_w;
    for (int j = 0; j < o; j++)
        for (int c = 0; c < C; c++)
            for (int kh = 0; kh < KH; kh++)
                for (int kw = 0; kw < KW; kw++) {
                    double s = 0;
                    size_t r = 0;
                    for (int b = 0; b < g->batch; b++)
                        for (int oh = 0; oh < g->out_h; oh++)
                            for (int ow = 0; ow < g->out_w; ow++, r++) {
                                const float *px = tap_pixel(g, img, b, oh, ow, kh, kw);
                                if (px) s += (double)col[r * o + j] * px[c];
                            }
                    w[(((size_t)j * C + c) * KH + kh) * KW + kw] = (float)s;
                }
}

void clvae_ref_batch_transpose(int batch, int rows, int cols, const float *src, float *dst)
{
    size_t n = (size_t)rows * cols;
    for (int b = 0; b < batch; b++)
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                dst[b * n + (size_t)j * rows + i] = src[b * n + (size_t)i * cols + j];
}

void clvae_ref_bias_leaky(float slope, int rows, int cols, const float *bias, float *y)
{
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            float *p = y + (size_t)i * cols + j;
            float v = *p + bias[j];
            *p = v > 0 ? v : slope * v;
        }
}

void clvae_ref_leaky_bwd(float slope, int rows, int cols, const float *y, float *dy)
{
    size_t n = (size_t)rows * cols;
    for (size_t i = 0; i < n; i++)
        if (!(y[i] > 0)) dy[i] *= slope;
}

void clvae_ref_col_sq_dev(int rows, int cols, const float *x, const float *sum, float count,
                          float *out)
{
    for (int j = 0; j < cols; j++) {
        float mean = sum[j] / count;
        double s = 0;
        for (int i = 0; i < rows; i++) {
            double d = (double)x[(size_t)i * cols + j] - mean;
            s += d * d;
        }
        out[j] = (float)s;
    }
}

/* Every activation of clvae_act; leaky ReLU with `slope`. */
static float act_value(clvae_act act, float slope, float v)
{
    switch (act) {
    case CLVAE_ACT_RELU: return v > 0 ? v : 0.0f;
    case CLVAE_ACT_TANH: return tanhf(v);
    case CLVAE_ACT_SOFTPLUS: return clvae_softplus(v);
    case CLVAE_ACT_LEAKY_RELU: return v > 0 ? v : slope * v;
    default: return v;
    }
}

/* mean (C) and var (C) of this pass: the batch's (and the running update) or the running ones. */
static void bn_stats(const clvae_bn_fwd_args *a, const float *sums, float *rmean, float *rvar,
                     int c, float *mean, float *var)
{
    if (!a->training) {
        *mean = rmean[c];
        *var = rvar[c];
        return;
    }
    *mean = sums[c] / a->count;
    *var = sums[a->channels + c] / a->count;
    float unbiased = a->count > 1 ? *var * a->count / (a->count - 1) : *var;
    rmean[c] = (1 - a->momentum) * rmean[c] + a->momentum * *mean;
    rvar[c] = (1 - a->momentum) * rvar[c] + a->momentum * unbiased;
}

void clvae_ref_bn_fwd(const clvae_bn_fwd_args *a, const float *x, const float *sums,
                      const float *gamma, const float *beta, float *rmean, float *rvar,
                      float *invstd, float *xhat, float *y)
{
    int N = a->rows, C = a->channels;
    for (int c = 0; c < C; c++) {
        float mean, var;
        bn_stats(a, sums, rmean, rvar, c, &mean, &var);
        float is = 1.0f / sqrtf(var + a->eps);
        invstd[c] = is;
        for (int r = 0; r < N; r++) {
            size_t i = (size_t)r * C + c;
            float xh = (x[i] - mean) * is;
            if (xhat) xhat[i] = xh;
            y[i] = act_value(a->act, a->slope, gamma[c] * xh + beta[c]);
        }
    }
}

void clvae_ref_bn_bwd_sums(const clvae_bn_bwd_args *a, const float *dy, const float *xhat,
                           float *sums)
{
    int N = a->rows, C = a->channels;
    for (int c = 0; c < C; c++) {
        double sg = 0, sb = 0;
        for (int r = 0; r < N; r++) {
            size_t i = (size_t)r * C + c;
            sg += (double)dy[i] * xhat[i];
            sb += dy[i];
        }
        sums[c] = (float)sg;
        sums[C + c] = (float)sb;
    }
}

void clvae_ref_bn_bwd(const clvae_bn_bwd_args *a, const float *dy, const float *xhat,
                      const float *gamma, const float *invstd, const float *sums, float *dx)
{
    int N = a->rows, C = a->channels;
    for (int c = 0; c < C; c++) {
        float k = gamma[c] * invstd[c] / a->count, dg = sums[c], db = sums[C + c];
        for (int r = 0; r < N; r++) {
            size_t i = (size_t)r * C + c;
            dx[i] = k * (a->count * dy[i] - db - xhat[i] * dg);
        }
    }
}
