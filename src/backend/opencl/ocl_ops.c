/* The kernel-backed ops of the OpenCL backend: each checks its views, sets the kernel's
 * arguments and enqueues it on the in-order compute queue (kernels in cl/). */
#include <math.h>
#include <stdint.h>

#include "backend/opencl/ocl_internal.h"

/* Kernels index (rows, cols)-shaped work with 32-bit integers. */
static int check_u32(const ocl_ctx *c, const char *op, size_t a, size_t b)
{
    if (b != 0 && a > UINT32_MAX / b)
        return clvae_error(CLVAE_ERR_UNSUPPORTED,
                           "opencl %s on \"%s\": %zu x %zu elements exceed 2^32 per launch", op,
                           c->dev.name, a, b);
    return CLVAE_OK;
}

static int check_dims(const ocl_ctx *c, const char *op, int a, int b)
{
    if (a < 0 || b < 0)
        return clvae_error(CLVAE_ERR_INTERNAL, "opencl %s on \"%s\": negative size (%d, %d)", op,
                           c->dev.name, a, b);
    return check_u32(c, op, (size_t)a, (size_t)b);
}

/* Sizes of (samples, batch, latent): non-negative, product < 2^32. */
static int check_sbr(const ocl_ctx *c, const char *op, int s, int b, int r)
{
    int st = check_dims(c, op, s, b);
    if (!st) st = check_dims(c, op, r, 1);
    return st ? st : check_u32(c, op, (size_t)s * (size_t)b, (size_t)r);
}

/* Work-items of a kernel that takes n floats c->vw at a time: one per vector, one per tail
 * element. */
static size_t vec_items(const ocl_ctx *c, size_t n)
{
    return n / c->vw + n % c->vw;
}

int clvae_ocl_fill(void *ctx, clvae_view dst, size_t n, float value)
{
    ocl_ctx *c = ctx;
    cl_mem y;
    cl_ulong yoff, nn = n;
    int st = clvae_ocl_view(c, "fill", "dst", dst, n, &y, &yoff);
    if (st) return st;
    ocl_arg args[] = {OCL_ARG(y), OCL_ARG(yoff), OCL_ARG(nn), OCL_ARG(value)};
    return clvae_ocl_launch(c, OCL_K_FILL, "fill", n, 0, args, OCL_NARGS(args));
}

int clvae_ocl_bias_act(void *ctx, clvae_act act, int rows, int cols, clvae_view bias, clvae_view y)
{
    ocl_ctx *c = ctx;
    cl_mem ym, bm;
    cl_ulong yoff, boff;
    cl_uint r = (cl_uint)rows, n = (cl_uint)cols;
    cl_int a = act;
    int st = check_dims(c, "bias_act", rows, cols);
    if (!st) st = clvae_ocl_view(c, "bias_act", "y", y, (size_t)rows * cols, &ym, &yoff);
    if (!st) st = clvae_ocl_view(c, "bias_act", "bias", bias, (size_t)cols, &bm, &boff);
    if (st) return st;
    ocl_arg args[] = {OCL_ARG(ym), OCL_ARG(yoff), OCL_ARG(bm), OCL_ARG(boff),
                      OCL_ARG(r),  OCL_ARG(n),    OCL_ARG(a)};
    size_t items[2] = {vec_items(c, n), r};
    return clvae_ocl_launch_nd(c, OCL_K_BIAS_ACT, "bias_act", 2, items, args, OCL_NARGS(args));
}

int clvae_ocl_act_bwd(void *ctx, clvae_act act, int rows, int cols, clvae_view y, clvae_view dy)
{
    ocl_ctx *c = ctx;
    cl_mem ym, dm;
    cl_ulong yoff, doff, n = (cl_ulong)rows * (cl_ulong)cols;
    cl_int a = act;
    int st = check_dims(c, "act_bwd", rows, cols);
    if (!st) st = clvae_ocl_view(c, "act_bwd", "y", y, n, &ym, &yoff);
    if (!st) st = clvae_ocl_view(c, "act_bwd", "dy", dy, n, &dm, &doff);
    if (st) return st;
    ocl_arg args[] = {OCL_ARG(ym),   OCL_ARG(yoff), OCL_ARG(dm),
                      OCL_ARG(doff), OCL_ARG(n),    OCL_ARG(a)};
    return clvae_ocl_launch(c, OCL_K_ACT_BWD, "act_bwd", vec_items(c, n), 0, args,
                            OCL_NARGS(args));
}

int clvae_ocl_col_sum(void *ctx, int rows, int cols, clvae_view x, clvae_view out)
{
    ocl_ctx *c = ctx;
    cl_mem xm, om;
    cl_ulong xoff, ooff;
    cl_uint r = (cl_uint)rows, n = (cl_uint)cols;
    int st = check_dims(c, "col_sum", rows, cols);
    if (!st) st = clvae_ocl_view(c, "col_sum", "x", x, (size_t)rows * cols, &xm, &xoff);
    if (!st) st = clvae_ocl_view(c, "col_sum", "out", out, (size_t)cols, &om, &ooff);
    if (st) return st;
    ocl_arg args[] = {OCL_ARG(xm), OCL_ARG(xoff), OCL_ARG(r),
                      OCL_ARG(n),  OCL_ARG(om),   OCL_ARG(ooff)};
    return clvae_ocl_launch(c, OCL_K_COL_SUM, "col_sum", vec_items(c, n), 0, args,
                            OCL_NARGS(args));
}

int clvae_ocl_act_bwd_col_sum(void *ctx, clvae_act act, int rows, int cols, clvae_view y,
                              clvae_view dy, clvae_view db)
{
    ocl_ctx *c = ctx;
    const char *op = "act_bwd_col_sum";
    cl_mem ym, dm, bm;
    cl_ulong yoff, doff, boff;
    cl_uint r = (cl_uint)rows, n = (cl_uint)cols;
    cl_int a = act;
    int st = check_dims(c, op, rows, cols);
    if (!st) st = clvae_ocl_view(c, op, "y", y, (size_t)rows * cols, &ym, &yoff);
    if (!st) st = clvae_ocl_view(c, op, "dy", dy, (size_t)rows * cols, &dm, &doff);
    if (!st) st = clvae_ocl_view(c, op, "db", db, (size_t)cols, &bm, &boff);
    if (st) return st;
    ocl_arg args[] = {OCL_ARG(ym), OCL_ARG(yoff), OCL_ARG(dm), OCL_ARG(doff), OCL_ARG(r),
                      OCL_ARG(n),  OCL_ARG(a),    OCL_ARG(bm), OCL_ARG(boff)};
    return clvae_ocl_launch(c, OCL_K_ACT_BWD_COL_SUM, op, vec_items(c, n), 0, args,
                            OCL_NARGS(args));
}

int clvae_ocl_reparam(void *ctx, const clvae_reparam_args *a)
{
    ocl_ctx *c = ctx;
    cl_mem hm, zm, em, km;
    cl_ulong hoff, zoff, eoff, koff, seed = a->seed, step = a->step;
    cl_uint B = (cl_uint)a->batch, S = (cl_uint)a->samples, R = (cl_uint)a->latent;
    cl_uint stream = a->stream;
    cl_int given = a->eps_given;
    cl_uint row0 = a->noise_row0, G = a->noise_batch ? a->noise_batch : B; /* shard's noise */
    size_t n = (size_t)S * B * R;
    int st = check_sbr(c, "reparam", a->samples, a->batch, a->latent);
    if (!st) st = check_u32(c, "reparam", (size_t)S * G, (size_t)R); /* global noise index */
    if (!st) st = clvae_ocl_view(c, "reparam", "heads", a->heads, (size_t)B * 2 * R, &hm, &hoff);
    if (!st) st = clvae_ocl_view(c, "reparam", "z", a->z, n, &zm, &zoff);
    if (!st) st = clvae_ocl_view(c, "reparam", "eps", a->eps, n, &em, &eoff);
    if (!st) st = clvae_ocl_view(c, "reparam", "kl", a->kl, B, &km, &koff);
    if (st) return st;
    cl_mem state = NULL; /* the step's scalar; a recorded command reads the step state */
    ocl_arg args[] = {OCL_ARG(hm),   OCL_ARG(hoff), OCL_ARG(zm),   OCL_ARG(zoff),   OCL_ARG(em),
                      OCL_ARG(eoff), OCL_ARG(km),   OCL_ARG(koff), OCL_ARG(B),      OCL_ARG(S),
                      OCL_ARG(R),    OCL_ARG(seed), OCL_ARG(step), OCL_ARG(stream), OCL_ARG(given),
                      OCL_ARG(row0), OCL_ARG(G),    OCL_ARG(state)};
    size_t items[3] = {R / c->vw + (R % c->vw != 0), B, S}; /* vectors, then one for the tail */
    if (clvae_ocl_recording(c)) clvae_ocl_cmdbuf_step_arg(c, OCL_NARGS(args) - 1, a->step, 0);
    return clvae_ocl_launch_nd(c, OCL_K_REPARAM, "reparam", 3, items, args, OCL_NARGS(args));
}

int clvae_ocl_reparam_bwd(void *ctx, const clvae_reparam_bwd_args *a)
{
    ocl_ctx *c = ctx;
    cl_mem hm, em, dzm, dhm;
    cl_ulong hoff, eoff, dzoff, dhoff;
    cl_uint B = (cl_uint)a->batch, S = (cl_uint)a->samples, R = (cl_uint)a->latent;
    float klw = a->kl_weight;
    size_t n = (size_t)S * B * R;
    int st = check_sbr(c, "reparam_bwd", a->samples, a->batch, a->latent);
    if (!st)
        st = clvae_ocl_view(c, "reparam_bwd", "heads", a->heads, (size_t)B * 2 * R, &hm, &hoff);
    if (!st) st = clvae_ocl_view(c, "reparam_bwd", "eps", a->eps, n, &em, &eoff);
    if (!st) st = clvae_ocl_view(c, "reparam_bwd", "dz", a->dz, n, &dzm, &dzoff);
    if (!st)
        st = clvae_ocl_view(c, "reparam_bwd", "dheads", a->dheads, (size_t)B * 2 * R, &dhm, &dhoff);
    if (st) return st;
    ocl_arg args[] = {OCL_ARG(hm),  OCL_ARG(hoff),  OCL_ARG(em),  OCL_ARG(eoff),
                      OCL_ARG(dzm), OCL_ARG(dzoff), OCL_ARG(dhm), OCL_ARG(dhoff),
                      OCL_ARG(B),   OCL_ARG(S),     OCL_ARG(R),   OCL_ARG(klw)};
    size_t items[2] = {vec_items(c, R), B};
    return clvae_ocl_launch_nd(c, OCL_K_REPARAM_BWD, "reparam_bwd", 2, items, args,
                               OCL_NARGS(args));
}

/* Checks the likelihood's shapes and resolves its views (dout optional). */
static int lik_views(ocl_ctx *c, const clvae_lik_args *a, cl_mem mem[4], cl_ulong off[4])
{
    const char *op = "likelihood";
    size_t ld = (size_t)a->dim * (a->kind == CLVAE_LIK_GAUSSIAN_LEARNED ? 2 : 1);
    int st = check_dims(c, op, a->rows, a->dim * 2);
    if (!st && (a->batch <= 0 || a->rows % a->batch != 0))
        st = clvae_error(CLVAE_ERR_INTERNAL,
                         "opencl %s on \"%s\": rows %d is not a multiple of "
                         "batch %d",
                         op, c->dev.name, a->rows, a->batch);
    if (!st) st = clvae_ocl_view(c, op, "out", a->out, (size_t)a->rows * ld, &mem[0], &off[0]);
    if (!st) st = clvae_ocl_view(c, op, "x", a->x, (size_t)a->batch * a->dim, &mem[1], &off[1]);
    if (!st) st = clvae_ocl_view(c, op, "loss", a->loss, (size_t)a->rows, &mem[2], &off[2]);
    if (!st && a->dout.buf)
        st = clvae_ocl_view(c, op, "dout", a->dout, (size_t)a->rows * ld, &mem[3], &off[3]);
    if (!st && !a->dout.buf) {
        mem[3] = mem[2]; /* never written (has_grad = 0): any valid buffer will do */
        off[3] = 0;
    }
    return st;
}

int clvae_ocl_likelihood(void *ctx, const clvae_lik_args *a)
{
    ocl_ctx *c = ctx;
    cl_mem m[4];
    cl_ulong o[4];
    if (a->rows == 0) return CLVAE_OK;
    int st = lik_views(c, a, m, o);
    if (st) return st;
    double var = (double)a->sigma_x * a->sigma_x;
    cl_int kind = a->kind, has_grad = a->dout.buf != NULL;
    cl_uint batch = (cl_uint)a->batch, dim = (cl_uint)a->dim;
    float inv_var = 1.0f / (a->sigma_x * a->sigma_x), scale = a->grad_scale;
    float cst =
        a->kind == CLVAE_LIK_GAUSSIAN ? (float)(0.5 * a->dim * log(2.0 * M_PI * var)) : 0.0f;
    size_t local = c->local[OCL_K_LIKELIHOOD];
    ocl_arg args[] = {
        OCL_ARG(m[0]), OCL_ARG(o[0]),  OCL_ARG(m[1]),     OCL_ARG(o[1]),
        OCL_ARG(m[2]), OCL_ARG(o[2]),  OCL_ARG(m[3]),     OCL_ARG(o[3]),
        OCL_ARG(kind), OCL_ARG(batch), OCL_ARG(dim),      OCL_ARG(inv_var),
        OCL_ARG(cst),  OCL_ARG(scale), OCL_ARG(has_grad), OCL_LOCAL(local * sizeof(float))};
    return clvae_ocl_launch(c, OCL_K_LIKELIHOOD, "likelihood", (size_t)a->rows * local, local, args,
                            OCL_NARGS(args));
}

/* One launch of clvae_sum_chunks over `groups` work-groups. */
static int sum_chunks(ocl_ctx *c, cl_mem x, cl_ulong xoff, cl_ulong n, cl_ulong chunk,
                      size_t groups, cl_mem out, cl_ulong ooff, float scale, cl_int accumulate)
{
    size_t local = c->local[OCL_K_SUM_CHUNKS];
    ocl_arg args[] = {OCL_ARG(x),     OCL_ARG(xoff),       OCL_ARG(n),
                      OCL_ARG(chunk), OCL_ARG(out),        OCL_ARG(ooff),
                      OCL_ARG(scale), OCL_ARG(accumulate), OCL_LOCAL(local * sizeof(float))};
    return clvae_ocl_launch(c, OCL_K_SUM_CHUNKS, "sum_add", groups * local, local, args,
                            OCL_NARGS(args));
}

/* acc[0] += scale * sum(x): one work-group for small n; otherwise up to OCL_MAX_PARTIALS groups
 * write partial sums and one group adds them up. The shape depends only on n and the device's
 * work-group size, so two runs give the same bits. */
int clvae_ocl_sum_add(void *ctx, size_t n, clvae_view x, float scale, clvae_view acc)
{
    ocl_ctx *c = ctx;
    cl_mem xm, am;
    cl_ulong xoff, aoff;
    int st = clvae_ocl_view(c, "sum_add", "x", x, n, &xm, &xoff);
    if (!st) st = clvae_ocl_view(c, "sum_add", "acc", acc, 1, &am, &aoff);
    if (st || n == 0) return st;
    size_t local = c->local[OCL_K_SUM_CHUNKS], per_group = local * 16;
    if (n <= per_group) return sum_chunks(c, xm, xoff, n, n, 1, am, aoff, scale, 1);
    size_t groups = (n + per_group - 1) / per_group;
    if (groups > OCL_MAX_PARTIALS) groups = OCL_MAX_PARTIALS;
    cl_ulong chunk = (n + groups - 1) / groups;
    groups = (n + chunk - 1) / chunk;
    st = sum_chunks(c, xm, xoff, n, chunk, groups, c->partials, 0, 1.0f, 0);
    return st ? st : sum_chunks(c, c->partials, 0, groups, groups, 1, am, aoff, scale, 1);
}

/* Both sums in one launch of two work-groups when each fits the one-group path of sum_add with
 * the same work-group size (so the same tree); otherwise the two sum_adds. */
int clvae_ocl_sum_add2(void *ctx, size_t n0, clvae_view x0, float s0, clvae_view acc0, size_t n1,
                       clvae_view x1, float s1, clvae_view acc1)
{
    ocl_ctx *c = ctx;
    const char *op = "sum_add2";
    size_t local = c->local[OCL_K_SUM_CHUNKS], per_group = local * 16;
    if (n0 == 0 || n1 == 0 || n0 > per_group || n1 > per_group ||
        c->local[OCL_K_SUM_ADD2] != local) {
        int st = clvae_ocl_sum_add(ctx, n0, x0, s0, acc0);
        return st ? st : clvae_ocl_sum_add(ctx, n1, x1, s1, acc1);
    }
    cl_mem xm0, am0, xm1, am1;
    cl_ulong xo0, ao0, xo1, ao1, nn0 = n0, nn1 = n1;
    int st = clvae_ocl_view(c, op, "x", x0, n0, &xm0, &xo0);
    if (!st) st = clvae_ocl_view(c, op, "acc", acc0, 1, &am0, &ao0);
    if (!st) st = clvae_ocl_view(c, op, "x", x1, n1, &xm1, &xo1);
    if (!st) st = clvae_ocl_view(c, op, "acc", acc1, 1, &am1, &ao1);
    if (st) return st;
    ocl_arg args[] = {OCL_ARG(xm0), OCL_ARG(xo0), OCL_ARG(nn0), OCL_ARG(s0),  OCL_ARG(am0),
                      OCL_ARG(ao0), OCL_ARG(xm1), OCL_ARG(xo1), OCL_ARG(nn1), OCL_ARG(s1),
                      OCL_ARG(am1), OCL_ARG(ao1), OCL_LOCAL(local * sizeof(float))};
    return clvae_ocl_launch(c, OCL_K_SUM_ADD2, op, 2 * local, local, args, OCL_NARGS(args));
}

int clvae_ocl_reparam_bwd_col_sum(void *ctx, const clvae_reparam_bwd_args *a, clvae_view db)
{
    ocl_ctx *c = ctx;
    const char *op = "reparam_bwd_col_sum";
    cl_mem hm, em, dzm, dhm, bm;
    cl_ulong hoff, eoff, dzoff, dhoff, boff;
    cl_uint B = (cl_uint)a->batch, S = (cl_uint)a->samples, R = (cl_uint)a->latent;
    float klw = a->kl_weight;
    size_t n = (size_t)S * B * R;
    int st = check_sbr(c, op, a->samples, a->batch, a->latent);
    if (!st) st = clvae_ocl_view(c, op, "heads", a->heads, (size_t)B * 2 * R, &hm, &hoff);
    if (!st) st = clvae_ocl_view(c, op, "eps", a->eps, n, &em, &eoff);
    if (!st) st = clvae_ocl_view(c, op, "dz", a->dz, n, &dzm, &dzoff);
    if (!st) st = clvae_ocl_view(c, op, "dheads", a->dheads, (size_t)B * 2 * R, &dhm, &dhoff);
    if (!st) st = clvae_ocl_view(c, op, "db", db, (size_t)2 * R, &bm, &boff);
    if (st) return st;
    ocl_arg args[] = {OCL_ARG(hm),  OCL_ARG(hoff),  OCL_ARG(em),  OCL_ARG(eoff), OCL_ARG(dzm),
                      OCL_ARG(dzoff), OCL_ARG(dhm), OCL_ARG(dhoff), OCL_ARG(B),  OCL_ARG(S),
                      OCL_ARG(R),   OCL_ARG(klw),   OCL_ARG(bm),  OCL_ARG(boff)};
    return clvae_ocl_launch(c, OCL_K_REPARAM_BWD_COL_SUM, op, vec_items(c, R), 0, args,
                            OCL_NARGS(args));
}

/* Bias corrections exactly as the reference computes them (host float math): step = lr / (1 -
 * beta1^t), sbc2 = sqrt(1 - beta2^t). The plain launch and a replayed step state both use it. */
void clvae_ocl_adam_scalars(float lr, float beta1, float beta2, uint64_t t, float *step,
                            float *sbc2)
{
    float bc1 = 1.0f - powf(beta1, (float)t), bc2 = 1.0f - powf(beta2, (float)t);
    *step = lr / bc1;
    *sbc2 = sqrtf(bc2);
}

int clvae_ocl_optimizer(void *ctx, const clvae_opt_args *a)
{
    ocl_ctx *c = ctx;
    cl_mem pm, gm, mm, vm;
    cl_ulong po, go, mo, vo, n = a->n;
    bool adam = a->kind == CLVAE_OPT_ADAM;
    int st = clvae_ocl_view(c, "optimizer", "params", a->params, a->n, &pm, &po);
    if (!st) st = clvae_ocl_view(c, "optimizer", "grads", a->grads, a->n, &gm, &go);
    if (!st) st = clvae_ocl_view(c, "optimizer", "m", a->m, a->n, &mm, &mo);
    if (!st && adam) st = clvae_ocl_view(c, "optimizer", "v", a->v, a->n, &vm, &vo);
    if (st || n == 0) return st;
    if (!adam) {
        float lr = a->lr, mom = a->momentum;
        ocl_arg args[] = {OCL_ARG(pm), OCL_ARG(po), OCL_ARG(gm), OCL_ARG(go), OCL_ARG(mm),
                          OCL_ARG(mo), OCL_ARG(n),  OCL_ARG(lr), OCL_ARG(mom)};
        return clvae_ocl_launch(c, OCL_K_SGD, "optimizer", vec_items(c, n), 0, args,
                                OCL_NARGS(args));
    }
    float step, sbc2, b1 = a->beta1, b2 = a->beta2, eps = a->eps;
    clvae_ocl_adam_scalars(a->lr, a->beta1, a->beta2, a->t, &step, &sbc2);
    cl_mem state = NULL; /* the step's scalars; a recorded command reads the step state */
    ocl_arg args[] = {OCL_ARG(pm), OCL_ARG(po),   OCL_ARG(gm),   OCL_ARG(go), OCL_ARG(mm),
                      OCL_ARG(mo), OCL_ARG(vm),   OCL_ARG(vo),   OCL_ARG(n),  OCL_ARG(b1),
                      OCL_ARG(b2), OCL_ARG(step), OCL_ARG(sbc2), OCL_ARG(eps), OCL_ARG(state)};
    if (clvae_ocl_recording(c)) {
        clvae_ocl_cmdbuf_step_arg(c, OCL_NARGS(args) - 1, a->t, 1);
        clvae_ocl_cmdbuf_adam(c, a->lr, a->beta1, a->beta2);
    }
    return clvae_ocl_launch(c, OCL_K_ADAM, "optimizer", vec_items(c, n), 0, args,
                            OCL_NARGS(args));
}

/* dst (count, dim) = rows idx[i] of src (u8 scaled by 1/255, or f32). Indices live on the
 * device: the kernels write NaN for a row past the end of src (src_elems elements), so a bad
 * index shows up in the NaN checks instead of reading out of bounds. */
static int gather(ocl_ctx *c, ocl_kernel_id k, const char *op, clvae_view dst, clvae_buffer *src,
                  size_t elem_size, clvae_view idx_u32, int count, int dim)
{
    cl_mem dm, im;
    cl_ulong doff, ioff;
    cl_uint n = (cl_uint)count, d = (cl_uint)dim;
    int st = check_dims(c, op, count, dim);
    if (!st) st = clvae_ocl_view(c, op, "dst", dst, (size_t)count * dim, &dm, &doff);
    if (!st) st = clvae_ocl_view(c, op, "idx", idx_u32, (size_t)count, &im, &ioff);
    if (!st && !src) st = clvae_error(CLVAE_ERR_INTERNAL, "opencl %s: no source buffer", op);
    if (st) return st;
    cl_ulong src_elems = src->bytes / elem_size;
    ocl_arg args[] = {OCL_ARG(dm), OCL_ARG(doff), OCL_ARG(src->mem), OCL_ARG(src_elems),
                      OCL_ARG(im), OCL_ARG(ioff), OCL_ARG(n),        OCL_ARG(d)};
    size_t items[2] = {d, n};
    return clvae_ocl_launch_nd(c, k, op, 2, items, args, OCL_NARGS(args));
}

int clvae_ocl_gather_u8(void *ctx, clvae_view dst, clvae_buffer *src_u8, clvae_view idx_u32,
                        int count, int dim)
{
    return gather(ctx, OCL_K_GATHER_U8, "gather_u8", dst, src_u8, 1, idx_u32, count, dim);
}

int clvae_ocl_gather_f32(void *ctx, clvae_view dst, clvae_buffer *src_f32, clvae_view idx_u32,
                         int count, int dim)
{
    return gather(ctx, OCL_K_GATHER_F32, "gather_f32", dst, src_f32, sizeof(float), idx_u32, count,
                  dim);
}
