/* clvae_vae_fit on a config's data held in memory: the C API's side of bench/fit_vs_train.sh.
 * Usage: bench_fit CONFIG [SECTION.KEY=VALUE]...   Loads data.train and data.test (with
 * data.limit_*, labels for a conditional model) as arrays, fits with the test array, and prints
 * one line: the last epoch's samples/s (as metrics.jsonl's samples_per_s) and the fit's wall
 * time. BENCH_FIT_LOG=1: the library's log lines on stderr (the CLI's default). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "clvae/clvae.h"
#include "clvae/data.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* (n, D) or, for a gray image set, (n, 1, rows, cols), as the CLI's loader shaped it. */
static clvae_array as_array(const clvae_dataset *ds)
{
    clvae_array a = {.data = ds->u8 ? (void *)ds->u8 : (void *)ds->f32,
                     .dtype = ds->u8 ? CLVAE_DTYPE_U8 : CLVAE_DTYPE_F32, .ndim = 2,
                     .shape = {(int64_t)ds->n, (int64_t)ds->dim}};
    if (ds->rows > 1 && (size_t)ds->rows * ds->cols == ds->dim) {
        a.ndim = 4;
        a.shape[1] = 1;
        a.shape[2] = ds->rows;
        a.shape[3] = ds->cols;
    }
    return a;
}

int main(int argc, char **argv)
{
    clvae_config cfg;
    clvae_dataset train = {0}, test = {0};
    clvae_context *ctx = NULL;
    clvae_vae *vae = NULL;
    clvae_fit_result res;
    if (argc < 2) {
        fprintf(stderr, "usage: bench_fit CONFIG [SECTION.KEY=VALUE]...\n");
        return 2;
    }
    const char *const *sets = (const char *const *)argv + 2;
    clvae_config_defaults(&cfg);
    int st = clvae_config_load(&cfg, argv[1]);
    for (int i = 0; i < argc - 2 && !st; i++) st = clvae_config_set(&cfg, sets[i]);
    if (getenv("BENCH_FIT_LOG")) clvae_set_log(CLVAE_LOG_LEVEL_INFO, NULL, NULL); /* stderr */
    bool labels = cfg.model.conditional;
    if (!st) st = clvae_dataset_load_cfg(&train, &cfg, false, labels);
    if (!st) st = clvae_dataset_load_cfg(&test, &cfg, true, labels);
    if (!st) st = clvae_context_create(NULL, &ctx);
    if (!st) st = clvae_vae_create(ctx, argv[1], sets, argc - 2, &vae);
    clvae_array x = as_array(&train), t = as_array(&test);
    clvae_fit_options opt = {.test = &t, .test_labels = test.labels};
    double t0 = now();
    if (!st) st = clvae_vae_fit(vae, &x, train.labels, &opt, &res);
    double wall = now() - t0;
    if (st) fprintf(stderr, "bench_fit: %s\n", clvae_last_error());
    else
        printf("fit samples_per_s %.1f wall_s %.2f epochs %d steps %lld rows %zu\n",
               res.samples_per_s, wall, res.epochs, (long long)res.steps, train.n);
    clvae_vae_free(vae);
    clvae_context_free(ctx);
    clvae_dataset_free(&train);
    clvae_dataset_free(&test);
    return st ? 1 : 0;
}
