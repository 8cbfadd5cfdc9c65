/* The host scheduler: feeds training batches to the model from the epoch's Philox shuffle, in
 * one of two residencies. `device`: the dataset is uploaded once (bytes when 8-bit) and each
 * batch is gathered on the device. `stream`: the data stays on the host; a loader thread gathers
 * batches into a ring of pinned staging slots, a transfer queue uploads them, and the compute
 * queue waits only for its batch's upload event, so the upload of batch i+1 overlaps the compute
 * of batch i. Either way a step sees the same batch, so the losses are the same bits.
 *
 * Per epoch: epoch_begin(perm, first_row), then per step next(&b) (points m->x at the batch,
 * arranges the waits and releases the previous step's slot behind a marker; b = 0 when the
 * epoch is done), the model's step, step_done() (m->x goes back to the model's own input view).
 * Nothing in a step waits for the device. The model never knows the mode.
 * A conditional model's labels travel with their batch: gathered on the device from an (N)
 * float copy (device), or in the same staging slot and upload as the batch (stream), so m->lab
 * holds the batch's labels in either mode. */
#ifndef CLVAE_TRAIN_SCHEDULER_H
#define CLVAE_TRAIN_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clvae/config.h"
#include "clvae/data.h"
#include "model/vae.h"
#include "train/profile.h"

/* residency = auto picks device when the data takes at most this share of global memory. */
#define CLVAE_SCHED_DEVICE_SHARE 0.25
/* Stream ring slots by default (>= 2: one computing, one uploading, one being gathered). */
#define CLVAE_SCHED_SLOTS 3

typedef struct clvae_sched clvae_sched;

typedef struct clvae_sched_options {
    clvae_residency residency; /* auto, device or stream */
    bool overlap;              /* stream: loader thread + transfer queue; false = serialized */
    int slots;                 /* stream ring size, >= 2 (1 when overlap is off) */
    double device_share;       /* auto: device when the data fits this share of memory */
    size_t host_budget;        /* bytes the training data and staging may take on the host */
    clvae_profile *profile;    /* NULL: no trace */
    int shard, shards;         /* data-parallel (src/dist/): feed part `shard` of `shards` of every
                                  batch (rows [r*g/N, (r+1)*g/N) of its g rows); 0 of 1 = all */
    /* Test hooks, also read from the environment by clvae_sched_options_default:
     * CLVAE_SCHED_DELAY_US (loader sleeps per gathered row), CLVAE_SCHED_FAIL_AT (the loader
     * fails gathering that batch, counted from 0 over the run), CLVAE_HOST_MEM_BUDGET (bytes,
     * K/M/G suffix). */
    long delay_us;
    long fail_at; /* -1 = never */
} clvae_sched_options;

/* Options from cfg->data (residency, overlap) and the environment's test hooks; the host budget
 * defaults to the machine's physical memory. */
void clvae_sched_options_default(clvae_sched_options *o, const clvae_config *cfg);

/* Sets up feeding `ds` to `m` in batches of up to `batch` rows (m->max_batch >= batch): resolves
 * auto (logging the choice), checks the host budget, uploads a device-resident dataset or
 * allocates the stream ring and starts the loader thread. A dataset that does not fit is
 * CLVAE_ERR_NOMEM (host budget) or CLVAE_ERR_DEVICE (device allocation), with a message. */
int clvae_sched_init(clvae_sched **out, clvae_model *m, const clvae_dataset *ds, int batch,
                     const clvae_sched_options *o);

/* Starts an epoch over perm (ds->n sample indices, copied) from row `first_row` (a resumed run
 * starts mid-epoch). Drops batches prefetched for an unfinished epoch. */
int clvae_sched_epoch_begin(clvae_sched *s, const uint32_t *perm, size_t first_row);

/* The next batch: *b rows now in m->x once the compute queue gets there (b = 0: the epoch is
 * over). A loader failure comes back here as its status with the loader's message. */
int clvae_sched_next(clvae_sched *s, int *b);

/* After the step that read the batch is enqueued. Its slot is released by the next next() (or
 * epoch_begin) and refilled only once that compute has run. */
int clvae_sched_step_done(clvae_sched *s);

/* The residency in use (device or stream, never auto) and whether uploads overlap compute. */
clvae_residency clvae_sched_residency(const clvae_sched *s);
bool clvae_sched_overlapped(const clvae_sched *s);

/* Stops and joins the loader, then frees the ring / device copy. NULL is a no-op. */
void clvae_sched_free(clvae_sched *s);

#endif
