/* Training throughput benchmark behind `clvae bench`. */
#ifndef CLVAE_BENCH_H
#define CLVAE_BENCH_H

#include <stdbool.h>

#include "clvae/config.h"

typedef struct clvae_bench_result {
    double samples_per_s, seconds, loss;
    long steps;
    char device[256];
    char backend[32];
    char residency[16];     /* "device" or "stream" (data.residency resolved) */
    bool overlap;           /* stream: uploads overlapped compute */
    double overlap_share;   /* with a profile: share of upload time that overlapped compute; -1 */
    double launches_per_step; /* device commands enqueued per timed step; -1: not counted */
    double host_us_per_step;  /* host microseconds inside the enqueue calls per step; -1 */
    double replays_per_step;  /* recorded steps replayed per timed step (command buffers); -1 */
} clvae_bench_result;

typedef struct clvae_bench_options {
    long steps;                 /* timed steps (after a warm-up) */
    const char *profile_path;   /* NULL = no trace; else a Chrome trace of the first steps */
} clvae_bench_options;

/* Runs `steps` timed training steps (after a warm-up) of the configured model and device. */
int clvae_bench(const clvae_config *cfg, long steps, clvae_bench_result *r);

/* The same with options: the timed steps' first CLVAE_PROFILE_STEPS go into the trace. */
int clvae_bench_run(const clvae_config *cfg, const clvae_bench_options *o, clvae_bench_result *r);

#endif
