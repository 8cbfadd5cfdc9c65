/* Training-throughput benchmark (clvae bench): warm-up, then N timed SGVB steps on the
 * configured device, fed by the same scheduler as training (data.residency, data.overlap), with
 * an optional Chrome trace of the first timed steps. */
#include <stdio.h>
#include <stdlib.h>

#include "clvae/bench.h"
#include "clvae/data.h"
#include "core/log.h"
#include "core/philox.h"
#include "model/vae.h"
#include "train/autotune.h"
#include "train/profile.h"
#include "train/progress.h"
#include "train/scheduler.h"

typedef struct bench_ctx {
    clvae_dataset train;
    clvae_backend be;
    clvae_model m;
    clvae_sched *sched;
    clvae_profile *prof;
    uint32_t *perm; /* (N) */
    uint64_t seed;
    int epoch;
} bench_ctx;

/* The next batch, starting a new epoch (a new Philox shuffle) when the last one is used up. */
static int next_batch(bench_ctx *c, int *b)
{
    int st = clvae_sched_next(c->sched, b);
    if (st || *b) return st;
    clvae_philox_permutation(c->seed, (uint64_t)++c->epoch, c->perm, c->train.n);
    if ((st = clvae_sched_epoch_begin(c->sched, c->perm, 0))) return st;
    return clvae_sched_next(c->sched, b);
}

static int bench_steps(bench_ctx *c, long steps, long *samples)
{
    for (long s = 0; s < steps; s++) {
        int b;
        int st = next_batch(c, &b);
        if (!st) st = clvae_model_train_step(&c->m, b);
        if (!st) st = clvae_sched_step_done(c->sched);
        if (st) return st;
        *samples += b;
    }
    return c->be.ops->finish(c->be.ctx);
}

static int bench_open(clvae_config *cfg, const clvae_bench_options *o, long warm, bench_ctx *c)
{
    int B = cfg->train.batch, st;
    if ((st = clvae_dataset_load_train(&c->train, cfg, cfg->data.limit_train))) return st;
    if ((size_t)B > c->train.n)
        return clvae_error(CLVAE_ERR_INPUT, "bench: batch %d is larger than the %zu samples", B,
                           c->train.n);
    if ((st = clvae_backend_create(cfg, &c->be))) return st;
    if ((st = clvae_model_layout_data(&c->m, cfg, &c->train))) return st;
    if ((st = clvae_model_init(&c->m, &c->be, B, cfg->train.samples, true))) return st;
    /* no tuning file yet: tune GEMMs once */
    if ((st = clvae_autotune_first_use(&c->be, cfg, &c->m))) return st;
    if (!(c->perm = malloc(c->train.n * sizeof(uint32_t))))
        return clvae_error(CLVAE_ERR_NOMEM, "bench: out of memory");
    if (o->profile_path &&
        (st = clvae_profile_open(&c->prof, &c->be, o->profile_path, warm, CLVAE_PROFILE_STEPS)))
        return st;
    clvae_sched_options so;
    clvae_sched_options_default(&so, cfg);
    so.profile = c->prof;
    if ((st = clvae_sched_init(&c->sched, &c->m, &c->train, B, &so))) return st;
    c->seed = cfg->train.seed;
    c->epoch = 1;
    clvae_philox_permutation(c->seed, 1, c->perm, c->train.n);
    return clvae_sched_epoch_begin(c->sched, c->perm, 0);
}

static int bench_run(clvae_config *cfg, const clvae_bench_options *o, bench_ctx *c,
                     clvae_bench_result *r)
{
    long steps = o->steps, warm = steps / 10 > 3 ? steps / 10 : 3, warm_samples = 0, samples = 0;
    int st = bench_open(cfg, o, warm, c);
    if (!st) st = bench_steps(c, warm, &warm_samples);
    if (st) return st;
    clvae_backend_counters k0 = {0}, k1 = {0};
    if (c->be.ops->counters) c->be.ops->counters(c->be.ctx, &k0);
    double t0 = clvae_now();
    if ((st = bench_steps(c, steps, &samples))) return st;
    double dt = clvae_now() - t0;
    if (c->be.ops->counters && steps > 0) {
        c->be.ops->counters(c->be.ctx, &k1);
        r->launches_per_step = (double)(k1.launches - k0.launches) / (double)steps;
        r->host_us_per_step = (double)(k1.enqueue_ns - k0.enqueue_ns) / 1e3 / (double)steps;
        r->replays_per_step = (double)(k1.replays - k0.replays) / (double)steps;
    }
    double recon, kl;
    if ((st = clvae_model_take_losses(&c->m, &recon, &kl))) return st;
    r->seconds = dt;
    r->steps = steps;
    r->samples_per_s = (double)samples / dt;
    r->loss = (recon + kl) / (double)(samples + warm_samples);
    bool dev = clvae_sched_residency(c->sched) == CLVAE_RESIDENCY_DEVICE;
    snprintf(r->residency, sizeof r->residency, "%s", dev ? "device" : "stream");
    r->overlap = clvae_sched_overlapped(c->sched);
    /* Quiesce the loader (it may still be prefetching into the trace) before closing it. */
    clvae_sched_free(c->sched);
    c->sched = NULL;
    if ((st = clvae_profile_close(c->prof))) return st;
    r->overlap_share = clvae_profile_overlap(c->prof);
    snprintf(r->device, sizeof r->device, "%s", c->be.ops->device_name(c->be.ctx));
    snprintf(r->backend, sizeof r->backend, "%s", c->be.ops->name);
    return CLVAE_OK;
}

int clvae_bench_run(const clvae_config *cfg, const clvae_bench_options *o, clvae_bench_result *r)
{
    bench_ctx c = {0};
    clvae_config resolved = *cfg; /* model.classes from the labels */
    r->overlap_share = -1;
    r->launches_per_step = r->host_us_per_step = r->replays_per_step = -1;
    int st = bench_run(&resolved, o, &c, r);
    clvae_sched_free(c.sched);
    clvae_profile_close(c.prof); /* no-op unless a failure came first */
    clvae_profile_free(c.prof);
    clvae_model_free(&c.m);
    clvae_backend_free(&c.be);
    clvae_dataset_free(&c.train);
    free(c.perm);
    return st;
}

int clvae_bench(const clvae_config *cfg, long steps, clvae_bench_result *r)
{
    clvae_bench_options o = {.steps = steps};
    return clvae_bench_run(cfg, &o, r);
}
