/* The --profile recorder: collects device records (backend profile_drain) and host spans, then
 * writes a Chrome trace-event JSON file: complete events ("ph":"X") in microseconds from the
 * earliest one, pid 1, one tid per track, and computes the share of upload time that overlapped
 * compute (the union of the compute track's spans). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic.h"
#include "train/profile.h"

typedef struct prof_span {
    const char *name; /* static */
    clvae_track track;
    long step;
    double t0, t1; /* microseconds, host CLOCK_MONOTONIC */
    size_t bytes;
} prof_span;

struct clvae_profile {
    clvae_backend *be;
    char *path;
    long first, last; /* recorded steps: [first, last) */
    bool device;      /* the backend records device commands */
    bool closed;
    double overlap;     /* -1 = unknown */
    /* Step accounting (backend counters) over the recorded steps: at the first one's start and
     * the first step past the window (or at close). */
    clvae_backend_counters k0, k1;
    bool have0, have1;
    long seen;                            /* the newest step begun */
    double launches_per_step, host_us_per_step; /* -1 = not counted */
    pthread_mutex_t mu; /* guards spans: the loader thread records too */
    prof_span *spans;   /* (n) */
    size_t n, cap;
};

static void add_span(clvae_profile *p, const prof_span *s)
{
    pthread_mutex_lock(&p->mu);
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 1024;
        prof_span *r = realloc(p->spans, cap * sizeof *r);
        if (!r) { /* a lost trace span is not worth failing the run */
            pthread_mutex_unlock(&p->mu);
            return;
        }
        p->spans = r;
        p->cap = cap;
    }
    p->spans[p->n++] = *s;
    pthread_mutex_unlock(&p->mu);
}

int clvae_profile_open(clvae_profile **out, clvae_backend *be, const char *path, long first_step,
                       long n_steps)
{
    *out = NULL;
    clvae_profile *p = calloc(1, sizeof *p);
    if (!p || !(p->path = strdup(path))) {
        free(p);
        return clvae_error(CLVAE_ERR_NOMEM, "profile: out of host memory");
    }
    pthread_mutex_init(&p->mu, NULL);
    p->be = be;
    p->first = first_step > 0 ? first_step : 0;
    p->last = p->first + (n_steps > 0 ? n_steps : CLVAE_PROFILE_STEPS);
    p->overlap = -1;
    p->launches_per_step = p->host_us_per_step = -1;
    const clvae_backend_ops *o = be->ops;
    p->device = o->profile_enable && o->profile_tag && o->profile_drain;
    int st = p->device ? o->profile_enable(be->ctx, true) : CLVAE_OK;
    if (st) {
        clvae_profile_free(p);
        return st;
    }
    *out = p;
    return CLVAE_OK;
}

bool clvae_profile_wants(const clvae_profile *p, long step)
{
    return p && !p->closed && step >= p->first && step < p->last;
}

bool clvae_profile_device(const clvae_profile *p)
{
    return p && p->device;
}

void clvae_profile_span(clvae_profile *p, clvae_track track, const char *name, long step, double t0,
                        double t1)
{
    if (!clvae_profile_wants(p, step)) return;
    prof_span s = {name, track, step, t0 * 1e6, t1 * 1e6, 0};
    add_span(p, &s);
}

/* Counters at the window's edges: the first recorded step's start, the first step past it. */
static void count_edges(clvae_profile *p, long step)
{
    void (*counters)(void *, clvae_backend_counters *) = p->be->ops->counters;
    if (!counters || step < 0) return;
    p->seen = step;
    if (!p->have0 && step == p->first) {
        counters(p->be->ctx, &p->k0);
        p->have0 = true;
    } else if (p->have0 && !p->have1 && step >= p->last) {
        counters(p->be->ctx, &p->k1);
        p->have1 = true;
    }
}

void clvae_profile_step(clvae_profile *p, long step)
{
    if (!p || !p->device || p->closed) return;
    count_edges(p, step);
    p->be->ops->profile_tag(p->be->ctx, clvae_profile_wants(p, step) ? step : -1);
}

/* Launches and host enqueue time per recorded step (a run that ended inside the window: per
 * step begun, the counters read at close). */
static void count_close(clvae_profile *p)
{
    long steps = p->have1 ? p->last - p->first : p->seen - p->first + 1;
    if (!p->have0 || steps <= 0) return;
    if (!p->have1) p->be->ops->counters(p->be->ctx, &p->k1);
    p->launches_per_step = (double)(p->k1.launches - p->k0.launches) / (double)steps;
    p->host_us_per_step = (double)(p->k1.enqueue_ns - p->k0.enqueue_ns) / 1e3 / (double)steps;
}

static void on_record(void *user, const clvae_prof_record *r)
{
    clvae_profile *p = user;
    if (r->tag < p->first || r->tag >= p->last) return;
    prof_span s = {
        r->name,   r->queue == CLVAE_QUEUE_TRANSFER ? CLVAE_TRACK_TRANSFER : CLVAE_TRACK_COMPUTE,
        r->tag,    r->start_us,
        r->end_us, r->bytes};
    add_span(p, &s);
}

static int by_start(const void *a, const void *b)
{
    double x = ((const prof_span *)a)->t0, y = ((const prof_span *)b)->t0;
    return x < y ? -1 : x > y;
}

/* Sorted spans: upload time inside the union of compute spans / all upload time. */
static double overlap_share(const prof_span *s, size_t n, double *upload_us)
{
    double total = 0, covered = 0, cur0 = 0, cur1 = 0;
    double *m0 = malloc((n + 1) * sizeof *m0), *m1 = malloc((n + 1) * sizeof *m1); /* (nm) */
    size_t nm = 0;
    bool open = false;
    if (!m0 || !m1) n = 0;
    for (size_t i = 0; i < n; i++) { /* merge the compute spans (sorted by start) */
        if (s[i].track != CLVAE_TRACK_COMPUTE) continue;
        if (!open || s[i].t0 > cur1) {
            if (open) m0[nm] = cur0, m1[nm++] = cur1;
            cur0 = s[i].t0;
            cur1 = s[i].t1;
            open = true;
        } else if (s[i].t1 > cur1) {
            cur1 = s[i].t1;
        }
    }
    if (open) m0[nm] = cur0, m1[nm++] = cur1;
    for (size_t i = 0; i < n; i++) {
        if (s[i].track != CLVAE_TRACK_TRANSFER) continue;
        total += s[i].t1 - s[i].t0;
        for (size_t j = 0; j < nm; j++) {
            double a = s[i].t0 > m0[j] ? s[i].t0 : m0[j], b = s[i].t1 < m1[j] ? s[i].t1 : m1[j];
            if (b > a) covered += b - a;
        }
    }
    free(m0);
    free(m1);
    *upload_us = total;
    return total > 0 ? covered / total : -1;
}

static const char *track_name(clvae_track t)
{
    return t == CLVAE_TRACK_COMPUTE     ? "compute queue"
           : t == CLVAE_TRACK_TRANSFER  ? "transfer queue"
           : t == CLVAE_TRACK_ALLREDUCE ? "gradient allreduce"
                                        : "host loader";
}

static int write_trace(const clvae_profile *p, double origin)
{
    clvae_atomic_file af;
    int st = clvae_atomic_open(&af, p->path);
    if (st) return st;
    fprintf(af.fp,
            "{\"displayTimeUnit\": \"ms\", \"otherData\": {\"device\": \"%s\", "
            "\"backend\": \"%s\", \"steps\": [%ld, %ld]",
            p->be->ops->device_name(p->be->ctx), p->be->ops->name, p->first, p->last - 1);
    if (p->launches_per_step >= 0)
        fprintf(af.fp, ", \"launches_per_step\": %.2f, \"host_us_per_step\": %.1f",
                p->launches_per_step, p->host_us_per_step);
    fputs("},\n \"traceEvents\": [\n", af.fp);
    fprintf(af.fp, "  {\"name\": \"process_name\", \"ph\": \"M\", \"pid\": 1, \"tid\": 0, "
                   "\"args\": {\"name\": \"clvae\"}}");
    for (int t = CLVAE_TRACK_COMPUTE; t <= CLVAE_TRACK_ALLREDUCE; t++)
        fprintf(af.fp,
                ",\n  {\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": 1, \"tid\": %d, "
                "\"args\": {\"name\": \"%s\"}}",
                t, track_name((clvae_track)t));
    for (size_t i = 0; i < p->n; i++) {
        const prof_span *s = &p->spans[i];
        fprintf(af.fp,
                ",\n  {\"name\": \"%s\", \"cat\": \"%s\", \"ph\": \"X\", \"pid\": 1, "
                "\"tid\": %d, \"ts\": %.3f, \"dur\": %.3f, \"args\": {\"step\": %ld",
                s->name, track_name(s->track), (int)s->track, s->t0 - origin, s->t1 - s->t0,
                s->step);
        if (s->bytes) fprintf(af.fp, ", \"bytes\": %zu", s->bytes);
        fputs("}}", af.fp);
    }
    fputs("\n]}\n", af.fp);
    return clvae_atomic_finish(&af);
}

int clvae_profile_close(clvae_profile *p)
{
    if (!p || p->closed) return CLVAE_OK;
    if (p->device) count_close(p);
    int st = p->device ? p->be->ops->profile_drain(p->be->ctx, on_record, p) : CLVAE_OK;
    if (p->device) p->be->ops->profile_enable(p->be->ctx, false);
    p->closed = true;
    if (st) return st;
    qsort(p->spans, p->n, sizeof *p->spans, by_start);
    double origin = p->n ? p->spans[0].t0 : 0, upload_us = 0;
    p->overlap = overlap_share(p->spans, p->n, &upload_us);
    if ((st = write_trace(p, origin))) return st;
    fprintf(stderr, "profile: wrote %s (%zu events, steps %ld-%ld, %s timestamps)\n", p->path, p->n,
            p->first, p->last - 1, p->device ? "device" : "host");
    if (p->launches_per_step >= 0)
        fprintf(stderr, "profile: %.2f launches and %.1f us of host enqueue time per step "
                "(with profiling events)\n", p->launches_per_step, p->host_us_per_step);
    if (p->overlap >= 0)
        fprintf(stderr, "profile: %.0f%% of %.3f ms upload time overlapped compute\n",
                100 * p->overlap, upload_us / 1e3);
    else
        fprintf(stderr, "profile: no uploads recorded (device-resident data)\n");
    return CLVAE_OK;
}

double clvae_profile_overlap(const clvae_profile *p)
{
    return p ? p->overlap : -1;
}

void clvae_profile_free(clvae_profile *p)
{
    if (!p) return;
    pthread_mutex_destroy(&p->mu);
    free(p->spans);
    free(p->path);
    free(p);
}
