/* The GEMM op: row-major SGEMM on (buffer, offset) views, through clvae's register-tiled or
 * packed kernels where the tuning file chose one for the shape (tiled.c), else CLBlast with a
 * preallocated temporary buffer, so the indirect path does not allocate device memory on
 * every call. */
#include <stdint.h>

#include <clblast_c.h>

#include "backend/opencl/gemm/run.h"
#include "backend/opencl/ocl_internal.h"
#include "core/log.h"

typedef struct gemm_shape {
    bool ta, tb;
    int m, n, k, lda, ldb, ldc;
} gemm_shape;

static int gemm_fail(const ocl_ctx *c, const gemm_shape *g, const char *call, int status)
{
    return clvae_error(CLVAE_ERR_DEVICE,
                       "opencl gemm on \"%s\": %s (m=%d n=%d k=%d, %s%s, lda=%d ldb=%d ldc=%d) "
                       "failed: %s (%d)",
                       c->dev.name, call, g->m, g->n, g->k, g->ta ? "A^T" : "A",
                       g->tb ? " B^T" : " B", g->lda, g->ldb, g->ldc,
                       clvae_clblast_status_name(status), status);
}

/* Floats a row-major operand (rows x cols as stored, leading dimension ld) spans. */
int clvae_ocl_gemm_enqueue(ocl_ctx *c, cl_kernel kern, const ocl_arg *args, int nargs, cl_uint dims,
                           const size_t *global, const size_t *local)
{
    for (int i = 0; i < nargs; i++) {
        cl_int err = clSetKernelArg(kern, (cl_uint)i, args[i].size, args[i].value);
        if (err != CL_SUCCESS) return clvae_ocl_fail(c, "gemm", "clSetKernelArg", err);
    }
    cl_event ev = NULL;
    cl_int err = clEnqueueNDRangeKernel(c->queue, kern, dims, NULL, global, local, 0, NULL,
                                        OCL_PROF_EVENT(c, ev));
    if (err != CL_SUCCESS) return clvae_ocl_fail(c, "gemm", "clEnqueueNDRangeKernel", err);
    clvae_ocl_prof_compute(c, "gemm", ev);
    c->n_launch++; /* step accounting (ocl_launch.c); the gemm slot adds the host time */
    clvae_ocl_cmdbuf_add(c, kern, args, nargs, dims, global, local);
    return CLVAE_OK;
}

static size_t extent(int rows, int cols, int ld)
{
    return rows == 0 || cols == 0 ? 0 : (size_t)(rows - 1) * ld + cols;
}

static int check_shape(const ocl_ctx *c, const gemm_shape *g)
{
    int a_cols = g->ta ? g->m : g->k, b_cols = g->tb ? g->k : g->n;
    if (g->m < 0 || g->n < 0 || g->k < 0 || g->lda < (a_cols > 1 ? a_cols : 1) ||
        g->ldb < (b_cols > 1 ? b_cols : 1) || g->ldc < (g->n > 1 ? g->n : 1))
        return clvae_error(CLVAE_ERR_INTERNAL,
                           "opencl gemm on \"%s\": bad shape m=%d n=%d k=%d lda=%d ldb=%d ldc=%d",
                           c->dev.name, g->m, g->n, g->k, g->lda, g->ldb, g->ldc);
    return CLVAE_OK;
}

/* C = beta * C for k = 0 (CLBlast rejects k = 0; BLAS defines it). */
static int scale_c(ocl_ctx *c, const gemm_shape *g, cl_mem cm, cl_ulong coff, float beta)
{
    cl_uint m = (cl_uint)g->m, n = (cl_uint)g->n, ldc = (cl_uint)g->ldc;
    if ((size_t)m * n > UINT32_MAX)
        return clvae_error(CLVAE_ERR_UNSUPPORTED, "opencl gemm: k = 0 with a huge C");
    ocl_arg args[] = {OCL_ARG(cm), OCL_ARG(coff), OCL_ARG(m),
                      OCL_ARG(n),  OCL_ARG(ldc),  OCL_ARG(beta)};
    return clvae_ocl_launch(c, OCL_K_SCALE_MATRIX, "gemm", (size_t)m * n, 0, args, OCL_NARGS(args));
}

/* Makes c->gemm_tmp hold at least `bytes`. The old buffer is released at once: OpenCL keeps it
 * alive until the GEMMs already enqueued with it have finished. */
static int ensure_temp(ocl_ctx *c, size_t bytes)
{
    if (bytes <= c->gemm_tmp_bytes) return CLVAE_OK;
    size_t want = bytes + bytes / 4;
    if (c->gemm_tmp) clReleaseMemObject(c->gemm_tmp);
    c->gemm_tmp = NULL;
    c->gemm_tmp_bytes = 0;
    cl_int err;
    c->gemm_tmp = clCreateBuffer(c->context, CL_MEM_READ_WRITE, want, NULL, &err);
    if (err != CL_SUCCESS) return clvae_ocl_fail(c, "gemm", "clCreateBuffer(temp)", err);
    c->gemm_tmp_bytes = want;
    CLVAE_DEBUG("opencl gemm: temporary buffer grown to %zu bytes", want);
    return CLVAE_OK;
}

static int run_clblast(ocl_ctx *c, const gemm_shape *g, float alpha, float beta, cl_mem am,
                       cl_ulong ao, cl_mem bm, cl_ulong bo, cl_mem cm, cl_ulong co)
{
    /* Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T, which CLBlast runs with
     * B as its first operand. Its indirect kernel keeps C column-major, so this call skips the
     * two transposes of C (in and out) that a row-major call costs; the direct kernel takes
     * either form at the same cost. */
    const CLBlastLayout L = CLBlastLayoutColMajor;
    CLBlastTranspose ta = g->tb ? CLBlastTransposeYes : CLBlastTransposeNo; /* first: B */
    CLBlastTranspose tb = g->ta ? CLBlastTransposeYes : CLBlastTransposeNo; /* second: A */
    int m1 = g->n, n1 = g->m, ld1 = g->ldb, ld2 = g->lda;
    cl_mem x1 = bm, x2 = am;
    cl_ulong o1 = bo, o2 = ao;
    size_t tmp = 0;
    cl_event ev = NULL;
    int st = clvae_ocl_gemm_sets_select(c, g->ta, g->tb, g->m, g->n, g->k);
    if (st) return st;
    CLBlastStatusCode s = CLBlastSGemmTempBufferSize(L, ta, tb, m1, n1, g->k, o1, ld1, o2, ld2, co,
                                                     g->ldc, &c->queue, &tmp);
    if (s != CLBlastSuccess) return gemm_fail(c, g, "CLBlastSGemmTempBufferSize", s);
    st = ensure_temp(c, tmp);
    if (st) return st;
    /* Profiling: CLBlast's event is its last kernel's; a marker before its first one (padding,
     * transposes) gives the whole GEMM's start. */
    cl_event pre = NULL;
    if (clvae_ocl_prof_compute_on(c)) clEnqueueMarkerWithWaitList(c->queue, 0, NULL, &pre);
    if (tmp == 0) /* the direct kernel: no temporary buffer */
        s = CLBlastSgemm(L, ta, tb, m1, n1, g->k, alpha, x1, o1, ld1, x2, o2, ld2, beta, cm, co,
                         g->ldc, &c->queue, &ev);
    else
        s = CLBlastSgemmWithTempBuffer(L, ta, tb, m1, n1, g->k, alpha, x1, o1, ld1, x2, o2, ld2,
                                       beta, cm, co, g->ldc, &c->queue, &ev, c->gemm_tmp);
    /* CLBlast enqueues its kernels itself, so a step with such a GEMM cannot be recorded
     * (ocl_cmdbuf.c); it counts as one launch, however many kernels CLBlast runs. */
    clvae_ocl_cmdbuf_refuse(c, "a GEMM runs on CLBlast, which enqueues its kernels itself (a step "
                               "is recorded when the tuning file gives all of its GEMM shapes "
                               "clvae's own kernels)");
    c->n_launch++;
    if (s == CLBlastSuccess)
        clvae_ocl_prof_span(c, "gemm", pre, ev); /* takes both; no-op when not profiling */
    else if (ev || pre)
        clvae_ocl_prof_span(c, NULL, pre, ev); /* just releases them */
    return s == CLBlastSuccess ? CLVAE_OK : gemm_fail(c, g, "CLBlastSgemm", s);
}

int clvae_ocl_gemm(void *ctx, bool ta, bool tb, int m, int n, int k, float alpha, clvae_view a,
                   int lda, clvae_view b, int ldb, float beta, clvae_view cv, int ldc)
{
    ocl_ctx *c = ctx;
    gemm_shape g = {ta, tb, m, n, k, lda, ldb, ldc};
    cl_mem am = NULL, bm = NULL, cm;
    cl_ulong ao = 0, bo = 0, co;
    int st = check_shape(c, &g);
    if (!st) st = clvae_ocl_view(c, "gemm", "C", cv, extent(m, n, ldc), &cm, &co);
    if (!st && k > 0)
        st =
            clvae_ocl_view(c, "gemm", "A", a, ta ? extent(k, m, lda) : extent(m, k, lda), &am, &ao);
    if (!st && k > 0)
        st =
            clvae_ocl_view(c, "gemm", "B", b, tb ? extent(n, k, ldb) : extent(k, n, ldb), &bm, &bo);
    if (st || m == 0 || n == 0) return st;
    if (k == 0) return scale_c(c, &g, cm, co, beta);
    st = clvae_ocl_tiled_gemm(c, ta, tb, m, n, k, alpha, am, ao, lda, bm, bo, ldb, beta, cm, co,
                              ldc);
    if (st != 1) return st; /* 1: this shape runs on CLBlast */
    return run_clblast(c, &g, alpha, beta, am, ao, bm, bo, cm, co);
}

/* The fused forward layer on clvae's kernel: views resolved as the GEMM op does; 1 when the
 * shape goes to CLBlast (nothing enqueued). */
static int fused(ocl_ctx *c, const gemm_shape *g, int epi, clvae_view a, clvae_view b,
                 clvae_view bias, clvae_view y)
{
    clvae_gemm_call call = {.ta = g->ta, .tb = g->tb, .m = g->m, .n = g->n, .k = g->k,
                            .alpha = 1.0f, .beta = 0.0f, .lda = g->lda, .ldb = g->ldb,
                            .ldc = g->ldc, .epi = epi};
    int st = check_shape(c, g);
    if (!st) st = clvae_ocl_view(c, "gemm_bias_act", "C", y, extent(g->m, g->n, g->ldc), &call.c,
                                 &call.coff);
    if (!st)
        st = clvae_ocl_view(c, "gemm_bias_act", "A", a,
                            g->ta ? extent(g->k, g->m, g->lda) : extent(g->m, g->k, g->lda),
                            &call.a, &call.aoff);
    if (!st)
        st = clvae_ocl_view(c, "gemm_bias_act", "B", b,
                            g->tb ? extent(g->n, g->k, g->ldb) : extent(g->k, g->n, g->ldb),
                            &call.b, &call.boff);
    if (!st) st = clvae_ocl_view(c, "gemm_bias_act", "bias", bias, (size_t)g->n, &call.bias,
                                 &call.biasoff);
    return st ? st : clvae_ocl_tiled_gemm_epi(c, &call);
}

int clvae_ocl_gemm_bias_act(void *ctx, bool ta, bool tb, int m, int n, int k, clvae_view a,
                            int lda, clvae_view b, int ldb, clvae_act act, clvae_view bias,
                            clvae_view y)
{
    ocl_ctx *c = ctx;
    int epi = act == CLVAE_ACT_RELU ? 2 : act == CLVAE_ACT_IDENTITY ? 1 : 0;
    gemm_shape g = {ta, tb, m, n, k, lda, ldb, n};
    if (epi && m > 0 && n > 0 && k > 0 && clvae_ocl_tiled_takes(c, ta, tb, m, n, k)) {
        int st = fused(c, &g, epi, a, b, bias, y);
        if (st != 1) return st;
    }
    int st = clvae_ocl_gemm(ctx, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, y, n);
    return st ? st : clvae_ocl_bias_act(ctx, act, m, n, bias, y);
}

void clvae_ocl_gemm_release(ocl_ctx *c)
{
    if (c->gemm_tmp) clReleaseMemObject(c->gemm_tmp);
    c->gemm_tmp = NULL;
    c->gemm_tmp_bytes = 0;
}
