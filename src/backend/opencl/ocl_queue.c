/* The OpenCL side of the host scheduler: pinned staging buffers (CL_MEM_ALLOC_HOST_PTR, mapped
 * once and kept mapped), a second in-order queue that carries the uploads, and cl_event tickets
 * the compute queue waits on (a barrier with a wait list) and the loader thread waits on before
 * it reuses a slot (a marker after the step). Nothing here calls clFinish in a training step. */
#include <stdlib.h>

#include "backend/opencl/ocl_internal.h"

/* A pinned staging buffer: the host writes through `host` while it stays mapped. */
struct clvae_staging {
    cl_mem mem;
    void *host;
    size_t bytes;
};

/* Tickets are cl_events; the cast keeps the seam free of OpenCL types. */
static cl_event ev_of(clvae_ticket *t)
{
    return (cl_event)t;
}

int clvae_ocl_queue_create(ocl_ctx *c, bool profiling, cl_command_queue *out)
{
    cl_int err;
    cl_command_queue_properties props = profiling ? CL_QUEUE_PROFILING_ENABLE : 0;
    *out = clCreateCommandQueue(c->context, c->dev.id, props, &err);
    if (err != CL_SUCCESS) {
        *out = NULL;
        return clvae_ocl_fail(c, "queue", "clCreateCommandQueue", err);
    }
    return CLVAE_OK;
}

static int ensure_xfer(ocl_ctx *c)
{
    if (c->xfer) return CLVAE_OK;
    return clvae_ocl_queue_create(c, clvae_ocl_prof_queues(c), &c->xfer);
}

int clvae_ocl_memory_info(void *ctx, size_t *global_bytes, size_t *max_alloc)
{
    ocl_ctx *c = ctx;
    cl_ulong global = 0;
    cl_int err =
        clGetDeviceInfo(c->dev.id, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof global, &global, NULL);
    if (err != CL_SUCCESS)
        return clvae_ocl_fail(c, "memory_info", "clGetDeviceInfo(GLOBAL_MEM_SIZE)", err);
    *global_bytes = (size_t)global;
    *max_alloc = c->max_alloc;
    return CLVAE_OK;
}

bool clvae_ocl_host_is_device(void *ctx)
{
    const ocl_ctx *c = ctx;
    return (c->dev.type & CL_DEVICE_TYPE_CPU) != 0;
}

int clvae_ocl_staging_alloc(void *ctx, size_t bytes, clvae_staging **out, void **host)
{
    ocl_ctx *c = ctx;
    cl_int err;
    *out = NULL;
    *host = NULL;
    int st = ensure_xfer(c);
    if (st) return st;
    clvae_staging *s = calloc(1, sizeof *s);
    if (!s) return clvae_error(CLVAE_ERR_NOMEM, "opencl staging_alloc: out of host memory");
    s->bytes = bytes ? bytes : 4;
    s->mem =
        clCreateBuffer(c->context, CL_MEM_READ_WRITE | CL_MEM_ALLOC_HOST_PTR, s->bytes, NULL, &err);
    if (err != CL_SUCCESS) {
        st = clvae_ocl_fail(c, "staging_alloc", "clCreateBuffer(CL_MEM_ALLOC_HOST_PTR)", err);
        goto fail_buffer;
    }
    /* Mapped once for the buffer's lifetime: uploads read the mapped pointer (pinned memory). */
    s->host = clEnqueueMapBuffer(c->xfer, s->mem, CL_TRUE, CL_MAP_WRITE, 0, s->bytes, 0, NULL, NULL,
                                 &err);
    if (err != CL_SUCCESS) {
        st = clvae_ocl_fail(c, "staging_alloc", "clEnqueueMapBuffer", err);
        goto fail_map;
    }
    *out = s;
    *host = s->host;
    return CLVAE_OK;
fail_map:
    clReleaseMemObject(s->mem);
fail_buffer:
    free(s);
    return st;
}

void clvae_ocl_staging_free(void *ctx, clvae_staging *s)
{
    ocl_ctx *c = ctx;
    if (!s) return;
    /* Ordered after the uploads that read it on the in-order transfer queue; the release is
     * deferred by OpenCL until the unmap has run. */
    clEnqueueUnmapMemObject(c->xfer, s->mem, s->host, 0, NULL, NULL);
    clFlush(c->xfer);
    clReleaseMemObject(s->mem);
    free(s);
}

int clvae_ocl_upload_async(void *ctx, clvae_view dst, clvae_staging *src, size_t bytes,
                           clvae_ticket *after, long tag, clvae_ticket **done)
{
    ocl_ctx *c = ctx;
    cl_event ev = NULL, wait = after ? ev_of(after) : NULL;
    *done = NULL;
    if (!c->xfer || !src || !dst.buf || bytes > src->bytes || dst.off > dst.buf->bytes ||
        bytes > dst.buf->bytes - dst.off)
        return clvae_error(CLVAE_ERR_INTERNAL,
                           "opencl upload_async on \"%s\": %zu bytes at offset %zu do not fit the "
                           "staging or destination buffer",
                           c->dev.name, bytes, dst.off);
    /* A cross-queue wait list: the copy waits on the device for the step that read dst. */
    int64_t t0 = clvae_ocl_now_ns();
    cl_int err = clEnqueueWriteBuffer(c->xfer, dst.buf->mem, CL_FALSE, dst.off, bytes, src->host,
                                      wait ? 1 : 0, wait ? &wait : NULL, &ev);
    if (err != CL_SUCCESS) return clvae_ocl_fail(c, "upload_async", "clEnqueueWriteBuffer", err);
    err = clFlush(c->xfer); /* submit now: the compute queue may wait on it */
    if (err != CL_SUCCESS) {
        clReleaseEvent(ev);
        return clvae_ocl_fail(c, "upload_async", "clFlush(transfer queue)", err);
    }
    atomic_fetch_add_explicit(&c->xfer_launch, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->xfer_ns, (uint64_t)(clvae_ocl_now_ns() - t0),
                              memory_order_relaxed);
    if (tag >= 0 && clvae_ocl_prof_queues(c) && clRetainEvent(ev) == CL_SUCCESS)
        clvae_ocl_prof_add(c, "upload", CLVAE_QUEUE_TRANSFER, tag, bytes, ev);
    *done = (clvae_ticket *)ev;
    return CLVAE_OK;
}

int clvae_ocl_compute_wait(void *ctx, clvae_ticket *t)
{
    ocl_ctx *c = ctx;
    if (!t) return CLVAE_OK;
    cl_event ev = ev_of(t);
    int64_t t0 = clvae_ocl_now_ns();
    cl_int err = clEnqueueBarrierWithWaitList(c->queue, 1, &ev, NULL);
    if (err != CL_SUCCESS)
        return clvae_ocl_fail(c, "compute_wait", "clEnqueueBarrierWithWaitList", err);
    clvae_ocl_count(c, t0, 0); /* a barrier: host time, not a launch */
    return CLVAE_OK;
}

int clvae_ocl_compute_marker(void *ctx, clvae_ticket **out)
{
    ocl_ctx *c = ctx;
    cl_event ev = NULL;
    *out = NULL;
    int64_t t0 = clvae_ocl_now_ns();
    cl_int err = clEnqueueMarkerWithWaitList(c->queue, 0, NULL, &ev);
    if (err != CL_SUCCESS)
        return clvae_ocl_fail(c, "compute_marker", "clEnqueueMarkerWithWaitList", err);
    err = clFlush(c->queue); /* another thread waits on it: the step must be submitted */
    if (err != CL_SUCCESS) {
        clReleaseEvent(ev);
        return clvae_ocl_fail(c, "compute_marker", "clFlush", err);
    }
    *out = (clvae_ticket *)ev;
    clvae_ocl_count(c, t0, 0);
    return CLVAE_OK;
}

int clvae_ocl_ticket_wait(void *ctx, clvae_ticket *t)
{
    ocl_ctx *c = ctx;
    if (!t) return CLVAE_OK;
    cl_event ev = ev_of(t);
    cl_int err = clWaitForEvents(1, &ev), status = CL_COMPLETE;
    if (err == CL_SUCCESS) return CLVAE_OK;
    clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, NULL);
    return clvae_error(CLVAE_ERR_DEVICE,
                       "opencl ticket_wait on \"%s\": clWaitForEvents failed: %s (%d); the "
                       "command's status is %s (%d)",
                       c->dev.name, clvae_ocl_error_name(err), err, clvae_ocl_error_name(status),
                       status);
}

void clvae_ocl_ticket_release(void *ctx, clvae_ticket *t)
{
    if (t) clReleaseEvent(ev_of(t));
}

int clvae_ocl_flush(void *ctx)
{
    ocl_ctx *c = ctx;
    int64_t t0 = clvae_ocl_now_ns();
    cl_int err = clFlush(c->queue);
    if (err != CL_SUCCESS) return clvae_ocl_fail(c, "flush", "clFlush", err);
    clvae_ocl_count(c, t0, 0);
    return CLVAE_OK;
}

void clvae_ocl_queue_release(ocl_ctx *c)
{
    if (c->xfer) {
        clFinish(c->xfer);
        clReleaseCommandQueue(c->xfer);
        c->xfer = NULL;
    }
    clvae_ocl_prof_free(c);
}
