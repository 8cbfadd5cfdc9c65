/* Training-throughput benchmark (clvae bench): warm-up, then N timed SGVB steps on the
 * configured device, with the same batch gathering and upload as training. */
#include <stdio.h>
#include <stdlib.h>

#include "clvae/bench.h"
#include "clvae/data.h"
#include "core/log.h"
#include "core/philox.h"
#include "model/vae.h"
#include "train/progress.h"

typedef struct bench_ctx {
    clvae_dataset train;
    clvae_backend be;
    clvae_model m;
    float *stage;     /* (B, D) */
    uint32_t *perm;   /* (N) */
} bench_ctx;

static int bench_steps(bench_ctx *c, int batch, long steps, long *cursor)
{
    size_t n = c->train.n;
    for (long s = 0; s < steps; s++) {
        if (*cursor + (size_t)batch > n) *cursor = 0;
        clvae_dataset_gather(&c->train, c->perm + *cursor, batch, c->stage);
        int st = c->be.ops->upload(c->be.ctx, c->m.x, c->stage,
                                   (size_t)batch * c->train.dim * sizeof(float));
        if (!st) st = clvae_model_train_step(&c->m, batch);
        if (st) return st;
        *cursor += batch;
    }
    return c->be.ops->finish(c->be.ctx);
}

static int bench_run(const clvae_config *cfg, long steps, bench_ctx *c, clvae_bench_result *r)
{
    int B = cfg->train.batch, st;
    long cursor = 0;
    if ((st = clvae_dataset_load(&c->train, cfg->data.train, NULL, cfg->data.format,
                                 cfg->data.limit_train)))
        return st;
    if ((size_t)B > c->train.n)
        return clvae_error(CLVAE_ERR_INPUT, "bench: batch %d is larger than the %zu samples", B,
                           c->train.n);
    if ((st = clvae_backend_create(cfg, &c->be))) return st;
    if ((st = clvae_model_layout(&c->m, cfg, (int)c->train.dim))) return st;
    if ((st = clvae_model_init(&c->m, &c->be, B, cfg->train.samples, true))) return st;
    c->stage = malloc((size_t)B * c->train.dim * sizeof(float));
    c->perm = malloc(c->train.n * sizeof(uint32_t));
    if (!c->stage || !c->perm) return clvae_error(CLVAE_ERR_NOMEM, "bench: out of memory");
    clvae_philox_permutation(cfg->train.seed, 1, c->perm, c->train.n);
    long warm = steps / 10 > 3 ? steps / 10 : 3;
    if ((st = bench_steps(c, B, warm, &cursor))) return st;
    double t0 = clvae_now();
    if ((st = bench_steps(c, B, steps, &cursor))) return st;
    double dt = clvae_now() - t0;
    double recon, kl;
    if ((st = clvae_model_take_losses(&c->m, &recon, &kl))) return st;
    r->seconds = dt;
    r->steps = steps;
    r->samples_per_s = (double)steps * B / dt;
    r->loss = (recon + kl) / ((double)(steps + warm) * B);
    snprintf(r->device, sizeof r->device, "%s", c->be.ops->device_name(c->be.ctx));
    snprintf(r->backend, sizeof r->backend, "%s", c->be.ops->name);
    return CLVAE_OK;
}

int clvae_bench(const clvae_config *cfg, long steps, clvae_bench_result *r)
{
    bench_ctx c = {0};
    int st = bench_run(cfg, steps, &c, r);
    clvae_model_free(&c.m);
    clvae_backend_free(&c.be);
    clvae_dataset_free(&c.train);
    free(c.stage);
    free(c.perm);
    return st;
}
