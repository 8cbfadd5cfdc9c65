/* The --profile recorder: device commands (from the backend's profiling slots) and host spans
 * (the loader thread) of the first steps of a run, written as a Chrome trace-event JSON file
 * (Perfetto, chrome://tracing) with one track per queue and one for the host loader, and the
 * share of upload time that overlapped compute. */
#ifndef CLVAE_TRAIN_PROFILE_H
#define CLVAE_TRAIN_PROFILE_H

#include <stdbool.h>

#include "backend/backend.h"

/* Steps recorded by default: bounds the memory the retained events take. */
#define CLVAE_PROFILE_STEPS 50

/* Trace tracks (Chrome "tid"s). */
typedef enum clvae_track {
    CLVAE_TRACK_COMPUTE = 1,  /* the compute queue: kernels and GEMMs */
    CLVAE_TRACK_TRANSFER = 2, /* the transfer queue: uploads */
    CLVAE_TRACK_LOADER = 3,   /* the host loader thread: gathers */
    CLVAE_TRACK_ALLREDUCE = 4 /* data-parallel runs: gradient download, MPI sum, upload (host) */
} clvae_track;

typedef struct clvae_profile clvae_profile;

/* A recorder for steps [first_step, first_step + n_steps) writing `path`. Turns on the
 * backend's profiling when it has the slots (call before the scheduler starts: the queues are
 * recreated). */
int clvae_profile_open(clvae_profile **out, clvae_backend *be, const char *path, long first_step,
                       long n_steps);

/* True when `step` lies in the recorded window (false for a NULL recorder). */
bool clvae_profile_wants(const clvae_profile *p, long step);

/* True when the backend timestamps device commands; otherwise the scheduler records host spans
 * for uploads and steps (reference backend: the host is the device). */
bool clvae_profile_device(const clvae_profile *p);

/* Records a host span [t0, t1] (seconds of clvae_now()) on `track`. Thread-safe. */
void clvae_profile_span(clvae_profile *p, clvae_track track, const char *name, long step, double t0,
                        double t1);

/* Compute commands enqueued from now on belong to `step` (-1: to none; not recorded). */
void clvae_profile_step(clvae_profile *p, long step);

/* Drains the backend's records, writes the trace (atomically) and prints the events and the
 * overlap share on stderr. Idempotent; call before the backend goes away. */
int clvae_profile_close(clvae_profile *p);

/* Share of upload time that overlapped compute, in [0, 1]; -1 before close or with no uploads. */
double clvae_profile_overlap(const clvae_profile *p);

void clvae_profile_free(clvae_profile *p);

#endif
