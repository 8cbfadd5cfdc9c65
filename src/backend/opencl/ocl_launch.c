/* Helpers shared by the OpenCL op files: error messages, view checks and kernel launches. */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "backend/opencl/ocl_internal.h"

int64_t clvae_ocl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void clvae_ocl_count(ocl_ctx *c, int64_t t0, unsigned launches)
{
    c->n_launch += launches;
    c->enq_ns += (uint64_t)(clvae_ocl_now_ns() - t0);
}

void clvae_ocl_counters(void *ctx, clvae_backend_counters *out)
{
    ocl_ctx *c = ctx;
    out->launches = c->n_launch + atomic_load_explicit(&c->xfer_launch, memory_order_relaxed);
    out->enqueue_ns = c->enq_ns + atomic_load_explicit(&c->xfer_ns, memory_order_relaxed);
    out->replays = c->n_replay;
    out->scratch_grows = c->n_scratch_grow;
}

int clvae_ocl_fail(const ocl_ctx *c, const char *op, const char *call, cl_int err)
{
    return clvae_error(CLVAE_ERR_DEVICE, "opencl %s on \"%s\": %s failed: %s (%d)", op, c->dev.name,
                       call, clvae_ocl_error_name(err), err);
}

int clvae_ocl_view(const ocl_ctx *c, const char *op, const char *name, clvae_view v, size_t floats,
                   cl_mem *mem, cl_ulong *off)
{
    if (!v.buf)
        return clvae_error(CLVAE_ERR_INTERNAL, "opencl %s on \"%s\": %s has no buffer", op,
                           c->dev.name, name);
    if (v.off % sizeof(float) != 0 || v.off > v.buf->bytes ||
        floats > (v.buf->bytes - v.off) / sizeof(float))
        return clvae_error(CLVAE_ERR_INTERNAL,
                           "opencl %s on \"%s\": %s (%zu floats at byte offset %zu) does not fit "
                           "its %zu-byte buffer or is not 4-byte aligned",
                           op, c->dev.name, name, floats, v.off, v.buf->bytes);
    *mem = v.buf->mem;
    *off = v.off / sizeof(float);
    return CLVAE_OK;
}

/* Kernels whose arguments change from step to step in ways the step state does not carry (or
 * whose scratch buffers may be reallocated): a step that runs one is not recorded. */
static void check_recordable(ocl_ctx *c, ocl_kernel_id k)
{
    switch (k) {
    case OCL_K_BINARIZE:
    case OCL_K_GUMBEL:
    case OCL_K_CAT_BWD:
    case OCL_K_CAT_TERMS:
        clvae_ocl_cmdbuf_refuse(c, "it draws or anneals with other per-step arguments");
        break;
    case OCL_K_COL_SQ_DEV_PART:
    case OCL_K_BN_BWD_PART:
    case OCL_K_SUM_PARTS:
    case OCL_K_BN_STATS:
    case OCL_K_BN_APPLY:
    case OCL_K_BN_BWD:
    case OCL_K_IM2COL:
    case OCL_K_COL2IM:
        clvae_ocl_cmdbuf_refuse(c, "conv layers are not recorded");
        break;
    default:
        break;
    }
}

static int set_args(ocl_ctx *c, cl_kernel kern, const char *op, const ocl_arg *args, int nargs)
{
    for (int i = 0; i < nargs; i++) {
        cl_int err = clSetKernelArg(kern, (cl_uint)i, args[i].size, args[i].value);
        if (err != CL_SUCCESS) {
            char call[64];
            snprintf(call, sizeof call, "clSetKernelArg(%d)", i);
            return clvae_ocl_fail(c, op, call, err);
        }
    }
    return CLVAE_OK;
}

int clvae_ocl_launch(ocl_ctx *c, ocl_kernel_id k, const char *op, size_t items, size_t local,
                     const ocl_arg *args, int nargs)
{
    cl_kernel kern = c->kernels[k];
    if (items == 0) {
        clvae_ocl_cmdbuf_add(c, NULL, NULL, 0, 0, NULL, NULL);
        return CLVAE_OK;
    }
    if (local == 0) local = c->local[k];
    if (items > SIZE_MAX - local)
        return clvae_error(CLVAE_ERR_INTERNAL, "opencl %s: %zu work-items is too many", op, items);
    int64_t t0 = clvae_ocl_now_ns();
    int st = set_args(c, kern, op, args, nargs);
    if (st) return st;
    size_t global = (items + local - 1) / local * local;
    cl_event ev = NULL; /* kept only while profiling (ocl_profile.c) */
    cl_int err = clEnqueueNDRangeKernel(c->queue, kern, 1, NULL, &global, &local, 0, NULL,
                                        OCL_PROF_EVENT(c, ev));
    if (err != CL_SUCCESS) return clvae_ocl_fail(c, op, "clEnqueueNDRangeKernel", err);
    clvae_ocl_prof_compute(c, op, ev);
    clvae_ocl_count(c, t0, 1);
    if (clvae_ocl_recording(c)) {
        check_recordable(c, k);
        clvae_ocl_cmdbuf_add(c, kern, args, nargs, 1, &global, &local);
    }
    return CLVAE_OK;
}

static size_t pow2_ceil(size_t x)
{
    size_t p = 1;
    while (p < x && p <= SIZE_MAX / 2)
        p *= 2;
    return p;
}

/* The work-group shape for items[0..dims): dimension 0 (contiguous in memory) first, as wide
 * as it has items, then the others out of what is left of the kernel's work-group size, each
 * within the device's per-dimension limit. */
static void nd_local(const ocl_ctx *c, ocl_kernel_id k, int dims, const size_t *items,
                     size_t *local)
{
    size_t left = c->local[k];
    for (int d = 0; d < dims; d++) {
        size_t l = pow2_ceil(items[d]);
        if (l > left) l = left;
        if (l > c->max_item[d]) l = c->max_item[d];
        if (l < 1) l = 1;
        local[d] = l;
        left /= l;
        if (left < 1) left = 1;
    }
}

int clvae_ocl_launch_nd(ocl_ctx *c, ocl_kernel_id k, const char *op, int dims,
                        const size_t *items, const ocl_arg *args, int nargs)
{
    size_t local[3], global[3];
    for (int d = 0; d < dims; d++)
        if (items[d] == 0) {
            clvae_ocl_cmdbuf_add(c, NULL, NULL, 0, 0, NULL, NULL);
            return CLVAE_OK;
        }
    nd_local(c, k, dims, items, local);
    for (int d = 0; d < dims; d++) {
        if (items[d] > SIZE_MAX - local[d])
            return clvae_error(CLVAE_ERR_INTERNAL, "opencl %s: %zu work-items is too many", op,
                               items[d]);
        global[d] = (items[d] + local[d] - 1) / local[d] * local[d];
    }
    int64_t t0 = clvae_ocl_now_ns();
    int st = set_args(c, c->kernels[k], op, args, nargs);
    if (st) return st;
    cl_event ev = NULL;
    cl_int err = clEnqueueNDRangeKernel(c->queue, c->kernels[k], (cl_uint)dims, NULL, global,
                                        local, 0, NULL, OCL_PROF_EVENT(c, ev));
    if (err != CL_SUCCESS) return clvae_ocl_fail(c, op, "clEnqueueNDRangeKernel", err);
    clvae_ocl_prof_compute(c, op, ev);
    clvae_ocl_count(c, t0, 1);
    if (clvae_ocl_recording(c)) {
        check_recordable(c, k);
        clvae_ocl_cmdbuf_add(c, c->kernels[k], args, nargs, (cl_uint)dims, global, local);
    }
    return CLVAE_OK;
}
