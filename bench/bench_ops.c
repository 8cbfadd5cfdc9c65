/* bench_ops: microseconds per call of the non-GEMM ops at the default model's shapes (batch B,
 * data width D = 784, hidden H, latent R from the config) on the configured device. Each op is
 * enqueued `reps` times between two finishes, in several rounds; the table shows the fastest
 * round (the least disturbed one on a shared machine), the median, and the median process CPU
 * time (all of the device's threads), per call.
 *   usage: bench_ops [-c FILE] [--set SECTION.KEY=VALUE]... [--rounds N] [--op I]  (repo root)
 * --op I times only the I-th op of the table (e.g. under callgrind, to count instructions). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "clvae/config.h"
#include "clvae/status.h"

#define REPS 20
#define MAX_ROUNDS 101
#define D 784

typedef struct bench {
    clvae_backend be;
    int B, H, R;
    size_t n_params;
    clvae_buffer *big[8]; /* scratch buffers, each big enough for any operand */
} bench;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU time of the whole process (all PoCL worker threads included): on a shared machine it
 * stays close to the work done, where wall time also counts waiting for a core. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static clvae_view V(bench *k, int i) { return (clvae_view){k->big[i], 0}; }

/* One call of op `id` (see names[] in main). */
static int run_op(bench *k, int id)
{
    const clvae_backend_ops *o = k->be.ops;
    void *c = k->be.ctx;
    int B = k->B, H = k->H, R = k->R;
    switch (id) {
    case 0: {
        clvae_lik_args a = {CLVAE_LIK_BERNOULLI, B, B, D, 1.0f, 1.0f / B, V(k, 0), V(k, 1),
                            V(k, 2), V(k, 3)};
        return o->likelihood(c, &a);
    }
    case 1: {
        clvae_opt_args a = {CLVAE_OPT_ADAM, k->n_params, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1,
                            V(k, 4), V(k, 5), V(k, 6), V(k, 7)};
        return o->optimizer(c, &a);
    }
    case 2: return o->bias_act(c, CLVAE_ACT_RELU, B, H, V(k, 1), V(k, 0));
    case 3: return o->bias_act(c, CLVAE_ACT_IDENTITY, B, D, V(k, 1), V(k, 0));
    case 4: return o->col_sum(c, B, D, V(k, 0), V(k, 2));
    case 5: return o->col_sum(c, B, H, V(k, 0), V(k, 2));
    case 6: return o->act_bwd(c, CLVAE_ACT_RELU, B, H, V(k, 0), V(k, 1));
    case 7: {
        clvae_reparam_args a = {B, 1, R, 1, 7, 0, false, V(k, 0), V(k, 1), V(k, 2), V(k, 3), 0, 0};
        return o->reparam(c, &a);
    }
    case 8: {
        clvae_reparam_bwd_args a = {B, 1, R, 1.0f, V(k, 0), V(k, 1), V(k, 2), V(k, 3)};
        return o->reparam_bwd(c, &a);
    }
    default: return o->sum_add(c, (size_t)B, V(k, 2), 1.0f, V(k, 3));
    }
}

static int setup(bench *k, const clvae_config *cfg)
{
    k->B = cfg->train.batch;
    k->H = cfg->model.encoder[0].n ? cfg->model.encoder[0].w[0] : 400;
    k->R = cfg->model.latent[0];
    int h = k->H, r = k->R;
    k->n_params = (size_t)D * h + h + (size_t)h * 2 * r + 2 * r + (size_t)r * h + h +
                  (size_t)h * D + D;
    size_t floats = (size_t)k->B * D * 2;
    if (floats < k->n_params) floats = k->n_params;
    float *host = malloc(floats * sizeof(float));
    if (!host) return CLVAE_ERR_NOMEM;
    for (size_t i = 0; i < floats; i++)
        host[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.3f;
    int st = clvae_backend_create(cfg, &k->be);
    for (int i = 0; i < 8 && !st; i++) {
        st = k->be.ops->buffer_alloc(k->be.ctx, floats * sizeof(float), &k->big[i]);
        if (!st) st = k->be.ops->upload(k->be.ctx, V(k, i), host, floats * sizeof(float));
    }
    free(host);
    return st;
}

/* Per-call microseconds of op id: fastest and median of `rounds` rounds of REPS calls. */
static int time_op(bench *k, int id, int rounds, double *best, double *median, double *cpu)
{
    double t[MAX_ROUNDS], u[MAX_ROUNDS];
    int st = run_op(k, id); /* warm-up (first launch builds nothing, but faults pages in) */
    if (!st) st = k->be.ops->finish(k->be.ctx);
    for (int r = 0; r < rounds && !st; r++) {
        double t0 = now_s(), c0 = cpu_s();
        for (int i = 0; i < REPS && !st; i++)
            st = run_op(k, id);
        if (!st) st = k->be.ops->finish(k->be.ctx);
        t[r] = (now_s() - t0) / REPS * 1e6;
        u[r] = (cpu_s() - c0) / REPS * 1e6;
    }
    if (st) return st;
    qsort(t, (size_t)rounds, sizeof t[0], cmp_d);
    qsort(u, (size_t)rounds, sizeof u[0], cmp_d);
    *cpu = u[rounds / 2];
    *best = t[0];
    *median = t[rounds / 2];
    return CLVAE_OK;
}

int main(int argc, char **argv)
{
    static const char *names[] = {"likelihood B x D",  "optimizer (adam, arena)",
                                  "bias_act relu B x H", "bias_act ident B x D",
                                  "col_sum B x D",     "col_sum B x H",
                                  "act_bwd relu B x H", "reparam B x R",
                                  "reparam_bwd B x R", "sum_add B"};
    clvae_config cfg;
    clvae_config_defaults(&cfg);
    int rounds = 31, only = -1, st = CLVAE_OK;
    for (int i = 1; i + 1 < argc && !st; i += 2) {
        if (!strcmp(argv[i], "-c"))
            st = clvae_config_load(&cfg, argv[i + 1]);
        else if (!strcmp(argv[i], "--set"))
            st = clvae_config_set(&cfg, argv[i + 1]);
        else if (!strcmp(argv[i], "--op"))
            only = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--rounds"))
            rounds = atoi(argv[i + 1]);
        else
            st = CLVAE_ERR_USAGE;
    }
    if (rounds < 1 || rounds > MAX_ROUNDS) st = CLVAE_ERR_USAGE;
    if (st) {
        fprintf(stderr, "usage: bench_ops [-c FILE] [--set S.K=V]... [--rounds 1..%d] [--op I]\n%s\n",
                MAX_ROUNDS, clvae_last_error());
        return 2;
    }
    bench k = {0};
    st = setup(&k, &cfg);
    printf("| op (B=%d H=%d R=%d D=%d, %s) | best us | median us | cpu us |\n|---|---|---|---|\n", k.B, k.H,
           k.R, D, k.be.ops ? k.be.ops->device_name(k.be.ctx) : "?");
    for (int id = 0; id < 10 && !st; id++) {
        double best, med, cpu;
        if (only >= 0 && id != only) continue;
        st = time_op(&k, id, rounds, &best, &med, &cpu);
        if (!st) printf("| %s | %.1f | %.1f | %.1f |\n", names[id], best, med, cpu);
    }
    for (int i = 0; i < 8; i++)
        if (k.big[i]) k.be.ops->buffer_free(k.be.ctx, k.big[i]);
    if (k.be.ops) clvae_backend_free(&k.be);
    if (st) fprintf(stderr, "bench_ops: %s\n", clvae_last_error());
    return st ? 1 : 0;
}
