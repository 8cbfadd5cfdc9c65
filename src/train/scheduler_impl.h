/* Internals of the host scheduler shared by scheduler.c (API, device residency) and
 * scheduler_stream.c (the staging ring and its loader thread). */
#ifndef CLVAE_TRAIN_SCHEDULER_IMPL_H
#define CLVAE_TRAIN_SCHEDULER_IMPL_H

#include <pthread.h>

#include "train/scheduler.h"

/* A ring slot moves FREE -> FILLING (loader) -> READY -> IN_USE (compute) -> FREE. */
typedef enum { SLOT_FREE, SLOT_FILLING, SLOT_READY, SLOT_IN_USE } sched_slot_state;

typedef struct sched_slot {
    clvae_staging *stage; /* pinned staging buffer */
    float *host;          /* (B, D) its host view, written by the loader */
    clvae_buffer *dev;    /* (B, D) the device copy the step reads */
    sched_slot_state state;
    int rows;               /* rows of the batch it holds */
    clvae_ticket *uploaded; /* its last upload: compute waits on it, the next gather too */
    clvae_ticket *released; /* marker behind the step that read it: the next upload waits */
} sched_slot;

struct clvae_sched {
    clvae_model *m;
    clvae_backend *be;
    const clvae_dataset *ds;
    int B;                /* rows per batch */
    size_t D;             /* features per row */
    clvae_residency mode; /* device or stream */
    bool overlap;         /* stream: loader thread + transfer queue */
    clvae_view home_x;    /* (B, D) the model's own input view, restored after each step */
    clvae_view home_lab;  /* (B) the model's own label view (conditional models) */
    bool cond;            /* conditional model: each batch's labels travel with it */
    size_t lab_off;       /* stream: floats from a slot's start to its (B) labels */
    clvae_profile *prof;
    bool host_spans; /* no device timestamps: time uploads and steps on the host */
    double t_step;   /* clvae_now() when next() handed out the batch */
    /* the epoch's plan */
    uint32_t *perm;        /* (N) copy of the epoch permutation */
    size_t first;          /* row of perm where the plan starts */
    int shard, shards;     /* this process's part of each batch (options: shard of shards) */
    long n_batches, taken; /* batches in the plan / handed to compute so far */
    long seq, seq_base;    /* batches handed out over the run / when the epoch began */
    /* device residency */
    clvae_buffer *data; /* (N, D) u8 or f32: the whole training set */
    clvae_buffer *idx;  /* (N) u32: the epoch permutation */
    clvae_buffer *labels; /* (N) f32: the training labels (conditional models) */
    /* stream residency */
    sched_slot *slots; /* (n_slots) */
    int n_slots;
    int current;  /* slot the step being enqueued reads, -1 = none */
    int retiring; /* slot of the last enqueued step, not yet released; -1 = none */
    long filled;  /* batches of the plan the loader has filled */
    pthread_t thread;
    bool started, shutdown, busy;
    pthread_mutex_t mu; /* guards the slot states, plan counters, flags and err */
    pthread_cond_t cv;  /* broadcast on every change of those */
    int err;            /* the loader's failure, sticky */
    char err_msg[512];
    long delay_us, fail_at; /* test hooks */
};

/* Floats of a stream slot: the (B, D) batch, then (conditional) its (B) labels, 64-byte aligned. */
static inline size_t sched_slot_floats(const clvae_sched *s)
{
    return s->cond ? s->lab_off + (size_t)s->B : (size_t)s->B * s->D;
}

/* Rows of the whole batch k of the current plan (all shards). */
static inline size_t sched_batch_rows(const clvae_sched *s, long k)
{
    size_t row = s->first + (size_t)k * s->B, n = s->ds->n;
    return n - row < (size_t)s->B ? n - row : (size_t)s->B;
}

/* This process's part of batch k (a data-parallel shard: rows [r*g/N, (r+1)*g/N) of its g rows;
 * one shard: all of them): its first row in the permutation and its row count. */
static inline size_t sched_row0(const clvae_sched *s, long k)
{
    return s->first + (size_t)k * s->B + sched_batch_rows(s, k) * s->shard / s->shards;
}

static inline int sched_rows(const clvae_sched *s, long k)
{
    size_t g = sched_batch_rows(s, k);
    return (int)(g * (s->shard + 1) / s->shards - g * s->shard / s->shards);
}

/* scheduler_stream.c */
int sched_stream_init(clvae_sched *s, int slots);
/* Releases the last step's slot, stops new fills, waits for the loader to go idle and
 * reclaims prefetched slots. */
int sched_stream_quiesce(clvae_sched *s);
int sched_stream_next(clvae_sched *s, int *b);
int sched_stream_done(clvae_sched *s);
void sched_stream_free(clvae_sched *s);

#endif
