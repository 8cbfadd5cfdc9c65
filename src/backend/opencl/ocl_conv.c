/* The convolutional-net ops of the OpenCL backend (backend.h "Convolutional nets"): each checks
 * its geometry and views, sets the arguments of its cl/conv.cl or cl/bn.cl kernel(s) and
 * enqueues them on the in-order compute queue. Work-group shapes come from the device
 * (clvae_ocl_launch_nd). The column reductions (col_sq_dev, bn_bwd_sums) run in two stages
 * through a scratch buffer of this context: a fixed number of row chunks that depends only on
 * the row count, so every run gives the same bits, each chunk summed serially, then the chunk
 * partials summed in order. */
#include <stdint.h>

#include "backend/opencl/ocl_internal.h"

/* Row chunks of the two-stage reductions: at least this many rows per chunk (a serial float
 * sum of 64 rows loses nothing measurable), at most this many chunks (parallel enough for a
 * GPU at 100k rows; 256 x 2C partials of scratch). */
#define CONV_MIN_CHUNK 64
#define CONV_MAX_PARTS 256

/* Makes c->conv_tmp hold at least `floats` floats (the old buffer is released at once: the
 * runtime keeps it alive for commands already enqueued). */
static int conv_scratch(ocl_ctx *c, const char *op, size_t floats)
{
    size_t bytes = (floats ? floats : 1) * sizeof(float);
    cl_int err;
    if (bytes <= c->conv_tmp_bytes) return CLVAE_OK;
    if (c->conv_tmp) clReleaseMemObject(c->conv_tmp);
    c->conv_tmp_bytes = 0;
    c->conv_tmp = clCreateBuffer(c->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS) {
        c->conv_tmp = NULL;
        return clvae_ocl_fail(c, op, "clCreateBuffer(conv scratch)", err);
    }
    c->conv_tmp_bytes = bytes;
    return CLVAE_OK;
}

void clvae_ocl_conv_release(ocl_ctx *c)
{
    if (c->conv_tmp) clReleaseMemObject(c->conv_tmp);
    c->conv_tmp = NULL;
    c->conv_tmp_bytes = 0;
}

/* The chunk count P and rows per chunk of a reduction over `rows` rows (P >= 1; every chunk
 * but the last full, none empty unless rows is 0). */
static cl_uint chunk_rows(size_t rows, cl_uint *parts)
{
    size_t p = (rows + CONV_MIN_CHUNK - 1) / CONV_MIN_CHUNK;
    if (p > CONV_MAX_PARTS) p = CONV_MAX_PARTS;
    if (p < 1) p = 1;
    size_t chunk = (rows + p - 1) / p;
    if (chunk < 1) chunk = 1;
    *parts = (cl_uint)((rows + chunk - 1) / chunk);
    if (*parts < 1) *parts = 1;
    return (cl_uint)chunk;
}

static size_t vec_items(const ocl_ctx *c, size_t n)
{
    return n / c->vw + n % c->vw;
}

/* Non-negative (rows, cols) whose product and each fit the kernels' 32-bit indices. */
static int check_rc(const ocl_ctx *c, const char *op, int rows, int cols)
{
    if (rows < 0 || cols < 0 || (cols > 0 && (size_t)rows > UINT32_MAX / (size_t)cols))
        return clvae_error(CLVAE_ERR_INTERNAL, "opencl %s on \"%s\": bad shape (%d, %d)", op,
                           c->dev.name, rows, cols);
    return CLVAE_OK;
}

/* Positive sizes, strides and dilations, non-negative padding, OH and OW as backend.h defines
 * them, and B*OH, B*H within 32 bits. */
static int check_geom(const ocl_ctx *c, const char *op, const clvae_conv_geom *g)
{
    bool ok = g->batch > 0 && g->channels > 0 && g->height > 0 && g->width > 0 &&
              g->out_h > 0 && g->out_w > 0 && g->k_h > 0 && g->k_w > 0 && g->stride_h > 0 &&
              g->stride_w > 0 && g->pad_h >= 0 && g->pad_w >= 0 && g->dil_h > 0 && g->dil_w > 0;
    if (ok) {
        long long eh = (long long)g->height + 2LL * g->pad_h - (long long)g->dil_h * (g->k_h - 1) - 1;
        long long ew = (long long)g->width + 2LL * g->pad_w - (long long)g->dil_w * (g->k_w - 1) - 1;
        ok = eh >= 0 && ew >= 0 && eh / g->stride_h + 1 == g->out_h &&
             ew / g->stride_w + 1 == g->out_w &&
             (size_t)g->batch * (size_t)(g->height > g->out_h ? g->height : g->out_h) <= UINT32_MAX;
    }
    if (ok) return CLVAE_OK;
    return clvae_error(CLVAE_ERR_INTERNAL,
                       "opencl %s on \"%s\": bad geometry B %d C %d H %d W %d -> OH %d OW %d, "
                       "kernel %dx%d stride %d,%d pad %d,%d dilation %d,%d",
                       op, c->dev.name, g->batch, g->channels, g->height, g->width, g->out_h,
                       g->out_w, g->k_h, g->k_w, g->stride_h, g->stride_w, g->pad_h, g->pad_w,
                       g->dil_h, g->dil_w);
}

/* Floats of the image side (B*H*W*C) and of the columns (B*OH*OW * C*KH*KW). */
static size_t img_floats(const clvae_conv_geom *g)
{
    return (size_t)g->batch * g->height * g->width * g->channels;
}

static size_t col_floats(const clvae_conv_geom *g)
{
    return (size_t)g->batch * g->out_h * g->out_w * g->channels * g->k_h * g->k_w;
}

/* The 13 geometry arguments of CLVAE_GEOM_ARGS, in order, as cl_uint values. */
typedef struct geom_u {
    cl_uint v[13];
} geom_u;

static geom_u geom_args(const clvae_conv_geom *g)
{
    geom_u u = {{(cl_uint)g->channels, (cl_uint)g->height, (cl_uint)g->width,
                 (cl_uint)g->out_h, (cl_uint)g->out_w, (cl_uint)g->k_h, (cl_uint)g->k_w,
                 (cl_uint)g->stride_h, (cl_uint)g->stride_w, (cl_uint)g->pad_h,
                 (cl_uint)g->pad_w, (cl_uint)g->dil_h, (cl_uint)g->dil_w}};
    return u;
}

#define GEOM_ARGS(u)                                                                            \
    OCL_ARG((u).v[0]), OCL_ARG((u).v[1]), OCL_ARG((u).v[2]), OCL_ARG((u).v[3]),                \
        OCL_ARG((u).v[4]), OCL_ARG((u).v[5]), OCL_ARG((u).v[6]), OCL_ARG((u).v[7]),            \
        OCL_ARG((u).v[8]), OCL_ARG((u).v[9]), OCL_ARG((u).v[10]), OCL_ARG((u).v[11]),          \
        OCL_ARG((u).v[12])

/* Channels per work-item of im2col and col2im: one on a GPU (neighbouring work-items then read
 * neighbouring floats of the NHWC image side), blocks of up to 64 on a CPU device, whose
 * work-items run as loops where the per-entry index arithmetic cost more than the copy itself
 * (dcgan28 on PoCL: col2im took 16% of a training step with one channel per work-item). */
#define CONV_CPU_CHANNEL_BLOCK 64

static cl_uint channel_block(const ocl_ctx *c, int channels)
{
    if (!(c->dev.type & CL_DEVICE_TYPE_CPU)) return 1;
    return (cl_uint)(channels < CONV_CPU_CHANNEL_BLOCK ? channels : CONV_CPU_CHANNEL_BLOCK);
}

int clvae_ocl_im2col(void *ctx, const clvae_conv_geom *g, clvae_view img, clvae_view cols)
{
    ocl_ctx *c = ctx;
    const char *op = "im2col";
    cl_mem im, cm;
    cl_ulong io, co;
    int st = check_geom(c, op, g);
    if (!st) st = clvae_ocl_view(c, op, "img", img, img_floats(g), &im, &io);
    if (!st) st = clvae_ocl_view(c, op, "cols", cols, col_floats(g), &cm, &co);
    if (st) return st;
    geom_u u = geom_args(g);
    cl_uint rows = (cl_uint)g->batch * (cl_uint)g->out_h;
    cl_uint cb = channel_block(c, g->channels);
    ocl_arg args[] = {OCL_ARG(im), OCL_ARG(io), OCL_ARG(cm), OCL_ARG(co), OCL_ARG(rows),
                      GEOM_ARGS(u),  OCL_ARG(cb)};
    size_t items[3] = {((size_t)g->channels + cb - 1) / cb, (size_t)g->out_w, rows};
    return clvae_ocl_launch_nd(c, OCL_K_IM2COL, op, 3, items, args, OCL_NARGS(args));
}

/* Along one axis the taps that read an image coordinate recur every ks = s / gcd(s, d) taps,
 * their column positions falling by os = d ks / s (exact). */
static void tap_step(int s, int d, cl_uint *ks, cl_uint *os)
{
    int a = s, b = d;
    while (b) {
        int t = a % b;
        a = b;
        b = t;
    }
    *ks = (cl_uint)(s / a);
    *os = (cl_uint)(d / a);
}

int clvae_ocl_col2im(void *ctx, const clvae_conv_geom *g, clvae_view cols, float beta,
                     clvae_view img)
{
    ocl_ctx *c = ctx;
    const char *op = "col2im";
    cl_mem im, cm;
    cl_ulong io, co;
    int st = check_geom(c, op, g);
    if (!st && beta != 0.0f && beta != 1.0f)
        st = clvae_error(CLVAE_ERR_INTERNAL, "opencl %s on \"%s\": beta %g (0 or 1)", op,
                         c->dev.name, beta);
    if (!st) st = clvae_ocl_view(c, op, "cols", cols, col_floats(g), &cm, &co);
    if (!st) st = clvae_ocl_view(c, op, "img", img, img_floats(g), &im, &io);
    if (st) return st;
    geom_u u = geom_args(g);
    cl_uint rows = (cl_uint)g->batch * (cl_uint)g->height, ksh, osh, ksw, osw;
    cl_uint cb = channel_block(c, g->channels);
    tap_step(g->stride_h, g->dil_h, &ksh, &osh);
    tap_step(g->stride_w, g->dil_w, &ksw, &osw);
    ocl_arg args[] = {OCL_ARG(cm),   OCL_ARG(co),   OCL_ARG(im),  OCL_ARG(io),  OCL_ARG(rows),
                      OCL_ARG(beta), GEOM_ARGS(u),  OCL_ARG(ksh), OCL_ARG(osh), OCL_ARG(ksw),
                      OCL_ARG(osw),  OCL_ARG(cb)};
    size_t items[3] = {((size_t)g->channels + cb - 1) / cb, (size_t)g->width, rows};
    return clvae_ocl_launch_nd(c, OCL_K_COL2IM, op, 3, items, args, OCL_NARGS(args));
}

int clvae_ocl_batch_transpose(void *ctx, int batch, int rows, int cols, clvae_view src,
                              clvae_view dst)
{
    ocl_ctx *c = ctx;
    const char *op = "batch_transpose";
    cl_mem sm, dm;
    cl_ulong so, dof;
    int st = check_rc(c, op, rows, cols);
    if (!st) st = check_rc(c, op, batch, 1);
    size_t n = (size_t)batch * (size_t)rows * (size_t)cols;
    if (st || n == 0) return st;
    st = clvae_ocl_view(c, op, "src", src, n, &sm, &so);
    if (!st) st = clvae_ocl_view(c, op, "dst", dst, n, &dm, &dof);
    if (st) return st;
    cl_uint b = (cl_uint)batch, r = (cl_uint)rows, k = (cl_uint)cols;
    ocl_arg args[] = {OCL_ARG(sm), OCL_ARG(so), OCL_ARG(dm), OCL_ARG(dof),
                      OCL_ARG(b),  OCL_ARG(r),  OCL_ARG(k)};
    size_t items[3] = {r, k, b};
    return clvae_ocl_launch_nd(c, OCL_K_BATCH_TRANSPOSE, op, 3, items, args, OCL_NARGS(args));
}

int clvae_ocl_bias_leaky(void *ctx, float slope, int rows, int cols, clvae_view bias,
                         clvae_view y)
{
    ocl_ctx *c = ctx;
    const char *op = "bias_leaky";
    cl_mem ym, bm;
    cl_ulong yo, bo;
    int st = check_rc(c, op, rows, cols);
    if (st || (size_t)rows * (size_t)cols == 0) return st;
    st = clvae_ocl_view(c, op, "y", y, (size_t)rows * cols, &ym, &yo);
    if (!st) st = clvae_ocl_view(c, op, "bias", bias, (size_t)cols, &bm, &bo);
    if (st) return st;
    cl_uint r = (cl_uint)rows, n = (cl_uint)cols;
    ocl_arg args[] = {OCL_ARG(ym), OCL_ARG(yo), OCL_ARG(bm),   OCL_ARG(bo),
                      OCL_ARG(r),  OCL_ARG(n),  OCL_ARG(slope)};
    size_t items[2] = {vec_items(c, n), r};
    return clvae_ocl_launch_nd(c, OCL_K_BIAS_LEAKY, op, 2, items, args, OCL_NARGS(args));
}

int clvae_ocl_leaky_bwd(void *ctx, float slope, int rows, int cols, clvae_view y, clvae_view dy)
{
    ocl_ctx *c = ctx;
    const char *op = "leaky_bwd";
    cl_mem ym, dm;
    cl_ulong yo, dof, n = (cl_ulong)rows * (cl_ulong)(cols > 0 ? cols : 0);
    int st = check_rc(c, op, rows, cols);
    if (st || n == 0) return st;
    st = clvae_ocl_view(c, op, "y", y, n, &ym, &yo);
    if (!st) st = clvae_ocl_view(c, op, "dy", dy, n, &dm, &dof);
    if (st) return st;
    ocl_arg args[] = {OCL_ARG(ym), OCL_ARG(yo), OCL_ARG(dm), OCL_ARG(dof), OCL_ARG(n),
                      OCL_ARG(slope)};
    return clvae_ocl_launch(c, OCL_K_LEAKY_BWD, op, vec_items(c, n), 0, args, OCL_NARGS(args));
}

/* Stage 2: out (n) = the in-order sum of the P rows of part (P, n); with P = 1 stage 1 wrote
 * out itself. */
static int sum_parts(ocl_ctx *c, const char *op, cl_uint parts, cl_uint n, cl_mem out,
                     cl_ulong ooff)
{
    cl_ulong po = 0;
    ocl_arg args[] = {OCL_ARG(c->conv_tmp), OCL_ARG(po), OCL_ARG(parts), OCL_ARG(n),
                      OCL_ARG(out), OCL_ARG(ooff)};
    return clvae_ocl_launch(c, OCL_K_SUM_PARTS, op, n, 0, args, OCL_NARGS(args));
}

int clvae_ocl_col_sq_dev(void *ctx, int rows, int cols, clvae_view x, clvae_view sum,
                         float count, clvae_view out)
{
    ocl_ctx *c = ctx;
    const char *op = "col_sq_dev";
    cl_mem xm, sm, om, pm;
    cl_ulong xo, so, oo, po;
    int st = check_rc(c, op, rows, cols);
    if (st || cols == 0) return st;
    st = clvae_ocl_view(c, op, "x", x, (size_t)rows * cols, &xm, &xo);
    if (!st) st = clvae_ocl_view(c, op, "sum", sum, (size_t)cols, &sm, &so);
    if (!st) st = clvae_ocl_view(c, op, "out", out, (size_t)cols, &om, &oo);
    cl_uint parts, r = (cl_uint)rows, n = (cl_uint)cols, chunk = chunk_rows((size_t)rows, &parts);
    if (!st && parts > 1) st = conv_scratch(c, op, (size_t)parts * cols);
    if (st) return st;
    pm = parts > 1 ? c->conv_tmp : om;
    po = parts > 1 ? 0 : oo;
    ocl_arg args[] = {OCL_ARG(xm), OCL_ARG(xo),    OCL_ARG(sm), OCL_ARG(so),
                      OCL_ARG(count), OCL_ARG(r), OCL_ARG(n),  OCL_ARG(chunk),
                      OCL_ARG(pm), OCL_ARG(po)};
    size_t items[2] = {vec_items(c, n), parts};
    st = clvae_ocl_launch_nd(c, OCL_K_COL_SQ_DEV_PART, op, 2, items, args, OCL_NARGS(args));
    return st || parts == 1 ? st : sum_parts(c, op, parts, n, om, oo);
}

int clvae_ocl_bn_fwd(void *ctx, const clvae_bn_fwd_args *a)
{
    ocl_ctx *c = ctx;
    const char *op = "bn_fwd";
    cl_mem xm, sm, gm, bm, rmm, rvm, ism, xhm, ym;
    cl_ulong xo, so = 0, go, bo, rmo, rvo, iso, xho = 0, yo, mo = 0;
    cl_int training = a->training, act = a->act, has_xhat = a->xhat.buf != NULL;
    cl_uint rows = (cl_uint)a->rows, C = (cl_uint)a->channels;
    size_t n = (size_t)a->rows * (size_t)(a->channels > 0 ? a->channels : 0);
    int st = check_rc(c, op, a->rows, a->channels);
    if (st || a->channels == 0) return st;
    st = clvae_ocl_view(c, op, "x", a->x, n, &xm, &xo);
    if (!st && training) st = clvae_ocl_view(c, op, "sums", a->sums, 2 * (size_t)C, &sm, &so);
    if (!st) st = clvae_ocl_view(c, op, "gamma", a->gamma, C, &gm, &go);
    if (!st) st = clvae_ocl_view(c, op, "beta", a->beta, C, &bm, &bo);
    if (!st) st = clvae_ocl_view(c, op, "running_mean", a->running_mean, C, &rmm, &rmo);
    if (!st) st = clvae_ocl_view(c, op, "running_var", a->running_var, C, &rvm, &rvo);
    if (!st) st = clvae_ocl_view(c, op, "invstd", a->invstd, C, &ism, &iso);
    if (!st && has_xhat) st = clvae_ocl_view(c, op, "xhat", a->xhat, n, &xhm, &xho);
    if (!st) st = clvae_ocl_view(c, op, "y", a->y, n, &ym, &yo);
    if (!st) st = conv_scratch(c, op, C); /* the mean per channel */
    if (st) return st;
    if (!training) sm = rmm; /* never read */
    if (!has_xhat) xhm = ym; /* never written */
    float count = a->count, eps = a->eps, mom = a->momentum, slope = a->slope;
    ocl_arg sargs[] = {OCL_ARG(sm),  OCL_ARG(so),    OCL_ARG(rmm), OCL_ARG(rmo),
                       OCL_ARG(rvm), OCL_ARG(rvo),   OCL_ARG(ism), OCL_ARG(iso),
                       OCL_ARG(c->conv_tmp), OCL_ARG(mo), OCL_ARG(C), OCL_ARG(count),
                       OCL_ARG(eps), OCL_ARG(mom),   OCL_ARG(training)};
    st = clvae_ocl_launch(c, OCL_K_BN_STATS, op, C, 0, sargs, OCL_NARGS(sargs));
    if (st || rows == 0) return st;
    ocl_arg args[] = {OCL_ARG(xm),  OCL_ARG(xo),  OCL_ARG(c->conv_tmp), OCL_ARG(mo),
                      OCL_ARG(ism), OCL_ARG(iso), OCL_ARG(gm),          OCL_ARG(go),
                      OCL_ARG(bm),  OCL_ARG(bo),  OCL_ARG(xhm),         OCL_ARG(xho),
                      OCL_ARG(ym),  OCL_ARG(yo),  OCL_ARG(rows),        OCL_ARG(C),
                      OCL_ARG(act), OCL_ARG(slope), OCL_ARG(has_xhat)};
    size_t items[2] = {vec_items(c, C), rows};
    return clvae_ocl_launch_nd(c, OCL_K_BN_APPLY, op, 2, items, args, OCL_NARGS(args));
}

int clvae_ocl_bn_bwd_sums(void *ctx, const clvae_bn_bwd_args *a)
{
    ocl_ctx *c = ctx;
    const char *op = "bn_bwd_sums";
    cl_mem dm, xm, sm, pm;
    cl_ulong dof, xo, so, po;
    int st = check_rc(c, op, a->rows, a->channels);
    if (st || a->channels == 0) return st;
    size_t n = (size_t)a->rows * a->channels;
    st = clvae_ocl_view(c, op, "dy", a->dy, n, &dm, &dof);
    if (!st) st = clvae_ocl_view(c, op, "xhat", a->xhat, n, &xm, &xo);
    if (!st) st = clvae_ocl_view(c, op, "sums", a->sums, 2 * (size_t)a->channels, &sm, &so);
    cl_uint parts, r = (cl_uint)a->rows, C = (cl_uint)a->channels;
    cl_uint chunk = chunk_rows((size_t)a->rows, &parts);
    if (!st && parts > 1) st = conv_scratch(c, op, (size_t)parts * 2 * C);
    if (st) return st;
    pm = parts > 1 ? c->conv_tmp : sm;
    po = parts > 1 ? 0 : so;
    ocl_arg args[] = {OCL_ARG(dm), OCL_ARG(dof), OCL_ARG(xm),    OCL_ARG(xo), OCL_ARG(r),
                      OCL_ARG(C),  OCL_ARG(chunk), OCL_ARG(pm),  OCL_ARG(po)};
    size_t items[2] = {vec_items(c, C), parts};
    st = clvae_ocl_launch_nd(c, OCL_K_BN_BWD_PART, op, 2, items, args, OCL_NARGS(args));
    return st || parts == 1 ? st : sum_parts(c, op, parts, 2 * C, sm, so);
}

int clvae_ocl_bn_bwd(void *ctx, const clvae_bn_bwd_args *a)
{
    ocl_ctx *c = ctx;
    const char *op = "bn_bwd";
    cl_mem dm, xm, gm, im, sm, om;
    cl_ulong dof, xo, go, io, so, oo;
    int st = check_rc(c, op, a->rows, a->channels);
    size_t n = (size_t)a->rows * (size_t)(a->channels > 0 ? a->channels : 0);
    if (st || n == 0) return st;
    cl_uint r = (cl_uint)a->rows, C = (cl_uint)a->channels;
    st = clvae_ocl_view(c, op, "dy", a->dy, n, &dm, &dof);
    if (!st) st = clvae_ocl_view(c, op, "xhat", a->xhat, n, &xm, &xo);
    if (!st) st = clvae_ocl_view(c, op, "gamma", a->gamma, C, &gm, &go);
    if (!st) st = clvae_ocl_view(c, op, "invstd", a->invstd, C, &im, &io);
    if (!st) st = clvae_ocl_view(c, op, "sums", a->sums, 2 * (size_t)C, &sm, &so);
    if (!st) st = clvae_ocl_view(c, op, "dx", a->dx, n, &om, &oo);
    if (st) return st;
    float count = a->count;
    ocl_arg args[] = {OCL_ARG(dm), OCL_ARG(dof), OCL_ARG(xm), OCL_ARG(xo), OCL_ARG(gm),
                      OCL_ARG(go), OCL_ARG(im),  OCL_ARG(io), OCL_ARG(sm), OCL_ARG(so),
                      OCL_ARG(om), OCL_ARG(oo),  OCL_ARG(r),  OCL_ARG(C),  OCL_ARG(count)};
    size_t items[2] = {vec_items(c, C), r};
    return clvae_ocl_launch_nd(c, OCL_K_BN_BWD, op, 2, items, args, OCL_NARGS(args));
}

/* ---- direct (column-free) products of a narrow column side ----------------------------- */

/* The geometry, O > 0, and views of img (B*H*W, C), w (O, C*KH*KW) and col (B*OH*OW, O). */
static int direct_views(ocl_ctx *c, const char *op, const clvae_conv_geom *g, int o,
                        clvae_view img, clvae_view w, clvae_view col, cl_mem m[3],
                        cl_ulong off[3])
{
    int st = check_geom(c, op, g);
    if (!st && (o < 1 || col_floats(g) > UINT32_MAX / (size_t)o))
        st = clvae_error(CLVAE_ERR_INTERNAL, "opencl %s on \"%s\": bad column channels %d", op,
                         c->dev.name, o);
    size_t per = (size_t)g->channels * g->k_h * g->k_w;
    if (!st) st = clvae_ocl_view(c, op, "img", img, img_floats(g), &m[0], &off[0]);
    if (!st) st = clvae_ocl_view(c, op, "w", w, (size_t)o * per, &m[1], &off[1]);
    if (!st)
        st = clvae_ocl_view(c, op, "col", col, (size_t)g->batch * g->out_h * g->out_w * o,
                            &m[2], &off[2]);
    return st;
}

/* The scratch's wt (O, KH*KW, C) = w (O, C, KH*KW) transposed per output channel, so that the
 * channels of one tap are contiguous. */
static int direct_wt(ocl_ctx *c, const char *op, const clvae_conv_geom *g, int o, cl_mem w,
                     cl_ulong woff)
{
    cl_uint taps = (cl_uint)(g->k_h * g->k_w), C = (cl_uint)g->channels, O = (cl_uint)o;
    int st = conv_scratch(c, op, (size_t)O * C * taps);
    if (st) return st;
    cl_ulong to = 0;
    ocl_arg args[] = {OCL_ARG(w), OCL_ARG(woff), OCL_ARG(c->conv_tmp), OCL_ARG(to),
                      OCL_ARG(O), OCL_ARG(C),    OCL_ARG(taps)};
    size_t items[3] = {C, taps, O};
    return clvae_ocl_launch_nd(c, OCL_K_BATCH_TRANSPOSE, op, 3, items, args, OCL_NARGS(args));
}

int clvae_ocl_conv_direct(void *ctx, const clvae_conv_geom *g, int o, clvae_view img,
                          clvae_view w, clvae_view col)
{
    ocl_ctx *c = ctx;
    const char *op = "conv_direct";
    cl_mem m[3];
    cl_ulong off[3], to = 0;
    int st = direct_views(c, op, g, o, img, w, col, m, off);
    if (!st) st = direct_wt(c, op, g, o, m[1], off[1]);
    if (st) return st;
    geom_u u = geom_args(g);
    cl_uint rows = (cl_uint)g->batch * (cl_uint)g->out_h, O = (cl_uint)o;
    ocl_arg args[] = {OCL_ARG(m[0]), OCL_ARG(off[0]), OCL_ARG(c->conv_tmp), OCL_ARG(to),
                      OCL_ARG(m[2]), OCL_ARG(off[2]), OCL_ARG(rows), OCL_ARG(O), GEOM_ARGS(u)};
    size_t items[3] = {(size_t)g->out_w, rows, (size_t)o};
    return clvae_ocl_launch_nd(c, OCL_K_CONV_DIRECT, op, 3, items, args, OCL_NARGS(args));
}

/* The scratch's (C*KH*KW, O) = w (O, C*KH*KW) transposed, for clvae_conv_direct_dx_o. */
static int direct_wt_o(ocl_ctx *c, const char *op, const clvae_conv_geom *g, int o, cl_mem w,
                       cl_ulong woff)
{
    cl_uint n = (cl_uint)(g->channels * g->k_h * g->k_w), O = (cl_uint)o, one = 1;
    int st = conv_scratch(c, op, (size_t)O * n);
    if (st) return st;
    cl_ulong to = 0;
    ocl_arg args[] = {OCL_ARG(w), OCL_ARG(woff), OCL_ARG(c->conv_tmp), OCL_ARG(to),
                      OCL_ARG(one), OCL_ARG(O),  OCL_ARG(n)};
    size_t items[3] = {O, n, 1};
    return clvae_ocl_launch_nd(c, OCL_K_BATCH_TRANSPOSE, op, 3, items, args, OCL_NARGS(args));
}

/* Vectors over the image side's channels, or (clvae_conv_direct_dx_o) over the column side's
 * when the image side has fewer. */
int clvae_ocl_conv_direct_dx(void *ctx, const clvae_conv_geom *g, int o, clvae_view col,
                             clvae_view w, clvae_view img)
{
    ocl_ctx *c = ctx;
    const char *op = "conv_direct_dx";
    cl_mem m[3];
    cl_ulong off[3], to = 0;
    bool by_o = g->channels < o;
    int st = direct_views(c, op, g, o, img, w, col, m, off);
    if (!st) st = (by_o ? direct_wt_o : direct_wt)(c, op, g, o, m[1], off[1]);
    if (st) return st;
    geom_u u = geom_args(g);
    cl_uint rows = (cl_uint)g->batch * (cl_uint)g->height, O = (cl_uint)o, ksh, osh, ksw, osw;
    tap_step(g->stride_h, g->dil_h, &ksh, &osh);
    tap_step(g->stride_w, g->dil_w, &ksw, &osw);
    ocl_arg args[] = {OCL_ARG(m[2]), OCL_ARG(off[2]), OCL_ARG(c->conv_tmp), OCL_ARG(to),
                      OCL_ARG(m[0]), OCL_ARG(off[0]), OCL_ARG(rows), OCL_ARG(O),
                      GEOM_ARGS(u),  OCL_ARG(ksh),    OCL_ARG(osh),  OCL_ARG(ksw),
                      OCL_ARG(osw)};
    size_t items[3] = {vec_items(c, (size_t)g->channels), (size_t)g->width, rows};
    if (by_o) {
        size_t items_o[3] = {(size_t)g->width, rows, (size_t)g->channels};
        return clvae_ocl_launch_nd(c, OCL_K_CONV_DIRECT_DX_O, op, 3, items_o, args,
                                   OCL_NARGS(args));
    }
    return clvae_ocl_launch_nd(c, OCL_K_CONV_DIRECT_DX, op, 3, items, args, OCL_NARGS(args));
}

/* Two stages as the column reductions: P chunks of the B*OH output rows (chunk_rows), each
 * summed serially into the scratch, then the P partials of every weight in order
 * (sum_parts). */
int clvae_ocl_conv_direct_dw(void *ctx, const clvae_conv_geom *g, int o, clvae_view img,
                             clvae_view col, clvae_view w)
{
    ocl_ctx *c = ctx;
    const char *op = "conv_direct_dw";
    cl_mem m[3];
    cl_ulong off[3];
    int st = direct_views(c, op, g, o, img, w, col, m, off);
    if (st) return st;
    size_t taps = (size_t)g->k_h * g->k_w, nw = (size_t)o * g->channels * taps;
    size_t n = (size_t)g->batch * g->out_h;
    cl_uint parts, chunk = chunk_rows(n, &parts), rows = (cl_uint)n, O = (cl_uint)o;
    if (parts > 1) st = conv_scratch(c, op, (size_t)parts * nw);
    if (st) return st;
    cl_mem pm = parts > 1 ? c->conv_tmp : m[1];
    cl_ulong po = parts > 1 ? 0 : off[1];
    geom_u u = geom_args(g);
    ocl_arg args[] = {OCL_ARG(m[0]),  OCL_ARG(off[0]), OCL_ARG(m[2]), OCL_ARG(off[2]),
                      OCL_ARG(pm),    OCL_ARG(po),     OCL_ARG(rows), OCL_ARG(O),
                      OCL_ARG(chunk), OCL_ARG(parts),  GEOM_ARGS(u)};
    size_t items[3] = {vec_items(c, (size_t)g->channels), taps, (size_t)parts * o};
    st = clvae_ocl_launch_nd(c, OCL_K_CONV_DIRECT_DW_PART, op, 3, items, args, OCL_NARGS(args));
    return st || parts == 1 ? st : sum_parts(c, op, parts, (cl_uint)nw, m[1], off[1]);
}
