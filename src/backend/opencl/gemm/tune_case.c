/* The search's cases (search layer): inputs and reference results per GEMM shape, and one
 * candidate's checked call and timing on a shape, with whatever is applied or forced.
 *
 * Warm and cold timing. Repeated calls find A and B in the caches, which is what a training step
 * gives a GEMM whose operands are small next to the device's cache (the default model's step
 * touches some 12 MB in all and stays in a 32 MB L3). A GEMM whose operands are large was not
 * so lucky in the step: a conv layer's weight gradient reads the 12.8 MB column matrix its
 * forward wrote, with the rest of the step's traffic in between. Warm timing favoured CLBlast's
 * indirect path there, which copies B once more (TN 64x512x6272 on PoCL: the tuner picked CLBlast
 * while the split outer kernel trained dcgan28 about 9% faster). So a weight-gradient shape (TN:
 * dW = dY^T X, X written in the forward) whose A and B take at least cold_bytes (default a
 * quarter of the device's global memory cache) is timed call by call, each call after a write of
 * twice the cache's size that evicts them. Forwards (NT) and input gradients (NN) read what the
 * op just before them wrote, and stay warm. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "backend/opencl/gemm/tune_run.h"
#include "backend/ref/ref_math.h"
#include "core/log.h"

double clvae_tune_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- cases: inputs, reference results ---- */

static void fill_random(float *x, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        x[i] = (float)((double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
}

/* Allocates and uploads A, B and computes the reference C for one shape. */
int clvae_tune_case_init(tune_run *r, tune_case *k, const clvae_gemm_shape *s, int idx)
{
    const clvae_backend_ops *o = r->be->ops;
    size_t na = (size_t)s->m * s->k, nb = (size_t)s->k * s->n, nc = (size_t)s->m * s->n;
    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b), *tmp = malloc((na + nb) * 4);
    k->s = *s;
    k->ref = malloc(nc * sizeof(float));
    int st = a && b && tmp && k->ref ? CLVAE_OK
                                     : clvae_error(CLVAE_ERR_NOMEM, "tune: out of host memory");
    if (!st) {
        fill_random(a, na, 1000 + 2 * (uint64_t)idx);
        fill_random(b, nb, 1001 + 2 * (uint64_t)idx);
        clvae_ref_gemm(s->ta, s->tb, s->m, s->n, s->k, 1.0f, a, s->ta ? s->m : s->k, b,
                       s->tb ? s->k : s->n, 0.0f, k->ref, s->n, tmp);
        st = o->buffer_alloc(r->be->ctx, na * sizeof(float), &k->a);
    }
    if (!st) st = o->buffer_alloc(r->be->ctx, nb * sizeof(float), &k->b);
    if (!st) st = o->buffer_alloc(r->be->ctx, nc * sizeof(float), &k->c);
    if (!st) st = o->upload(r->be->ctx, (clvae_view){k->a, 0}, a, na * sizeof(float));
    if (!st) st = o->upload(r->be->ctx, (clvae_view){k->b, 0}, b, nb * sizeof(float));
    free(a);
    free(b);
    free(tmp);
    return st;
}

void clvae_tune_run_free(tune_run *r)
{
    for (int i = 0; i < r->n; i++) {
        tune_case *k = &r->cases[i];
        if (k->a) r->be->ops->buffer_free(r->be->ctx, k->a);
        if (k->b) r->be->ops->buffer_free(r->be->ctx, k->b);
        if (k->c) r->be->ops->buffer_free(r->be->ctx, k->c);
        free(k->ref);
    }
    if (r->evict) r->be->ops->buffer_free(r->be->ctx, r->evict);
    free(r->host);
    free(r->all);
}

/* ---- one candidate on one shape ---- */

int clvae_tune_gemm_call(tune_run *r, const tune_case *k)
{
    const clvae_gemm_shape *s = &k->s;
    return r->be->ops->gemm(r->be->ctx, s->ta, s->tb, s->m, s->n, s->k, 1.0f, (clvae_view){k->a, 0},
                            s->ta ? s->m : s->k, (clvae_view){k->b, 0}, s->tb ? s->k : s->n, 0.0f,
                            (clvae_view){k->c, 0}, s->n);
}

/* One checked call (the first one also builds the program); REJECTED when it fails or is wrong. */
int clvae_tune_check_case(tune_run *r, const tune_case *k)
{
    const clvae_backend_ops *o = r->be->ops;
    size_t nc = (size_t)k->s.m * k->s.n;
    int st = o->fill(r->be->ctx, (clvae_view){k->c, 0}, nc, SENTINEL);
    if (!st) st = clvae_tune_gemm_call(r, k);
    if (!st) st = o->download(r->be->ctx, (clvae_view){k->c, 0}, r->host, nc * sizeof(float));
    if (st) {
        snprintf(r->why, sizeof r->why, "%s", clvae_last_error());
        return REJECTED;
    }
    double e = clvae_nmse(k->ref, r->host, nc);
    if (!(e <= NMSE_MAX)) {
        snprintf(r->why, sizeof r->why, "wrong result for %dx%dx%d (nmse %.2g > %.0g)", k->s.m,
                 k->s.n, k->s.k, e, NMSE_MAX);
        return REJECTED;
    }
    return CLVAE_OK;
}

/* ---- cold cases ---- */

#define EVICT_MIN ((size_t)16 << 20)  /* the eviction write is at least this many bytes */
#define EVICT_MAX ((size_t)256 << 20) /* and at most this many */

int clvae_tune_cold_init(tune_run *r)
{
    size_t cache = r->lim.global_cache, max_alloc = r->c->max_alloc;
    r->cold_bytes = r->o->cold_bytes ? r->o->cold_bytes : cache ? cache / 4 : SIZE_MAX;
    size_t evict = cache ? 2 * cache : EVICT_MIN;
    evict = evict < EVICT_MIN ? EVICT_MIN : evict > EVICT_MAX ? EVICT_MAX : evict;
    if (max_alloc && evict > max_alloc) evict = max_alloc;
    int n_cold = 0;
    for (int i = 0; i < r->n; i++) {
        const clvae_gemm_shape *s = &r->cases[i].s;
        size_t ab = ((size_t)s->m + s->n) * (size_t)s->k * sizeof(float);
        r->cases[i].cold = s->ta && !s->tb && ab >= r->cold_bytes;
        n_cold += r->cases[i].cold;
    }
    if (!n_cold) return CLVAE_OK;
    r->evict_floats = evict / sizeof(float);
    CLVAE_DEBUG("tune: %d of %d shapes timed cold (TN, A and B >= %zu bytes; eviction %zu bytes)",
                n_cold, r->n, r->cold_bytes, evict);
    return r->be->ops->buffer_alloc(r->be->ctx, evict, &r->evict);
}

/* Seconds of one call that follows an eviction of the caches. */
static int time_cold_call(tune_run *r, const tune_case *k, float pattern, double *sec)
{
    const clvae_backend_ops *o = r->be->ops;
    int st = o->fill(r->be->ctx, (clvae_view){r->evict, 0}, r->evict_floats, pattern);
    if (!st) st = o->finish(r->be->ctx);
    double t = clvae_tune_now();
    if (!st) st = clvae_tune_gemm_call(r, k);
    if (!st) st = o->finish(r->be->ctx);
    *sec = clvae_tune_now() - t;
    return st;
}

/* Seconds per call: the fastest of BATCHES batches of about BATCH_SECONDS each; a cold case,
 * the fastest of COLD_CALLS calls that each follow an eviction. */
int clvae_tune_time_case(tune_run *r, const tune_case *k, double *sec)
{
    if (k->cold && r->evict) {
        int st = CLVAE_OK;
        *sec = INFINITY;
        for (int i = 0; i < COLD_CALLS && !st; i++) {
            double one;
            st = time_cold_call(r, k, (float)i, &one);
            if (!st && one < *sec) *sec = one;
        }
        if (st) snprintf(r->why, sizeof r->why, "%s", clvae_last_error());
        return st ? REJECTED : CLVAE_OK;
    }
    double t = clvae_tune_now();
    int st = clvae_tune_gemm_call(r, k);
    if (!st) st = r->be->ops->finish(r->be->ctx);
    double one = clvae_tune_now() - t;
    int reps = one > 0 ? (int)(BATCH_SECONDS / one) : 100;
    reps = reps < 1 ? 1 : reps > 100 ? 100 : reps;
    *sec = one;
    for (int b = 0; b < BATCHES && !st; b++) {
        t = clvae_tune_now();
        for (int i = 0; i < reps && !st; i++)
            st = clvae_tune_gemm_call(r, k);
        if (!st) st = r->be->ops->finish(r->be->ctx);
        double per = (clvae_tune_now() - t) / reps;
        if (per < *sec) *sec = per;
    }
    if (st) snprintf(r->why, sizeof r->why, "%s", clvae_last_error());
    return st ? REJECTED : CLVAE_OK;
}
