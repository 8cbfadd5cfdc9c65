/* What a caller asks of the search (tune.h): its budget and what it reports. Apart so the
 * search's own files (tune_run.h) take it without the search's entry point. */
#ifndef CLVAE_GEMM_TUNE_OPTIONS_H
#define CLVAE_GEMM_TUNE_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct clvae_tune_options {
    double seconds;     /* time budget; at least one candidate is always evaluated */
    int max_candidates; /* 0 = no limit */
    bool progress;      /* progress on stderr: one line per candidate, or a \r line on a tty */
    bool helpers;       /* last 20% of the budget: the copy/pad/transpose kernels' parameters */
    int max_sets;       /* parameter sets in the file, 1..CLVAE_TUNE_MAX_SETS (0 = 1): on PoCL a
                           switch between sets costs the host about 2 ms, more than they saved */
    uint64_t seed;      /* random sampling */
    size_t cold_bytes;  /* weight-gradient (TN) shapes whose A and B take at least this many
                           bytes are timed with evicted caches (tune_case.c); 0 = a quarter of
                           the device's global memory cache */
} clvae_tune_options;

#endif
