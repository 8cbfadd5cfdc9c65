/* The categorical-layer ops of the OpenCL backend (backend.h "Categorical layers"): each checks
 * its shapes and views, sets the arguments of its cl/gumbel.cl kernel and enqueues it on the
 * in-order compute queue. Work-group shapes come from the device (clvae_ocl_launch_nd). An
 * absent optional view is passed as another valid buffer of the call with its has_* flag 0. */
#include <math.h>

#include "backend/opencl/ocl_internal.h"

/* rows a multiple of hrows, groups and categories positive. */
static int check_cat(const ocl_ctx *c, const char *op, int rows, int hrows, int G, int K)
{
    if (rows < 0 || hrows < 0 || G <= 0 || K <= 0 || (rows > 0 && (hrows <= 0 || rows % hrows)))
        return clvae_error(CLVAE_ERR_INTERNAL,
                           "opencl %s on \"%s\": bad shape rows %d hrows %d groups %d cats %d", op,
                           c->dev.name, rows, hrows, G, K);
    return CLVAE_OK;
}

int clvae_ocl_gumbel(void *ctx, const clvae_gumbel_args *a)
{
    ocl_ctx *c = ctx;
    const char *op = "gumbel";
    cl_mem lm, gm, ym, zm;
    cl_ulong lo, go, yo, zo, seed = a->seed, step = a->step;
    cl_uint rows = (cl_uint)a->rows, hrows = (cl_uint)a->hrows, G = (cl_uint)a->groups;
    cl_uint K = (cl_uint)a->cats, stream = a->stream, row0 = a->noise_row0;
    cl_int hard = a->hard, given = a->noise_given, has_y = a->y.buf != NULL;
    float tau = a->tau;
    size_t n = (size_t)a->rows * a->groups * a->cats;
    int st = check_cat(c, op, a->rows, a->hrows, a->groups, a->cats);
    if (st || n == 0) return st;
    st = clvae_ocl_view(c, op, "logits", a->logits, (size_t)a->hrows * G * K, &lm, &lo);
    if (!st) st = clvae_ocl_view(c, op, "g", a->g, n, &gm, &go);
    if (!st) st = clvae_ocl_view(c, op, "z", a->z, n, &zm, &zo);
    if (!st && has_y) st = clvae_ocl_view(c, op, "y", a->y, n, &ym, &yo);
    if (st) return st;
    if (!has_y) {
        ym = zm; /* never written */
        yo = 0;
    }
    ocl_arg args[] = {OCL_ARG(lm),    OCL_ARG(lo),    OCL_ARG(gm),   OCL_ARG(go),   OCL_ARG(ym),
                      OCL_ARG(yo),    OCL_ARG(zm),    OCL_ARG(zo),   OCL_ARG(rows), OCL_ARG(hrows),
                      OCL_ARG(G),     OCL_ARG(K),     OCL_ARG(tau),  OCL_ARG(hard), OCL_ARG(given),
                      OCL_ARG(has_y), OCL_ARG(seed),  OCL_ARG(step), OCL_ARG(stream),
                      OCL_ARG(row0)};
    size_t items[2] = {G, rows};
    return clvae_ocl_launch_nd(c, OCL_K_GUMBEL, op, 2, items, args, OCL_NARGS(args));
}

int clvae_ocl_cat_terms(void *ctx, const clvae_cat_terms_args *a)
{
    ocl_ctx *c = ctx;
    const char *op = "cat_terms";
    cl_mem lm, zm, km, sm;
    cl_ulong lo, zo, ko, so;
    cl_int has_z = a->z.buf != NULL, has_s = has_z && a->kl_sum.buf != NULL, init = a->sum_init;
    cl_uint hrows = (cl_uint)a->hrows, G = (cl_uint)a->groups, K = (cl_uint)a->cats;
    cl_uint n = has_z ? (cl_uint)a->rows : hrows;
    float log_k = logf((float)a->cats); /* the reference's value */
    int st = check_cat(c, op, a->rows, a->hrows, a->groups, a->cats);
    if (st || n == 0) return st;
    st = clvae_ocl_view(c, op, "logits", a->logits, (size_t)a->hrows * G * K, &lm, &lo);
    if (!st) st = clvae_ocl_view(c, op, "kl", a->kl, n, &km, &ko);
    if (!st && has_z) st = clvae_ocl_view(c, op, "z", a->z, (size_t)n * G * K, &zm, &zo);
    if (!st && has_s) st = clvae_ocl_view(c, op, "kl_sum", a->kl_sum, n, &sm, &so);
    if (st) return st;
    if (!has_z) {
        zm = lm; /* never read */
        zo = 0;
    }
    if (!has_s) {
        sm = km; /* never written */
        so = 0;
    }
    ocl_arg args[] = {OCL_ARG(lm), OCL_ARG(lo),    OCL_ARG(zm),    OCL_ARG(zo),    OCL_ARG(km),
                      OCL_ARG(ko), OCL_ARG(sm),    OCL_ARG(so),    OCL_ARG(n),     OCL_ARG(hrows),
                      OCL_ARG(G),  OCL_ARG(K),     OCL_ARG(log_k), OCL_ARG(has_z), OCL_ARG(has_s),
                      OCL_ARG(init)};
    return clvae_ocl_launch(c, OCL_K_CAT_TERMS, op, n, 0, args, OCL_NARGS(args));
}

int clvae_ocl_cat_bwd(void *ctx, const clvae_cat_bwd_args *a)
{
    ocl_ctx *c = ctx;
    const char *op = "cat_bwd";
    cl_mem lm, ym, dzm, dm;
    cl_ulong lo, yo, dzo, dlo;
    cl_uint H = (cl_uint)a->hrows, S = (cl_uint)a->samples, G = (cl_uint)a->groups;
    cl_uint K = (cl_uint)a->cats;
    float tau = a->tau, klw = a->kl_weight;
    size_t nh = (size_t)a->hrows * G * K, n = nh * (a->samples > 0 ? a->samples : 0);
    int st = check_cat(c, op, a->hrows * a->samples, a->hrows, a->groups, a->cats);
    if (!st && a->samples < 1)
        st = clvae_error(CLVAE_ERR_INTERNAL, "opencl %s on \"%s\": %d samples", op, c->dev.name,
                         a->samples);
    if (st || nh == 0) return st;
    st = clvae_ocl_view(c, op, "logits", a->logits, nh, &lm, &lo);
    if (!st) st = clvae_ocl_view(c, op, "y", a->y, n, &ym, &yo);
    if (!st) st = clvae_ocl_view(c, op, "dz", a->dz, n, &dzm, &dzo);
    if (!st) st = clvae_ocl_view(c, op, "dlogits", a->dlogits, nh, &dm, &dlo);
    if (st) return st;
    ocl_arg args[] = {OCL_ARG(lm),  OCL_ARG(lo),  OCL_ARG(ym), OCL_ARG(yo),  OCL_ARG(dzm),
                      OCL_ARG(dzo), OCL_ARG(dm),  OCL_ARG(dlo), OCL_ARG(H),  OCL_ARG(S),
                      OCL_ARG(G),   OCL_ARG(K),   OCL_ARG(tau), OCL_ARG(klw)};
    size_t items[2] = {G, H};
    return clvae_ocl_launch_nd(c, OCL_K_CAT_BWD, op, 2, items, args, OCL_NARGS(args));
}
