/* The OpenCL backend: creation on the selected device, the ops table, buffers and transfers.
 * Kernel-backed ops are in ocl_ops.c, GEMM in gemm/ (gemm.c), selection in ocl_device.c.
 * Threads: the kernel objects carry their arguments, so one thread at a time drives the ops of
 * one backend; upload/download touch only the queue, which OpenCL makes thread-safe. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <clblast_c.h>

#include "backend/opencl/ocl_cache.h"
#include "backend/opencl/ocl_internal.h"
#include "backend/opencl/gemm/file.h"
#include "backend/opencl/gemm/run.h"
#include "core/log.h"

/* Live OpenCL backends: CLBlast's program cache (global) is cleared when the last one goes. */
static atomic_int live_backends;

static const char *ocl_device_name(void *ctx)
{
    return ((ocl_ctx *)ctx)->dev.name;
}

static bool ocl_supports(void *ctx, clvae_op op)
{
    return op >= 0 && op < CLVAE_OP_COUNT;
}

/* Checks that [off, off + bytes) lies inside the buffer (transfers need no alignment). */
static int check_range(const ocl_ctx *c, const char *op, clvae_view v, size_t bytes)
{
    if (!v.buf || v.off > v.buf->bytes || bytes > v.buf->bytes - v.off)
        return clvae_error(CLVAE_ERR_INTERNAL,
                           "opencl %s on \"%s\": %zu bytes at offset %zu exceed the buffer", op,
                           c->dev.name, bytes, v.off);
    return CLVAE_OK;
}

static int ocl_buffer_alloc(void *ctx, size_t bytes, clvae_buffer **out)
{
    ocl_ctx *c = ctx;
    cl_int err;
    *out = NULL;
    if (bytes > c->max_alloc)
        return clvae_error(CLVAE_ERR_DEVICE,
                           "opencl buffer_alloc on \"%s\": %zu bytes exceed the device's largest "
                           "allocation (CL_DEVICE_MAX_MEM_ALLOC_SIZE = %zu bytes)",
                           c->dev.name, bytes, c->max_alloc);
    clvae_buffer *b = calloc(1, sizeof *b);
    if (!b) return clvae_error(CLVAE_ERR_NOMEM, "opencl buffer_alloc: out of host memory");
    /* OpenCL has no empty buffers: a 0-byte request gets 4 bytes that no view can reach. */
    b->mem = clCreateBuffer(c->context, CL_MEM_READ_WRITE, bytes ? bytes : 4, NULL, &err);
    if (err != CL_SUCCESS) {
        free(b);
        char call[64];
        snprintf(call, sizeof call, "clCreateBuffer(%zu bytes)", bytes);
        return clvae_ocl_fail(c, "buffer_alloc", call, err);
    }
    b->bytes = bytes;
    *out = b;
    return CLVAE_OK;
}

static void ocl_buffer_free(void *ctx, clvae_buffer *b)
{
    if (!b) return;
    clReleaseMemObject(b->mem); /* deferred by OpenCL until enqueued commands finish */
    free(b);
}

/* Blocking write: the caller may reuse `src` as soon as this returns. */
static int ocl_upload(void *ctx, clvae_view dst, const void *src, size_t bytes)
{
    ocl_ctx *c = ctx;
    int st = check_range(c, "upload", dst, bytes);
    if (st || bytes == 0) return st;
    clvae_ocl_cmdbuf_refuse(c, "an upload in the step");
    cl_int err =
        clEnqueueWriteBuffer(c->queue, dst.buf->mem, CL_TRUE, dst.off, bytes, src, 0, NULL, NULL);
    return err == CL_SUCCESS ? CLVAE_OK : clvae_ocl_fail(c, "upload", "clEnqueueWriteBuffer", err);
}

static int ocl_download(void *ctx, clvae_view src, void *dst, size_t bytes)
{
    ocl_ctx *c = ctx;
    int st = check_range(c, "download", src, bytes);
    if (st || bytes == 0) return st;
    cl_int err =
        clEnqueueReadBuffer(c->queue, src.buf->mem, CL_TRUE, src.off, bytes, dst, 0, NULL, NULL);
    return err == CL_SUCCESS ? CLVAE_OK : clvae_ocl_fail(c, "download", "clEnqueueReadBuffer", err);
}

/* Overlapping regions of one buffer (memmove semantics) go through a temporary buffer. */
static int copy_overlapping(ocl_ctx *c, clvae_view dst, clvae_view src, size_t bytes)
{
    cl_int err;
    cl_mem tmp = clCreateBuffer(c->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS) return clvae_ocl_fail(c, "copy", "clCreateBuffer(temp)", err);
    err = clEnqueueCopyBuffer(c->queue, src.buf->mem, tmp, src.off, 0, bytes, 0, NULL, NULL);
    if (err == CL_SUCCESS)
        err = clEnqueueCopyBuffer(c->queue, tmp, dst.buf->mem, 0, dst.off, bytes, 0, NULL, NULL);
    clReleaseMemObject(tmp);
    return err == CL_SUCCESS ? CLVAE_OK : clvae_ocl_fail(c, "copy", "clEnqueueCopyBuffer", err);
}

static int ocl_copy(void *ctx, clvae_view dst, clvae_view src, size_t n)
{
    ocl_ctx *c = ctx;
    cl_mem dm, sm;
    cl_ulong doff, soff;
    size_t bytes = n * sizeof(float);
    int st = clvae_ocl_view(c, "copy", "dst", dst, n, &dm, &doff);
    if (!st) st = clvae_ocl_view(c, "copy", "src", src, n, &sm, &soff);
    if (st || n == 0 || (dm == sm && dst.off == src.off)) return st;
    if (dm == sm && dst.off < src.off + bytes && src.off < dst.off + bytes) {
        clvae_ocl_cmdbuf_refuse(c, "a buffer copy in the step");
        return copy_overlapping(c, dst, src, bytes);
    }
    clvae_ocl_cmdbuf_refuse(c, "a buffer copy in the step");
    int64_t t0 = clvae_ocl_now_ns();
    cl_int err = clEnqueueCopyBuffer(c->queue, sm, dm, src.off, dst.off, bytes, 0, NULL, NULL);
    if (err != CL_SUCCESS) return clvae_ocl_fail(c, "copy", "clEnqueueCopyBuffer", err);
    clvae_ocl_count(c, t0, 1);
    return CLVAE_OK;
}

/* Step accounting around a GEMM call: the kernels it enqueued (each GEMM path counts its own:
 * tiled and packed kernels, the k = 0 scaling, the bias_act of the unfused fallback, one for a
 * CLBlast call, which also stops a recording itself) and the host time of the whole call. */
typedef struct {
    uint64_t launches, ns;
    int64_t t0;
} gemm_count;

static gemm_count gemm_count_begin(const ocl_ctx *c)
{
    return (gemm_count){c->n_launch, c->enq_ns, clvae_ocl_now_ns()};
}

static int gemm_count_end(ocl_ctx *c, gemm_count g, int st)
{
    uint64_t launched = c->n_launch - g.launches;
    c->n_launch = g.launches;
    c->enq_ns = g.ns;
    if (!st) clvae_ocl_count(c, g.t0, (unsigned)launched);
    return st;
}

static int ocl_gemm_counted(void *ctx, bool ta, bool tb, int m, int n, int k, float alpha,
                            clvae_view a, int lda, clvae_view b, int ldb, float beta, clvae_view cv,
                            int ldc)
{
    gemm_count g = gemm_count_begin(ctx);
    int st = clvae_ocl_gemm(ctx, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, cv, ldc);
    return gemm_count_end(ctx, g, st);
}

static int ocl_gemm_bias_act_counted(void *ctx, bool ta, bool tb, int m, int n, int k,
                                     clvae_view a, int lda, clvae_view b, int ldb, clvae_act act,
                                     clvae_view bias, clvae_view y)
{
    gemm_count g = gemm_count_begin(ctx);
    int st = clvae_ocl_gemm_bias_act(ctx, ta, tb, m, n, k, a, lda, b, ldb, act, bias, y);
    return gemm_count_end(ctx, g, st);
}

static int ocl_finish(void *ctx)
{
    ocl_ctx *c = ctx;
    cl_int err = clFinish(c->queue);
    return err == CL_SUCCESS ? CLVAE_OK : clvae_ocl_fail(c, "finish", "clFinish", err);
}

static void ocl_free(void *ctx)
{
    ocl_ctx *c = ctx;
    if (!c) return;
    if (c->queue) clFinish(c->queue);
    clvae_ocl_cmdbuf_free(c);
    clvae_ocl_queue_release(c); /* transfer queue, profiling records */
    clvae_ocl_gemm_release(c);
    clvae_ocl_gemm_sets_free(c);
    clvae_ocl_tiled_free(c);
    clvae_ocl_conv_release(c);
    if (c->partials) clReleaseMemObject(c->partials);
    for (int k = 0; k < OCL_K_COUNT; k++)
        if (c->kernels[k]) clReleaseKernel(c->kernels[k]);
    if (c->program) clReleaseProgram(c->program);
    if (c->queue) clReleaseCommandQueue(c->queue);
    if (c->context) {
        clReleaseContext(c->context);
        if (atomic_fetch_sub(&live_backends, 1) == 1) CLBlastClearCache();
    }
    free(c);
}

static const clvae_backend_ops ocl_ops = {
    .name = "opencl",
    .free = ocl_free,
    .device_name = ocl_device_name,
    .supports = ocl_supports,
    .buffer_alloc = ocl_buffer_alloc,
    .buffer_free = ocl_buffer_free,
    .upload = ocl_upload,
    .download = ocl_download,
    .fill = clvae_ocl_fill,
    .copy = ocl_copy,
    .finish = ocl_finish,
    .gemm = ocl_gemm_counted,
    .gemm_bias_act = ocl_gemm_bias_act_counted,
    .bias_act = clvae_ocl_bias_act,
    .act_bwd = clvae_ocl_act_bwd,
    .col_sum = clvae_ocl_col_sum,
    .reparam = clvae_ocl_reparam,
    .reparam_bwd = clvae_ocl_reparam_bwd,
    .likelihood = clvae_ocl_likelihood,
    .sum_add = clvae_ocl_sum_add,
    .optimizer = clvae_ocl_optimizer,
    .gather_u8 = clvae_ocl_gather_u8,
    .memory_info = clvae_ocl_memory_info,
    .host_is_device = clvae_ocl_host_is_device,
    .gather_f32 = clvae_ocl_gather_f32,
    .staging_alloc = clvae_ocl_staging_alloc,
    .staging_free = clvae_ocl_staging_free,
    .upload_async = clvae_ocl_upload_async,
    .compute_wait = clvae_ocl_compute_wait,
    .compute_marker = clvae_ocl_compute_marker,
    .ticket_wait = clvae_ocl_ticket_wait,
    .ticket_release = clvae_ocl_ticket_release,
    .profile_enable = clvae_ocl_profile_enable,
    .profile_tag = clvae_ocl_profile_tag,
    .profile_drain = clvae_ocl_profile_drain,
    .flush = clvae_ocl_flush,
    .gauss_terms = clvae_ocl_gauss_terms,
    .prior_bwd = clvae_ocl_prior_bwd,
    .latent_bwd = clvae_ocl_latent_bwd,
    .iw_weights = clvae_ocl_iw_weights,
    .row_scale = clvae_ocl_row_scale,
    .binarize = clvae_ocl_binarize,
    .act_bwd_col_sum = clvae_ocl_act_bwd_col_sum,
    .onehot = clvae_ocl_onehot,
    .gumbel = clvae_ocl_gumbel,
    .cat_terms = clvae_ocl_cat_terms,
    .cat_bwd = clvae_ocl_cat_bwd,
    .im2col = clvae_ocl_im2col,
    .col2im = clvae_ocl_col2im,
    .batch_transpose = clvae_ocl_batch_transpose,
    .bias_leaky = clvae_ocl_bias_leaky,
    .leaky_bwd = clvae_ocl_leaky_bwd,
    .col_sq_dev = clvae_ocl_col_sq_dev,
    .bn_fwd = clvae_ocl_bn_fwd,
    .bn_bwd_sums = clvae_ocl_bn_bwd_sums,
    .bn_bwd = clvae_ocl_bn_bwd,
    .counters = clvae_ocl_counters,
    .sum_add2 = clvae_ocl_sum_add2,
    .reparam_bwd_col_sum = clvae_ocl_reparam_bwd_col_sum,
    .graph_begin = clvae_ocl_graph_begin,
    .graph_end = clvae_ocl_graph_end,
    .graph_replay = clvae_ocl_graph_replay,
    .graph_free = clvae_ocl_graph_free,
    .conv_direct = clvae_ocl_conv_direct,
    .conv_direct_dx = clvae_ocl_conv_direct_dx,
    .conv_direct_dw = clvae_ocl_conv_direct_dw,
};

/* Asynchronous errors the OpenCL runtime reports for the context. */
static void CL_CALLBACK context_notify(const char *msg, const void *info, size_t size, void *user)
{
    CLVAE_WARN("opencl runtime: %s", msg);
}

/* Creates a context on the first candidate that accepts one (a broken platform is skipped). */
static int open_context(ocl_ctx *c, const clvae_ocl_inventory *inv, const int *order, int n)
{
    cl_int err = CL_SUCCESS;
    for (int i = 0; i < n; i++) {
        const clvae_ocl_device *d = &inv->devices[order[i]];
        cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)d->platform,
                                         0};
        c->context = clCreateContext(props, 1, &d->id, context_notify, NULL, &err);
        if (err == CL_SUCCESS) {
            c->dev = *d;
            atomic_fetch_add(&live_backends, 1);
            return CLVAE_OK;
        }
        c->context = NULL;
        CLVAE_INFO("opencl: skipping platform %d device %d \"%s\": clCreateContext failed: %s (%d)",
                   d->platform_index, d->device_index, d->name, clvae_ocl_error_name(err), err);
    }
    return clvae_error(CLVAE_ERR_DEVICE,
                       "opencl: no matching device accepted a context (last error %s (%d))",
                       clvae_ocl_error_name(err), err);
}

/* Queue, program, kernels and scratch buffers on the opened context. */
static int ctx_init(ocl_ctx *c)
{
    cl_int err;
    cl_ulong max_alloc = 0;
    clGetDeviceInfo(c->dev.id, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc, NULL);
    c->max_alloc = (size_t)max_alloc;
    c->queue = clCreateCommandQueue(c->context, c->dev.id, 0, &err);
    if (err != CL_SUCCESS) return clvae_ocl_fail(c, "init", "clCreateCommandQueue", err);
    int st = clvae_ocl_program_build(c);
    if (!st) st = clvae_ocl_kernels_create(c);
    if (st) return st;
    c->partials =
        clCreateBuffer(c->context, CL_MEM_READ_WRITE, OCL_MAX_PARTIALS * sizeof(float), NULL, &err);
    if (err != CL_SUCCESS) return clvae_ocl_fail(c, "init", "clCreateBuffer(partials)", err);
    return CLVAE_OK;
}

/* Creates the backend; with `tuned`, applies the device's GEMM tuning file (gemm/load.c). */
static int backend_create(const clvae_config *cfg, bool tuned, clvae_backend *out)
{
    clvae_ocl_inventory inv;
    ocl_ctx *c = NULL;
    int *order = NULL, n = 0;
    out->ops = NULL;
    out->ctx = NULL;
    int st = clvae_ocl_inventory_init(&inv);
    if (st) return st;
    order = malloc((inv.n_devices > 0 ? inv.n_devices : 1) * sizeof *order);
    c = calloc(1, sizeof *c);
    if (!order || !c) {
        st = clvae_error(CLVAE_ERR_NOMEM, "opencl: out of host memory");
        goto cleanup;
    }
    atomic_init(&c->xfer_launch, 0);
    atomic_init(&c->xfer_ns, 0);
    st = clvae_ocl_select(&inv, cfg, order, &n);
    if (!st) st = open_context(c, &inv, order, n);
    if (!st) clvae_ocl_cache_dir(cfg, c->cache_dir, sizeof c->cache_dir);
    if (!st) st = ctx_init(c);
    if (!st) st = clvae_ocl_cmdbuf_init(c, cfg->device.command_buffer);
    if (st) goto cleanup;
    if (tuned) clvae_ocl_tuning_load(c);
    CLVAE_INFO("opencl: platform %d \"%s\", device %d \"%s\" (%s), driver %s, %s",
               c->dev.platform_index, c->dev.platform_name, c->dev.device_index, c->dev.name,
               clvae_ocl_type_name(c->dev.type), c->dev.driver, c->dev.version);
    out->ops = &ocl_ops;
    out->ctx = c;
    c = NULL;
cleanup:
    ocl_free(c);
    free(order);
    clvae_ocl_inventory_free(&inv);
    return st;
}

int clvae_opencl_backend_create(const clvae_config *cfg, clvae_backend *out)
{
    return backend_create(cfg, true, out);
}

int clvae_opencl_backend_create_untuned(const clvae_config *cfg, clvae_backend *out)
{
    return backend_create(cfg, false, out);
}
