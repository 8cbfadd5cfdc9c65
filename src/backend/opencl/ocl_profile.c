/* Profiling for the Chrome trace: every compute command (kernels, CLBlast GEMMs) and upload is
 * enqueued with an event while recording; profile_drain turns the events' START/END into host
 * time. Clock alignment: the host reads CLOCK_MONOTONIC just before and after enqueueing a marker
 * and takes the marker's CL_PROFILING_COMMAND_QUEUED stamp as the midpoint (best of a few
 * tries); the one offset serves both queues, which share the device's timer, so the order of
 * uploads and kernels in the trace is exactly the device's. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "backend/opencl/ocl_internal.h"
#include "core/log.h"

typedef struct ocl_prof_rec {
    const char *name;
    clvae_queue_kind queue;
    long tag;
    size_t bytes;
    cl_event ev;
    cl_event first; /* NULL, or a marker before the command whose END is its start */
} ocl_prof_rec;

struct ocl_prof {
    pthread_mutex_t mu; /* guards recs (uploads are recorded from the loader thread) */
    atomic_bool on;     /* recording */
    long tag;           /* compute tag: set and read by the driving thread only */
    int64_t offset_ns;  /* host ns = device ns + offset_ns */
    ocl_prof_rec *recs; /* (n) pending records */
    size_t n, cap;
};

static int64_t host_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

bool clvae_ocl_prof_queues(const ocl_ctx *c)
{
    return c->prof != NULL;
}

bool clvae_ocl_prof_compute_on(const ocl_ctx *c)
{
    return c->prof && c->prof->tag >= 0 && atomic_load(&c->prof->on);
}

static void release2(cl_event a, cl_event b)
{
    if (a) clReleaseEvent(a);
    if (b) clReleaseEvent(b);
}

/* Appends a record that owns ev (and first); drops both when not recording. */
static void add(ocl_ctx *c, const ocl_prof_rec *rec)
{
    struct ocl_prof *p = c->prof;
    if (!rec->ev || !rec->name || !p || !atomic_load(&p->on) || rec->tag < 0) {
        release2(rec->ev, rec->first);
        return;
    }
    pthread_mutex_lock(&p->mu);
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 1024;
        ocl_prof_rec *r = realloc(p->recs, cap * sizeof *r);
        if (!r) { /* dropping a trace record is better than failing the step */
            pthread_mutex_unlock(&p->mu);
            release2(rec->ev, rec->first);
            return;
        }
        p->recs = r;
        p->cap = cap;
    }
    p->recs[p->n++] = *rec;
    pthread_mutex_unlock(&p->mu);
}

void clvae_ocl_prof_add(ocl_ctx *c, const char *name, clvae_queue_kind q, long tag, size_t bytes,
                        cl_event ev)
{
    add(c, &(ocl_prof_rec){name, q, tag, bytes, ev, NULL});
}

void clvae_ocl_prof_span(ocl_ctx *c, const char *name, cl_event first, cl_event last)
{
    if (!last) {
        release2(first, NULL);
        return;
    }
    long tag = c->prof ? c->prof->tag : -1;
    add(c, &(ocl_prof_rec){name, CLVAE_QUEUE_COMPUTE, tag, 0, last, first});
}

void clvae_ocl_prof_compute(ocl_ctx *c, const char *name, cl_event ev)
{
    clvae_ocl_prof_add(c, name, CLVAE_QUEUE_COMPUTE, c->prof ? c->prof->tag : -1, 0, ev);
}

/* Replaces *q by an in-order queue with CL_QUEUE_PROFILING_ENABLE (after finishing it). */
static int profiling_queue(ocl_ctx *c, cl_command_queue *q)
{
    cl_command_queue_properties props = 0;
    if (!*q) return CLVAE_OK;
    clGetCommandQueueInfo(*q, CL_QUEUE_PROPERTIES, sizeof props, &props, NULL);
    if (props & CL_QUEUE_PROFILING_ENABLE) return CLVAE_OK;
    cl_command_queue nq;
    int st = clvae_ocl_queue_create(c, true, &nq);
    if (st) return st;
    clFinish(*q);
    clReleaseCommandQueue(*q);
    *q = nq;
    return CLVAE_OK;
}

/* offset_ns from a marker's QUEUED stamp vs the host clock around its enqueue (see top). */
static int align_clocks(ocl_ctx *c, int64_t *offset)
{
    int64_t best_span = INT64_MAX;
    for (int i = 0; i < 5; i++) {
        cl_event ev;
        cl_ulong queued = 0, end = 0;
        int64_t h0 = host_ns();
        cl_int err = clEnqueueMarkerWithWaitList(c->queue, 0, NULL, &ev);
        int64_t h1 = host_ns();
        if (err != CL_SUCCESS) return clvae_ocl_fail(c, "profile", "clEnqueueMarker", err);
        err = clWaitForEvents(1, &ev);
        int64_t h2 = host_ns();
        if (err == CL_SUCCESS)
            clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_QUEUED, sizeof queued, &queued, NULL);
        if (err == CL_SUCCESS && !queued) /* no QUEUED stamp: END vs the host after the wait */
            clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof end, &end, NULL);
        clReleaseEvent(ev);
        if (err != CL_SUCCESS) return clvae_ocl_fail(c, "profile", "clWaitForEvents", err);
        int64_t span = queued ? h1 - h0 : h2 - h0;
        if (span < best_span) {
            best_span = span;
            *offset = queued ? (h0 + (h1 - h0) / 2) - (int64_t)queued : h2 - (int64_t)end;
        }
    }
    CLVAE_DEBUG("opencl profile: device clock + %lld ns = host clock (within %lld ns)",
                (long long)*offset, (long long)best_span);
    return CLVAE_OK;
}

int clvae_ocl_profile_enable(void *ctx, bool on)
{
    ocl_ctx *c = ctx;
    if (!on) {
        if (c->prof) atomic_store(&c->prof->on, false);
        return CLVAE_OK;
    }
    if (!c->prof) {
        struct ocl_prof *p = calloc(1, sizeof *p);
        if (!p) return clvae_error(CLVAE_ERR_NOMEM, "opencl profile: out of host memory");
        pthread_mutex_init(&p->mu, NULL);
        atomic_init(&p->on, false);
        p->tag = -1;
        c->prof = p;
    }
    int st = profiling_queue(c, &c->queue);
    if (!st) st = profiling_queue(c, &c->xfer);
    if (!st) st = align_clocks(c, &c->prof->offset_ns);
    if (!st) atomic_store(&c->prof->on, true);
    return st;
}

void clvae_ocl_profile_tag(void *ctx, long tag)
{
    ocl_ctx *c = ctx;
    if (c->prof) c->prof->tag = tag;
}

/* Reports one finished record (skipped when its command failed or has no timestamps). */
static void report(const ocl_ctx *c, const ocl_prof_rec *r, clvae_prof_fn fn, void *user)
{
    cl_ulong t0 = 0, t1 = 0;
    cl_event ev = r->ev;
    if (clWaitForEvents(1, &ev) != CL_SUCCESS) return;
    if (clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL) ||
        clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL))
        return;
    cl_ulong m = 0; /* a multi-kernel span starts when the marker before it retired */
    if (r->first &&
        !clGetEventProfilingInfo(r->first, CL_PROFILING_COMMAND_END, sizeof m, &m, NULL) && m &&
        m < t0)
        t0 = m;
    int64_t off = c->prof->offset_ns;
    clvae_prof_record out = {.name = r->name,
                             .queue = r->queue,
                             .tag = r->tag,
                             .start_us = ((int64_t)t0 + off) / 1e3,
                             .end_us = ((int64_t)t1 + off) / 1e3,
                             .bytes = r->bytes};
    fn(user, &out);
}

int clvae_ocl_profile_drain(void *ctx, clvae_prof_fn fn, void *user)
{
    ocl_ctx *c = ctx;
    struct ocl_prof *p = c->prof;
    if (!p) return CLVAE_OK;
    pthread_mutex_lock(&p->mu);
    ocl_prof_rec *recs = p->recs;
    size_t n = p->n;
    p->recs = NULL;
    p->n = p->cap = 0;
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < n; i++) {
        if (fn) report(c, &recs[i], fn, user);
        release2(recs[i].ev, recs[i].first);
    }
    free(recs);
    return CLVAE_OK;
}

void clvae_ocl_prof_free(ocl_ctx *c)
{
    if (!c->prof) return;
    clvae_ocl_profile_drain(c, NULL, NULL);
    pthread_mutex_destroy(&c->prof->mu);
    free(c->prof);
    c->prof = NULL;
}
