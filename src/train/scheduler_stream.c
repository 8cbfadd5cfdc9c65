/* The stream residency: a ring of slots, each a pinned staging buffer plus a device buffer. A
 * loader thread gathers the epoch's shuffled samples into the next free slot and enqueues its
 * upload on the transfer queue; the compute queue waits on that upload's ticket only (a barrier).
 * A slot is refilled only after the step that read it has completed: a marker enqueued behind
 * that step, which the loader waits for before gathering and which the upload also carries in
 * its wait list. The marker is enqueued right after the next step's barrier, so it completes as
 * the next step starts computing and the upload of batch i+1 runs while batch i computes. With
 * data.overlap = false there is one slot and no thread: after the previous step has finished,
 * gather, upload, wait, then compute. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train/progress.h"
#include "train/scheduler_impl.h"

#define MIB (1024.0 * 1024.0)

static int slots_alloc(clvae_sched *s, int n)
{
    const clvae_backend_ops *o = s->be->ops;
    size_t bytes = sched_slot_floats(s) * sizeof(float); /* (B, D) [+ (B) labels] per slot */
    if (!o->staging_alloc || !o->staging_free || !o->upload_async || !o->compute_wait ||
        !o->compute_marker || !o->ticket_wait || !o->ticket_release)
        return clvae_error(CLVAE_ERR_UNSUPPORTED,
                           "data.residency=stream: backend %s has no staging buffers or "
                           "asynchronous uploads",
                           o->name);
    if (!(s->slots = calloc((size_t)n, sizeof *s->slots)))
        return clvae_error(CLVAE_ERR_NOMEM, "scheduler: out of host memory");
    s->n_slots = n;
    for (int i = 0; i < n; i++) {
        sched_slot *sl = &s->slots[i];
        void *host = NULL;
        int st = o->staging_alloc(s->be->ctx, bytes, &sl->stage, &host);
        sl->host = host;
        if (!st) st = o->buffer_alloc(s->be->ctx, bytes, &sl->dev);
        if (!st) continue;
        char why[512]; /* clvae_error rewrites the buffer clvae_last_error() points to */
        snprintf(why, sizeof why, "%s", clvae_last_error());
        return clvae_error(st,
                           "data.residency=stream: cannot allocate ring slot %d of %d (%.2f MiB) "
                           "on \"%s\": %s",
                           i + 1, n, bytes / MIB, o->device_name(s->be->ctx), why);
    }
    return CLVAE_OK;
}

/* Copies plan rows [row0, row0 + rows) into dst (rows, D); the failure hook fires here. */
static int gather(clvae_sched *s, float *dst, size_t row0, int rows, long seq)
{
    const uint32_t *idx = s->perm + row0;
    if (seq == s->fail_at)
        return clvae_error(CLVAE_ERR_IO,
                           "loader: gathering batch %ld (rows %zu-%zu of the "
                           "shuffle) failed (injected by CLVAE_SCHED_FAIL_AT)",
                           seq, row0, row0 + rows - 1);
    if (s->cond) /* the labels ride in the same slot, after the (B, D) batch */
        for (int i = 0; i < rows; i++) dst[s->lab_off + i] = (float)s->ds->labels[idx[i]];
    if (s->delay_us <= 0) {
        clvae_dataset_gather(s->ds, idx, (size_t)rows, dst);
        return CLVAE_OK;
    }
    for (int i = 0; i < rows; i++) { /* test hook: slow, row by row */
        clvae_dataset_gather(s->ds, idx + i, 1, dst + (size_t)i * s->D);
        usleep((useconds_t)s->delay_us);
    }
    return CLVAE_OK;
}

/* Waits for `*t` on the host and drops it. */
static int wait_drop(clvae_sched *s, clvae_ticket **t)
{
    int st = *t ? s->be->ops->ticket_wait(s->be->ctx, *t) : CLVAE_OK;
    s->be->ops->ticket_release(s->be->ctx, *t);
    *t = NULL;
    return st;
}

/* Fills `sl` (owned by the caller: FILLING) with plan rows [row0, row0 + rows) and uploads it. */
static int fill_slot(clvae_sched *s, sched_slot *sl, size_t row0, int rows, long seq)
{
    const clvae_backend_ops *o = s->be->ops;
    void *c = s->be->ctx;
    int st = wait_drop(s, &sl->uploaded); /* the staging's last upload has read it */
    if (!st && sl->released) st = o->ticket_wait(c, sl->released); /* its last step is done */
    if (st) return st;
    double t0 = clvae_now();
    if ((st = gather(s, sl->host, row0, rows, seq))) return st;
    double t1 = clvae_now();
    clvae_profile_span(s->prof, CLVAE_TRACK_LOADER, "gather", seq, t0, t1);
    long tag = clvae_profile_device(s->prof) && clvae_profile_wants(s->prof, seq) ? seq : -1;
    size_t floats = s->cond ? s->lab_off + (size_t)rows : (size_t)rows * s->D;
    st = o->upload_async(c, (clvae_view){sl->dev, 0}, sl->stage, floats * sizeof(float),
                         sl->released, tag, &sl->uploaded);
    o->ticket_release(c, sl->released); /* the wait list holds it now */
    sl->released = NULL;
    if (!st && s->host_spans)
        clvae_profile_span(s->prof, CLVAE_TRACK_TRANSFER, "upload", seq, t1, clvae_now());
    if (!st && !s->overlap) st = o->ticket_wait(c, sl->uploaded); /* serialized */
    sl->rows = rows;
    return st;
}

/* The loader thread: fills batch `filled` into slot filled % n_slots whenever that slot is
 * free, until shutdown or a failure (kept in err / err_msg for the driving thread). */
static void *loader_main(void *arg)
{
    clvae_sched *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        sched_slot *sl = &s->slots[s->filled % s->n_slots];
        while (!s->shutdown && !s->err && !(s->filled < s->n_batches && sl->state == SLOT_FREE)) {
            pthread_cond_wait(&s->cv, &s->mu);
            sl = &s->slots[s->filled % s->n_slots];
        }
        if (s->shutdown || s->err) break;
        long k = s->filled, seq = s->seq_base + k;
        size_t row0 = sched_row0(s, k);
        int rows = sched_rows(s, k);
        sl->state = SLOT_FILLING;
        s->busy = true;
        pthread_mutex_unlock(&s->mu);
        int st = fill_slot(s, sl, row0, rows, seq);
        pthread_mutex_lock(&s->mu);
        s->busy = false;
        sl->state = st ? SLOT_FREE : SLOT_READY;
        if (st) {
            snprintf(s->err_msg, sizeof s->err_msg, "%s", clvae_last_error());
            s->err = st;
        } else {
            s->filled++;
        }
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* SIGINT/SIGTERM stay with the driving thread (the trainer's checkpoint-on-signal logic). */
static int start_loader(clvae_sched *s)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int rc = pthread_create(&s->thread, NULL, loader_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc)
        return clvae_error(CLVAE_ERR_NOMEM, "scheduler: cannot start the loader thread: %s",
                           strerror(rc));
    s->started = true;
    return CLVAE_OK;
}

int sched_stream_init(clvae_sched *s, int slots)
{
    int st = slots_alloc(s, slots);
    if (!st && s->overlap) st = start_loader(s);
    return st;
}

/* Releases the slot of the last finished step: a marker enqueued now completes after that step
 * (in-order queue), and the slot's next upload waits on it on the device. next() calls it right
 * after the following step's barrier, so that upload starts as the following step's kernels do
 * (the upload of batch i+1 overlaps the compute of batch i), and epoch_begin before quiescing. */
static int retire(clvae_sched *s)
{
    if (s->retiring < 0) return CLVAE_OK;
    sched_slot *sl = &s->slots[s->retiring];
    clvae_ticket *t = NULL;
    int st = s->be->ops->compute_marker(s->be->ctx, &t);
    if (st) return st; /* the slot stays in use: nothing may overwrite it */
    pthread_mutex_lock(&s->mu);
    sl->released = t;
    sl->state = SLOT_FREE;
    s->retiring = -1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return CLVAE_OK;
}

int sched_stream_quiesce(clvae_sched *s)
{
    int st = retire(s);
    pthread_mutex_lock(&s->mu);
    s->n_batches = 0; /* no new fills */
    while (s->busy)
        pthread_cond_wait(&s->cv, &s->mu);
    for (int i = 0; i < s->n_slots; i++) {
        sched_slot *sl = &s->slots[i];
        if (sl->state == SLOT_READY) sl->state = SLOT_FREE; /* prefetched, never read */
    }
    pthread_mutex_unlock(&s->mu);
    return st;
}

/* The compute queue waits for the slot's upload (a barrier), the previous step's slot is
 * released behind it, and the model reads this slot. */
static int hand_out(clvae_sched *s, sched_slot *sl, int *b)
{
    int st = s->be->ops->compute_wait(s->be->ctx, sl->uploaded); /* kept for the next fill */
    if (!st) st = retire(s);
    s->current = (int)(sl - s->slots);
    if (st) return st;
    s->m->x = (clvae_view){sl->dev, 0};
    if (s->cond) s->m->lab = (clvae_view){sl->dev, s->lab_off * sizeof(float)};
    clvae_profile_step(s->prof, s->seq);
    *b = sl->rows;
    return CLVAE_OK;
}

/* data.overlap = false: the previous step is released (and waited for by fill_slot) first. */
static int serial_next(clvae_sched *s, int *b)
{
    sched_slot *sl = &s->slots[0];
    long k = s->taken;
    int st = retire(s);
    if (st || k >= s->n_batches) return st;
    st = fill_slot(s, sl, sched_row0(s, k), sched_rows(s, k), s->seq);
    if (st) return st;
    sl->state = SLOT_IN_USE;
    return hand_out(s, sl, b);
}

int sched_stream_next(clvae_sched *s, int *b)
{
    if (!s->overlap) return serial_next(s, b);
    pthread_mutex_lock(&s->mu);
    sched_slot *sl = &s->slots[s->taken % s->n_slots];
    while (!s->err && s->taken < s->n_batches && sl->state != SLOT_READY)
        pthread_cond_wait(&s->cv, &s->mu);
    /* Batches filled before a loader failure are still handed out; the failed one is not. */
    bool ready = s->taken < s->n_batches && sl->state == SLOT_READY;
    int err = ready ? CLVAE_OK : s->err;
    if (ready) sl->state = SLOT_IN_USE;
    pthread_mutex_unlock(&s->mu);
    if (err) return clvae_error(err, "%s", s->err_msg);
    return ready ? hand_out(s, sl, b) : retire(s); /* the epoch is over */
}

int sched_stream_done(clvae_sched *s)
{
    s->m->x = s->home_x;
    s->m->lab = s->home_lab;
    pthread_mutex_lock(&s->mu);
    s->retiring = s->current; /* released by the next next() or epoch_begin */
    s->current = -1;
    s->taken++;
    s->seq++;
    pthread_mutex_unlock(&s->mu);
    return CLVAE_OK;
}

void sched_stream_free(clvae_sched *s)
{
    const clvae_backend_ops *o = s->be->ops;
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->shutdown = true;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
        s->started = false;
    }
    for (int i = 0; s->slots && i < s->n_slots; i++) {
        sched_slot *sl = &s->slots[i];
        clvae_ticket *t[2] = {sl->uploaded, sl->released};
        for (int j = 0; j < 2; j++) {
            if (!t[j]) continue;
            o->ticket_wait(s->be->ctx, t[j]); /* nothing may still write or read the slot */
            o->ticket_release(s->be->ctx, t[j]);
        }
        if (sl->stage) o->staging_free(s->be->ctx, sl->stage);
        o->buffer_free(s->be->ctx, sl->dev);
    }
    free(s->slots);
    s->slots = NULL;
    s->n_slots = 0;
}
