/* Training throughput benchmark behind `clvae bench`. */
#ifndef CLVAE_BENCH_H
#define CLVAE_BENCH_H

#include "clvae/config.h"

typedef struct clvae_bench_result {
    double samples_per_s, seconds, loss;
    long steps;
    char device[256];
    char backend[32];
} clvae_bench_result;

/* Runs `steps` timed training steps (after a warm-up) of the configured model and device. */
int clvae_bench(const clvae_config *cfg, long steps, clvae_bench_result *r);

#endif
