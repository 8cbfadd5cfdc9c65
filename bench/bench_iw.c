/* bench_iw: microseconds per iw_weights call on the configured device for the two layouts of
 * the OpenCL backend (one work-item per data row, "serial", or one work-group per row, "group";
 * forced through CLVAE_OCL_IW_GROUP_MIN_S) over a grid of (B, S), with the ratio serial / group
 * (> 1: the group layout is faster). The fastest of several rounds of REPS calls is shown (the
 * least disturbed one on a shared machine) next to the median.
 *   usage: bench_iw [-c FILE] [--set SECTION.KEY=VALUE]... [--rounds N]   (repo root) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "clvae/config.h"
#include "clvae/status.h"

#define REPS 10
#define MAX_ROUNDS 51

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Per-call microseconds of iw_weights (B, S) in the current layout: fastest and median. */
static int time_iw(clvae_backend *be, clvae_buffer *buf[4], int B, int S, int rounds,
                   double *best, double *median)
{
    clvae_iw_args a = {B,
                       S,
                       1.0f / B,
                       (clvae_view){buf[0], 0},
                       (clvae_view){buf[1], 0},
                       (clvae_view){buf[2], 0},
                       (clvae_view){buf[3], 0}};
    double t[MAX_ROUNDS];
    int st = be->ops->iw_weights(be->ctx, &a); /* warm-up */
    if (!st) st = be->ops->finish(be->ctx);
    for (int r = 0; r < rounds && !st; r++) {
        double t0 = now_s();
        for (int i = 0; i < REPS && !st; i++)
            st = be->ops->iw_weights(be->ctx, &a);
        if (!st) st = be->ops->finish(be->ctx);
        t[r] = (now_s() - t0) / REPS * 1e6;
    }
    if (st) return st;
    qsort(t, (size_t)rounds, sizeof t[0], cmp_d);
    *best = t[0];
    *median = t[rounds / 2];
    return CLVAE_OK;
}

/* nll, kl (S*B) with log weights spread over ~40 nats; weights (S*B), bound (B). */
static int setup(clvae_backend *be, size_t n, clvae_buffer *buf[4])
{
    float *h = malloc(n * sizeof *h);
    if (!h) return clvae_error(CLVAE_ERR_NOMEM, "bench_iw: out of memory");
    for (size_t i = 0; i < n; i++)
        h[i] = 100.0f + (float)((i * 2654435761u) % 4000) / 100.0f;
    int st = CLVAE_OK;
    for (int i = 0; i < 4 && !st; i++) {
        st = be->ops->buffer_alloc(be->ctx, n * sizeof(float), &buf[i]);
        if (!st) st = be->ops->upload(be->ctx, (clvae_view){buf[i], 0}, h, n * sizeof *h);
    }
    free(h);
    return st;
}

static int run(clvae_backend *be, int rounds)
{
    static const int grid[][2] = {{128, 5},   {100, 16},  {100, 64},   {100, 256},
                                  {100, 1000}, {100, 5000}, {1000, 1000}, {10000, 5}};
    size_t most = 0;
    for (size_t i = 0; i < sizeof grid / sizeof grid[0]; i++)
        if ((size_t)grid[i][0] * grid[i][1] > most) most = (size_t)grid[i][0] * grid[i][1];
    clvae_buffer *buf[4] = {NULL};
    int st = setup(be, most, buf);
    printf("| iw_weights on %s | serial best / median us | group best / median us | serial / "
           "group |\n|---|---|---|---|\n",
           be->ops->device_name(be->ctx));
    for (size_t i = 0; i < sizeof grid / sizeof grid[0] && !st; i++) {
        int B = grid[i][0], S = grid[i][1];
        double best[2], med[2];
        for (int layout = 0; layout < 2 && !st; layout++) {
            setenv("CLVAE_OCL_IW_GROUP_MIN_S", layout ? "0" : "4294967295", 1);
            st = time_iw(be, buf, B, S, rounds, &best[layout], &med[layout]);
        }
        unsetenv("CLVAE_OCL_IW_GROUP_MIN_S");
        if (!st)
            printf("| B %d S %d | %.1f / %.1f | %.1f / %.1f | %.2f |\n", B, S, best[0], med[0],
                   best[1], med[1], best[0] / best[1]);
    }
    for (int i = 0; i < 4; i++)
        if (buf[i]) be->ops->buffer_free(be->ctx, buf[i]);
    return st;
}

int main(int argc, char **argv)
{
    clvae_config cfg;
    clvae_config_defaults(&cfg);
    int rounds = 11, st = CLVAE_OK;
    for (int i = 1; i + 1 < argc && !st; i += 2) {
        if (!strcmp(argv[i], "-c"))
            st = clvae_config_load(&cfg, argv[i + 1]);
        else if (!strcmp(argv[i], "--set"))
            st = clvae_config_set(&cfg, argv[i + 1]);
        else if (!strcmp(argv[i], "--rounds"))
            rounds = atoi(argv[i + 1]);
        else
            st = clvae_error(CLVAE_ERR_USAGE, "unknown argument %s", argv[i]);
    }
    if (!st && (rounds < 1 || rounds > MAX_ROUNDS))
        st = clvae_error(CLVAE_ERR_USAGE, "--rounds must be 1..%d", MAX_ROUNDS);
    if (st) {
        fprintf(stderr, "usage: bench_iw [-c FILE] [--set S.K=V]... [--rounds 1..%d]\n%s\n",
                MAX_ROUNDS, clvae_last_error());
        return 2;
    }
    clvae_backend be = {0};
    st = clvae_backend_create(&cfg, &be);
    if (!st) st = run(&be, rounds);
    if (be.ops) clvae_backend_free(&be);
    if (st) fprintf(stderr, "bench_iw: %s\n", clvae_last_error());
    return st ? 1 : 0;
}
