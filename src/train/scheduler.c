/* The host scheduler's interface and its device residency: options, the auto choice and host
 * budget, the dataset uploaded once with the epoch permutation, and a device-side gather per
 * step. The stream residency (ring + loader thread) is in scheduler_stream.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "train/progress.h"
#include "train/scheduler_impl.h"

#define MIB (1024.0 * 1024.0)

/* "123", "64K", "512M", "2G" -> bytes; 0 when unset or malformed. */
static size_t env_size(const char *name)
{
    const char *v = getenv(name);
    char *end;
    if (!v || !*v) return 0;
    double x = strtod(v, &end);
    double mul = *end == 'K' || *end == 'k'   ? 1024.0
                 : *end == 'M' || *end == 'm' ? MIB
                 : *end == 'G' || *end == 'g' ? MIB * 1024.0
                                              : 1.0;
    return x > 0 ? (size_t)(x * mul) : 0;
}

static long env_long(const char *name, long fallback)
{
    const char *v = getenv(name);
    char *end;
    if (!v || !*v) return fallback;
    long x = strtol(v, &end, 10);
    return *end ? fallback : x;
}

void clvae_sched_options_default(clvae_sched_options *o, const clvae_config *cfg)
{
    memset(o, 0, sizeof *o);
    o->residency = cfg->data.residency;
    o->overlap = cfg->data.overlap;
    o->slots = CLVAE_SCHED_SLOTS;
    o->device_share = CLVAE_SCHED_DEVICE_SHARE;
    o->host_budget = env_size("CLVAE_HOST_MEM_BUDGET");
    if (!o->host_budget) {
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        o->host_budget = pages > 0 && page > 0 ? (size_t)pages * (size_t)page : SIZE_MAX;
    }
    o->delay_us = env_long("CLVAE_SCHED_DELAY_US", 0);
    o->fail_at = env_long("CLVAE_SCHED_FAIL_AT", -1);
    o->shard = 0;
    o->shards = 1;
}

static size_t data_bytes(const clvae_dataset *ds)
{
    return ds->n * ds->dim * (ds->u8 ? 1 : sizeof(float));
}

/* Resolves residency = auto: device when the data fits `share` of the device's global memory
 * and one allocation (the reference backend: when a second host copy fits the budget). */
static clvae_residency resolve(const clvae_sched *s, const clvae_sched_options *o)
{
    const clvae_backend_ops *ops = s->be->ops;
    size_t bytes = data_bytes(s->ds), global = 0, max_alloc = 0;
    double share = o->device_share > 0 ? o->device_share : CLVAE_SCHED_DEVICE_SHARE;
    bool can_gather = s->ds->u8 ? ops->gather_u8 != NULL : ops->gather_f32 != NULL;
    if (o->residency != CLVAE_RESIDENCY_AUTO) return o->residency;
    if (!can_gather) {
        CLVAE_INFO("data: residency stream (auto: backend %s cannot gather on the device)",
                   ops->name);
        return CLVAE_RESIDENCY_STREAM;
    }
    if (ops->host_is_device && ops->host_is_device(s->be->ctx)) {
        CLVAE_INFO("data: residency stream (auto: the device computes in host memory, where the "
                   "loader's gather overlaps compute and a device gather gains nothing)");
        return CLVAE_RESIDENCY_STREAM;
    }
    if (!ops->memory_info || ops->memory_info(s->be->ctx, &global, &max_alloc)) {
        bool fits = bytes <= o->host_budget / 2;
        CLVAE_INFO("data: residency %s (auto: %s memory is host memory; training set %.1f MiB)",
                   fits ? "device" : "stream", ops->name, bytes / MIB);
        return fits ? CLVAE_RESIDENCY_DEVICE : CLVAE_RESIDENCY_STREAM;
    }
    bool fits = bytes <= share * (double)global && bytes <= max_alloc;
    CLVAE_INFO("data: residency %s (auto: training set %.1f MiB %s %.0f%% of the device's %.0f "
               "MiB and its %.0f MiB largest allocation)",
               fits ? "device" : "stream", bytes / MIB, fits ? "within" : "exceeds", share * 100,
               global / MIB, max_alloc / MIB);
    return fits ? CLVAE_RESIDENCY_DEVICE : CLVAE_RESIDENCY_STREAM;
}

static int check_budget(const clvae_sched *s, const clvae_sched_options *o)
{
    size_t data = data_bytes(s->ds), extra = 0;
    int slots = o->slots > 0 ? o->slots : CLVAE_SCHED_SLOTS;
    if (s->mode == CLVAE_RESIDENCY_STREAM)
        extra = (size_t)slots * sched_slot_floats(s) * sizeof(float); /* pinned staging */
    else if (!s->be->ops->memory_info)
        extra = data; /* the reference backend's "device" copy is host memory */
    if (data + extra <= o->host_budget) return CLVAE_OK;
    return clvae_error(CLVAE_ERR_NOMEM,
                       "the training set (%zu samples x %zu, %.1f MiB) and its %s (%.1f MiB) "
                       "exceed the host memory budget of %.1f MiB (physical memory, or "
                       "CLVAE_HOST_MEM_BUDGET); use data.limit_train to train on fewer samples",
                       s->ds->n, s->D, data / MIB,
                       s->mode == CLVAE_RESIDENCY_STREAM ? "staging ring" : "device copy",
                       extra / MIB, o->host_budget / MIB);
}

/* Conditional models: the training labels as (N) floats, gathered per batch like the data. */
static int labels_init(clvae_sched *s)
{
    const clvae_backend_ops *o = s->be->ops;
    size_t n = s->ds->n;
    if (!o->gather_f32)
        return clvae_error(CLVAE_ERR_UNSUPPORTED, "data.residency=device: backend %s cannot "
                                                  "gather the labels on the device",
                           o->name);
    float *host = malloc(n * sizeof(float)); /* (N) */
    if (!host) return clvae_error(CLVAE_ERR_NOMEM, "scheduler: out of host memory");
    for (size_t i = 0; i < n; i++) host[i] = (float)s->ds->labels[i];
    int st = o->buffer_alloc(s->be->ctx, n * sizeof(float), &s->labels);
    if (!st) st = o->upload(s->be->ctx, (clvae_view){s->labels, 0}, host, n * sizeof(float));
    free(host);
    return st;
}

/* Uploads the training set once (bytes when 8-bit) and makes room for the permutation. */
static int device_init(clvae_sched *s)
{
    const clvae_backend_ops *o = s->be->ops;
    void *c = s->be->ctx;
    size_t bytes = data_bytes(s->ds);
    const void *src = s->ds->u8 ? (const void *)s->ds->u8 : (const void *)s->ds->f32;
    if (!(s->ds->u8 ? o->gather_u8 : o->gather_f32))
        return clvae_error(CLVAE_ERR_UNSUPPORTED,
                           "data.residency=device: backend %s cannot gather %s data on the "
                           "device; use data.residency=stream",
                           o->name, s->ds->u8 ? "8-bit" : "float");
    int st = o->buffer_alloc(c, bytes, &s->data);
    if (!st) st = o->upload(c, (clvae_view){s->data, 0}, src, bytes);
    if (!st) st = o->buffer_alloc(c, s->ds->n * sizeof(uint32_t), &s->idx);
    if (!st && s->cond) st = labels_init(s);
    if (!st) return CLVAE_OK;
    char why[512]; /* clvae_error rewrites the buffer clvae_last_error() points to */
    snprintf(why, sizeof why, "%s", clvae_last_error());
    return clvae_error(st,
                       "data.residency=device: the %.1f MiB training set does not fit on \"%s\": "
                       "%s (use data.residency=stream or auto)",
                       bytes / MIB, o->device_name(c), why);
}

static void device_release(clvae_sched *s)
{
    const clvae_backend_ops *o = s->be->ops;
    o->buffer_free(s->be->ctx, s->idx);
    o->buffer_free(s->be->ctx, s->data);
    if (s->labels) o->buffer_free(s->be->ctx, s->labels);
    s->idx = s->data = s->labels = NULL;
}

/* The residency's buffers; auto falls back from device to stream when the device refuses. */
static int setup_mode(clvae_sched *s, const clvae_sched_options *o)
{
    int st;
    if (s->mode == CLVAE_RESIDENCY_DEVICE) {
        if (!(st = device_init(s))) return CLVAE_OK;
        if (o->residency != CLVAE_RESIDENCY_AUTO) return st;
        CLVAE_WARN("data: %s; streaming batches instead", clvae_last_error());
        device_release(s);
        s->mode = CLVAE_RESIDENCY_STREAM;
        if ((st = check_budget(s, o))) return st;
    }
    return sched_stream_init(s, o->overlap ? (o->slots >= 2 ? o->slots : 2) : 1);
}

int clvae_sched_init(clvae_sched **out, clvae_model *m, const clvae_dataset *ds, int batch,
                     const clvae_sched_options *o)
{
    *out = NULL;
    if (m->classes > 0 && !ds->labels)
        return clvae_error(CLVAE_ERR_INTERNAL, "scheduler: a conditional model without labels");
    if (batch < 1 || batch > m->max_batch || (int)ds->dim != m->dim)
        return clvae_error(CLVAE_ERR_INTERNAL,
                           "scheduler: batch %d / dim %zu do not fit the model "
                           "(max batch %d, dim %d)",
                           batch, ds->dim, m->max_batch, m->dim);
    clvae_sched *s = calloc(1, sizeof *s);
    uint32_t *perm = malloc((ds->n ? ds->n : 1) * sizeof *perm); /* (N) */
    if (!s || !perm) {
        free(s);
        free(perm);
        return clvae_error(CLVAE_ERR_NOMEM, "scheduler: out of host memory");
    }
    *s = (clvae_sched){.m = m,
                       .be = m->be,
                       .ds = ds,
                       .B = batch,
                       .D = ds->dim,
                       .perm = perm,
                       .home_x = m->x,
                       .home_lab = m->lab,
                       .cond = m->classes > 0,
                       .lab_off = ((size_t)batch * ds->dim + 15) & ~(size_t)15,
                       .prof = o->profile,
                       .current = -1,
                       .retiring = -1,
                       .overlap = o->overlap,
                       .delay_us = o->delay_us,
                       .fail_at = o->fail_at,
                       .shard = o->shards > 1 ? o->shard : 0,
                       .shards = o->shards > 1 ? o->shards : 1};
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->host_spans = o->profile && !clvae_profile_device(o->profile);
    s->mode = resolve(s, o);
    int st = check_budget(s, o);
    if (!st) st = setup_mode(s, o);
    if (st) {
        clvae_sched_free(s);
        return st;
    }
    if (s->mode == CLVAE_RESIDENCY_DEVICE) s->overlap = false;
    CLVAE_INFO("data: %s residency, %s", s->mode == CLVAE_RESIDENCY_DEVICE ? "device" : "stream",
               s->mode == CLVAE_RESIDENCY_DEVICE ? "batches gathered on the device"
               : s->overlap ? "uploads overlap compute (loader thread, transfer queue)"
                            : "uploads serialized with compute (data.overlap = false)");
    *out = s;
    return CLVAE_OK;
}

int clvae_sched_epoch_begin(clvae_sched *s, const uint32_t *perm, size_t first_row)
{
    size_t n = s->ds->n;
    if (s->current >= 0 || first_row > n)
        return clvae_error(CLVAE_ERR_INTERNAL,
                           "scheduler: epoch_begin with a step pending or "
                           "first row %zu past %zu",
                           first_row, n);
    for (size_t i = 0; i < n; i++)
        if (perm[i] >= n)
            return clvae_error(CLVAE_ERR_INTERNAL,
                               "scheduler: permutation entry %zu is %u, "
                               "past the %zu samples",
                               i, perm[i], n);
    if (s->mode == CLVAE_RESIDENCY_STREAM) {
        int st = sched_stream_quiesce(s);
        if (st) return st;
    }
    memcpy(s->perm, perm, n * sizeof *perm);
    if (s->mode == CLVAE_RESIDENCY_DEVICE) {
        /* In order after every gather already enqueued: the old permutation is not needed. */
        int st = s->be->ops->upload(s->be->ctx, (clvae_view){s->idx, 0}, perm, n * sizeof *perm);
        if (st) return st;
    }
    pthread_mutex_lock(&s->mu);
    s->first = first_row;
    s->n_batches = (long)((n - first_row + s->B - 1) / s->B);
    s->taken = s->filled = 0;
    s->seq_base = s->seq;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return CLVAE_OK;
}

static int device_next(clvae_sched *s, int *b)
{
    const clvae_backend_ops *o = s->be->ops;
    int rows = sched_rows(s, s->taken);
    size_t row = sched_row0(s, s->taken);
    clvae_view idx = {s->idx, row * sizeof(uint32_t)};
    clvae_profile_step(s->prof, s->seq);
    int st = s->ds->u8 ? o->gather_u8(s->be->ctx, s->home_x, s->data, idx, rows, (int)s->D)
                       : o->gather_f32(s->be->ctx, s->home_x, s->data, idx, rows, (int)s->D);
    if (!st && s->cond) st = o->gather_f32(s->be->ctx, s->home_lab, s->labels, idx, rows, 1);
    if (st) return st;
    s->current = 0;
    *b = rows;
    return CLVAE_OK;
}

int clvae_sched_next(clvae_sched *s, int *b)
{
    *b = 0;
    if (s->current >= 0)
        return clvae_error(CLVAE_ERR_INTERNAL, "scheduler: next() before step_done()");
    int st = CLVAE_OK;
    if (s->mode == CLVAE_RESIDENCY_STREAM)
        st = sched_stream_next(s, b);
    else if (s->taken < s->n_batches)
        st = device_next(s, b);
    s->t_step = clvae_now();
    return st;
}

int clvae_sched_step_done(clvae_sched *s)
{
    if (s->current < 0)
        return clvae_error(CLVAE_ERR_INTERNAL, "scheduler: step_done() without a batch");
    clvae_profile_step(s->prof, -1);
    if (s->host_spans)
        clvae_profile_span(s->prof, CLVAE_TRACK_COMPUTE, "step", s->seq, s->t_step, clvae_now());
    if (s->mode == CLVAE_RESIDENCY_STREAM) return sched_stream_done(s);
    s->current = -1;
    s->taken++;
    s->seq++;
    /* Submit the step now (stream mode's marker flushes): the device computes while the host
     * enqueues the next one. */
    return s->be->ops->flush ? s->be->ops->flush(s->be->ctx) : CLVAE_OK;
}

clvae_residency clvae_sched_residency(const clvae_sched *s)
{
    return s->mode;
}

bool clvae_sched_overlapped(const clvae_sched *s)
{
    return s->overlap;
}

void clvae_sched_free(clvae_sched *s)
{
    if (!s) return;
    sched_stream_free(s);
    device_release(s);
    s->m->x = s->home_x;
    s->m->lab = s->home_lab;
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s->perm);
    free(s);
}
