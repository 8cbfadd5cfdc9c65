/* The stochastic-layer ops of the OpenCL backend (backend.h "Stochastic-layer chain"): each
 * checks its shapes and views, sets the arguments of its cl/stoch.cl kernel and enqueues it on
 * the in-order compute queue. An optional view that is absent (buf NULL) is passed as another
 * valid buffer of the call with its has_* flag 0, so no kernel ever sees a NULL pointer. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "backend/opencl/ocl_internal.h"

/* Sizes must be non-negative (a negative one is a caller bug). */
static int check_sizes(const ocl_ctx *c, const char *op, int a, int b, int d)
{
    if (a < 0 || b < 0 || d < 0)
        return clvae_error(CLVAE_ERR_INTERNAL, "opencl %s on \"%s\": negative size (%d, %d, %d)",
                           op, c->dev.name, a, b, d);
    return CLVAE_OK;
}

/* A view that may be absent: resolved when set, else *mem = fallback and *has = 0. */
static int opt_view(const ocl_ctx *c, const char *op, const char *name, clvae_view v, size_t floats,
                    cl_mem fallback, cl_mem *mem, cl_ulong *off, cl_int *has)
{
    *has = v.buf != NULL;
    if (*has) return clvae_ocl_view(c, op, name, v, floats, mem, off);
    *mem = fallback;
    *off = 0;
    return CLVAE_OK;
}

int clvae_ocl_gauss_terms(void *ctx, const clvae_gauss_terms_args *a)
{
    ocl_ctx *c = ctx;
    const char *op = "gauss_terms";
    cl_mem hm, zm, em, pm, km, sm;
    cl_ulong ho, zo, eo, po, ko, so;
    cl_int has_p, has_s, init = a->sum_init;
    cl_uint rows = (cl_uint)a->rows, hrows = (cl_uint)a->hrows, R = (cl_uint)a->latent;
    size_t n = (size_t)a->rows * a->latent;
    int st = check_sizes(c, op, a->rows, a->hrows, a->latent);
    if (!st && a->rows > 0 && (a->hrows <= 0 || a->rows % a->hrows != 0))
        st = clvae_error(CLVAE_ERR_INTERNAL,
                         "opencl %s on \"%s\": rows %d is not a multiple of hrows %d", op,
                         c->dev.name, a->rows, a->hrows);
    if (st || a->rows == 0) return st;
    st = clvae_ocl_view(c, op, "heads", a->heads, (size_t)a->hrows * 2 * R, &hm, &ho);
    if (!st) st = clvae_ocl_view(c, op, "z", a->z, n, &zm, &zo);
    if (!st) st = clvae_ocl_view(c, op, "eps", a->eps, n, &em, &eo);
    if (!st) st = clvae_ocl_view(c, op, "kl", a->kl, (size_t)a->rows, &km, &ko);
    if (!st) st = opt_view(c, op, "prior", a->prior, 2 * n, zm, &pm, &po, &has_p);
    if (!st) st = opt_view(c, op, "kl_sum", a->kl_sum, (size_t)a->rows, km, &sm, &so, &has_s);
    if (st) return st;
    ocl_arg args[] = {OCL_ARG(hm),    OCL_ARG(ho),    OCL_ARG(zm),   OCL_ARG(zo),    OCL_ARG(em),
                      OCL_ARG(eo),    OCL_ARG(pm),    OCL_ARG(po),   OCL_ARG(km),    OCL_ARG(ko),
                      OCL_ARG(sm),    OCL_ARG(so),    OCL_ARG(rows), OCL_ARG(hrows), OCL_ARG(R),
                      OCL_ARG(has_p), OCL_ARG(has_s), OCL_ARG(init)};
    return clvae_ocl_launch(c, OCL_K_GAUSS_TERMS, op, rows, 0, args, OCL_NARGS(args));
}

int clvae_ocl_prior_bwd(void *ctx, const clvae_prior_bwd_args *a)
{
    ocl_ctx *c = ctx;
    const char *op = "prior_bwd";
    cl_mem wm, zm, pm, dzm, dpm;
    cl_ulong wo, zo, po, dzo, dpo;
    cl_int has_w, has_p;
    cl_uint rows = (cl_uint)a->rows, R = (cl_uint)a->latent;
    float scale = a->scale;
    size_t n = (size_t)a->rows * a->latent;
    int st = check_sizes(c, op, a->rows, a->latent, 0);
    if (st || n == 0) return st;
    st = clvae_ocl_view(c, op, "z", a->z, n, &zm, &zo);
    if (!st) st = clvae_ocl_view(c, op, "dz", a->dz, n, &dzm, &dzo);
    if (!st) st = opt_view(c, op, "weights", a->weights, (size_t)a->rows, zm, &wm, &wo, &has_w);
    if (!st) st = opt_view(c, op, "prior", a->prior, 2 * n, zm, &pm, &po, &has_p);
    if (!st && has_p) st = clvae_ocl_view(c, op, "dprior", a->dprior, 2 * n, &dpm, &dpo);
    if (!st && !has_p) {
        dpm = dzm; /* never written without a prior */
        dpo = 0;
    }
    if (st) return st;
    ocl_arg args[] = {OCL_ARG(wm),   OCL_ARG(wo),  OCL_ARG(zm),    OCL_ARG(zo),    OCL_ARG(pm),
                      OCL_ARG(po),   OCL_ARG(dzm), OCL_ARG(dzo),   OCL_ARG(dpm),   OCL_ARG(dpo),
                      OCL_ARG(rows), OCL_ARG(R),   OCL_ARG(scale), OCL_ARG(has_w), OCL_ARG(has_p)};
    size_t items[2] = {R, rows};
    return clvae_ocl_launch_nd(c, OCL_K_PRIOR_BWD, op, 2, items, args, OCL_NARGS(args));
}

int clvae_ocl_latent_bwd(void *ctx, const clvae_latent_bwd_args *a)
{
    ocl_ctx *c = ctx;
    const char *op = "latent_bwd";
    cl_mem wm, hm, em, dzm, dhm;
    cl_ulong wo, ho, eo, dzo, dho;
    cl_int has_w;
    cl_uint H = (cl_uint)a->hrows, S = (cl_uint)a->samples, R = (cl_uint)a->latent;
    float klw = a->kl_weight, scale = a->scale;
    size_t rows = (size_t)a->samples * a->hrows, nh = (size_t)a->hrows * 2 * a->latent;
    int st = check_sizes(c, op, a->hrows, a->samples, a->latent);
    if (st || nh == 0) return st;
    st = clvae_ocl_view(c, op, "heads", a->heads, nh, &hm, &ho);
    if (!st) st = clvae_ocl_view(c, op, "eps", a->eps, rows * R, &em, &eo);
    if (!st) st = clvae_ocl_view(c, op, "dz", a->dz, rows * R, &dzm, &dzo);
    if (!st) st = clvae_ocl_view(c, op, "dheads", a->dheads, nh, &dhm, &dho);
    if (!st) st = opt_view(c, op, "weights", a->weights, rows, hm, &wm, &wo, &has_w);
    if (st) return st;
    ocl_arg args[] = {OCL_ARG(wm),  OCL_ARG(wo),  OCL_ARG(hm),    OCL_ARG(ho),
                      OCL_ARG(em),  OCL_ARG(eo),  OCL_ARG(dzm),   OCL_ARG(dzo),
                      OCL_ARG(dhm), OCL_ARG(dho), OCL_ARG(H),     OCL_ARG(S),
                      OCL_ARG(R),   OCL_ARG(klw), OCL_ARG(scale), OCL_ARG(has_w)};
    size_t items[2] = {R, H};
    return clvae_ocl_launch_nd(c, OCL_K_LATENT_BWD, op, 2, items, args, OCL_NARGS(args));
}

/* iw_weights has two layouts with the same bits: one work-item per data row (each walks its S
 * samples three times), or one work-group per row (clvae_iw_weights_wg: the exps of a tile of
 * samples in parallel). A GPU needs the second for large S: B work-items (eval chunks of ~100
 * rows) occupy a fraction of one compute unit, each with 2S dependent exps. A CPU device has
 * few cores that B work-items already fill, and there the group layout measured slower
 * (bench/bench_iw.c, 2-core VM: PoCL 0.02x at S = 5 to 1.3x at S = 5000, llvmpipe 0.05x-0.9x),
 * so CPU devices keep the serial layout. CLVAE_OCL_IW_GROUP_MIN_S=N forces the group layout
 * from S = N on any device (0: always; the tests and bench_iw run both layouts with it). */
#define IW_GROUP_MIN_S 64

static bool iw_use_group(const ocl_ctx *c, int samples)
{
    const char *e = getenv("CLVAE_OCL_IW_GROUP_MIN_S");
    if (e && *e) {
        char *end;
        unsigned long v = strtoul(e, &end, 10);
        if (*end == '\0') return (unsigned long)samples >= v;
    }
    return !(c->dev.type & CL_DEVICE_TYPE_CPU) && samples >= IW_GROUP_MIN_S;
}

int clvae_ocl_iw_weights(void *ctx, const clvae_iw_args *a)
{
    ocl_ctx *c = ctx;
    const char *op = "iw_weights";
    cl_mem nm, km, wm, bm;
    cl_ulong no, ko, wo, bo;
    cl_uint B = (cl_uint)a->batch, S = (cl_uint)a->samples;
    float scale = a->scale, log_s = logf((float)a->samples); /* the reference's value */
    size_t rows = (size_t)a->samples * a->batch;
    int st = check_sizes(c, op, a->batch, a->samples, 0);
    if (st || a->batch == 0) return st;
    st = clvae_ocl_view(c, op, "nll", a->nll, rows, &nm, &no);
    if (!st) st = clvae_ocl_view(c, op, "kl", a->kl, rows, &km, &ko);
    if (!st) st = clvae_ocl_view(c, op, "weights", a->weights, rows, &wm, &wo);
    if (!st) st = clvae_ocl_view(c, op, "bound", a->bound, (size_t)a->batch, &bm, &bo);
    if (st) return st;
    size_t local = c->local[OCL_K_IW_WEIGHTS_WG];
    bool group = iw_use_group(c, a->samples) && local > 1;
    ocl_arg args[] = {OCL_ARG(nm),
                      OCL_ARG(no),
                      OCL_ARG(km),
                      OCL_ARG(ko),
                      OCL_ARG(wm),
                      OCL_ARG(wo),
                      OCL_ARG(bm),
                      OCL_ARG(bo),
                      OCL_ARG(B),
                      OCL_ARG(S),
                      OCL_ARG(scale),
                      OCL_ARG(log_s),
                      OCL_LOCAL(local * sizeof(float))};
    if (group)
        return clvae_ocl_launch(c, OCL_K_IW_WEIGHTS_WG, op, (size_t)B * local, local, args,
                                OCL_NARGS(args));
    return clvae_ocl_launch(c, OCL_K_IW_WEIGHTS, op, B, 0, args, OCL_NARGS(args) - 1);
}

int clvae_ocl_row_scale(void *ctx, int rows, int cols, clvae_view w, clvae_view x)
{
    ocl_ctx *c = ctx;
    const char *op = "row_scale";
    cl_mem wm, xm;
    cl_ulong wo, xo;
    cl_uint r = (cl_uint)rows, n = (cl_uint)cols;
    size_t count = (size_t)rows * cols;
    int st = check_sizes(c, op, rows, cols, 0);
    if (st || count == 0) return st;
    st = clvae_ocl_view(c, op, "w", w, (size_t)rows, &wm, &wo);
    if (!st) st = clvae_ocl_view(c, op, "x", x, count, &xm, &xo);
    if (st) return st;
    ocl_arg args[] = {OCL_ARG(wm), OCL_ARG(wo), OCL_ARG(xm), OCL_ARG(xo), OCL_ARG(r), OCL_ARG(n)};
    size_t items[2] = {n, r};
    return clvae_ocl_launch_nd(c, OCL_K_ROW_SCALE, op, 2, items, args, OCL_NARGS(args));
}

int clvae_ocl_binarize(void *ctx, size_t n, uint64_t seed, uint64_t step, uint32_t stream,
                       clvae_view x)
{
    ocl_ctx *c = ctx;
    const char *op = "binarize";
    cl_mem xm;
    cl_ulong xo, nn = n, sd = seed, stp = step;
    cl_uint strm = stream;
    if (n == 0) return CLVAE_OK;
    int st = clvae_ocl_view(c, op, "x", x, n, &xm, &xo);
    if (st) return st;
    ocl_arg args[] = {OCL_ARG(xm), OCL_ARG(xo),  OCL_ARG(nn),
                      OCL_ARG(sd), OCL_ARG(stp), OCL_ARG(strm)};
    size_t blocks = (n + 3) / 4; /* one work-item per c->vw Philox blocks (cl/stoch.cl) */
    return clvae_ocl_launch(c, OCL_K_BINARIZE, op, (blocks + c->vw - 1) / c->vw, 0, args,
                            OCL_NARGS(args));
}
