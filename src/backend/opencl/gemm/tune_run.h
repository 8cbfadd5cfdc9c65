/* The search's shared state (search layer, private to tune*.c): one run's shapes with their
 * inputs and reference results, the candidates so far, and the helpers that check and time one
 * candidate on one shape (tune_case.c). */
#ifndef CLVAE_GEMM_TUNE_RUN_H
#define CLVAE_GEMM_TUNE_RUN_H

#include "backend/opencl/gemm/choice.h"
#include "backend/opencl/gemm/tune_options.h"
#include "backend/opencl/ocl_internal.h"

#define NMSE_MAX 1e-8      /* a candidate whose result differs more is wrong */
#define SENTINEL 12345.0f  /* C is filled with this before the checked call */
#define BATCH_SECONDS 0.02 /* one timing batch lasts about this long */
#define BATCHES 5          /* the fastest of this many batches counts (robust on a busy machine) */
#define COLD_CALLS 7       /* a cold case: the fastest of this many evicted calls counts */
#define TOP_K 3            /* the best few are timed again before the winner is chosen */
#define MAX_SEEN 512
#define MIN_SET_GAIN 0.02 /* a further parameter set must save this share of the step */
#define HELPER_SHARE 0.8  /* of the budget for phase 1; the rest for the helper kernels */
#define REJECTED 1 /* eval result: candidate refused, failed or wrong (not an error) */
#define TILED_MIN_GAIN 0.03 /* a tiled kernel must beat CLBlast by this share on its shape */
#define TILED_GIVE_UP 6      /* candidates all over twice CLBlast's time: leave the shape to it */
#define TILED_MIN_SECONDS 60 /* phase 3's budget is --seconds, at least this */

typedef struct tune_case {
    clvae_gemm_shape s;
    clvae_buffer *a, *b, *c;
    float *ref; /* (m, n) reference result */
    bool cold;  /* timed call by call after an eviction of the caches (tune_case.c) */
} tune_case;

typedef struct scored {
    clvae_gemm_params p;
    double ms[CLVAE_TUNE_MAX_SHAPES], total;
} scored;

typedef struct tune_run {
    clvae_backend *be;
    ocl_ctx *c;
    const clvae_tune_options *o;
    tune_case cases[CLVAE_TUNE_MAX_SHAPES];
    int n;
    float *host; /* (largest m*n) download scratch */
    clvae_buffer *evict; /* (evict_floats) written before each timed call of a cold case */
    size_t evict_floats, cold_bytes;
    clvae_tune_limits lim;
    size_t thresholds[CLVAE_TUNE_MAX_SHAPES + 2];
    int nt;
    double t0, def_ms[CLVAE_TUNE_MAX_SHAPES], def_total;
    scored top[TOP_K]; /* best first */
    scored *all;       /* (MAX_SEEN) every verified candidate, for the per-shape sets */
    clvae_gemm_params prev[CLVAE_TUNE_MAX_SETS]; /* the device's tuning file's sets, tried first */
    int n_prev;
    int n_all;
    int n_top, evaluated, rejected, n_seen;
    uint64_t seen[MAX_SEEN], rng;
    bool tty;
    bool dirty;    /* a rejected candidate may be applied and no verified one replaced it */
    char why[256]; /* why the last candidate was rejected */
} tune_run;

double clvae_tune_now(void);
/* Allocates and uploads A, B and computes the reference C for shape s (case idx). */
int clvae_tune_case_init(tune_run *r, tune_case *k, const clvae_gemm_shape *s, int idx);
/* Frees the cases, the download scratch and the candidate list. */
void clvae_tune_run_free(tune_run *r);
/* One GEMM of case k with what is applied or forced now. */
int clvae_tune_gemm_call(tune_run *r, const tune_case *k);
/* One checked call (the first one also builds the program); REJECTED when it fails or is
 * wrong (r->why says why). */
int clvae_tune_check_case(tune_run *r, const tune_case *k);
/* Decides which cases are timed cold and allocates the eviction buffer they need. */
int clvae_tune_cold_init(tune_run *r);
/* Seconds per call: the fastest of BATCHES batches of about BATCH_SECONDS each; a cold case,
 * the fastest of single calls that each follow an eviction. */
int clvae_tune_time_case(tune_run *r, const tune_case *k, double *sec);
/* Phase 3 (tune_tiled.c): clvae's kernels shape by shape against CLBlast's figure in t. */
void clvae_tune_kernels(tune_run *r, clvae_tuning *t);

#endif
