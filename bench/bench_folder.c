/* Image-folder decode speed: loads data.train (a folder) through the product's loader with the
 * decode cache in a fresh directory (cold: decoded; then warm: read from the cache) and prints
 * one JSON line: {"images", "shape", "threads", "cold_s", "cold_images_per_s", "warm_s"}.
 * usage: bench_folder FOLDER [--set SECTION.KEY=VALUE]...   (bench/folder_decode.sh drives it) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clvae/config.h"
#include "clvae/data.h"
#include "clvae/status.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int load(const clvae_config *c, clvae_dataset *ds, double *secs)
{
    double t0 = now_s();
    int st = clvae_dataset_load_cfg(ds, c, false, true);
    *secs = now_s() - t0;
    if (st) fprintf(stderr, "bench_folder: %s\n", clvae_last_error());
    return st;
}

int main(int argc, char **argv)
{
    clvae_config c;
    clvae_dataset ds;
    char kv[4200], cache[] = "/tmp/clvae-bench-cache.XXXXXX";
    double cold, warm;
    if (argc < 2) {
        fprintf(stderr, "usage: bench_folder FOLDER [--set SECTION.KEY=VALUE]...\n");
        return 2;
    }
    clvae_config_defaults(&c);
    snprintf(kv, sizeof kv, "data.train=%s", argv[1]);
    int st = clvae_config_set(&c, kv);
    for (int i = 2; !st && i + 1 < argc; i += 2) st = clvae_config_set(&c, argv[i + 1]);
    if (!mkdtemp(cache)) return 1;
    snprintf(kv, sizeof kv, "device.cache=%s", cache);
    if (!st) st = clvae_config_set(&c, kv);
    /* the whole folder: no test split (the loader applies it when data.test is "") */
    snprintf(kv, sizeof kv, "data.test=%s", argv[1]);
    if (!st) st = clvae_config_set(&c, kv);
    if (st || load(&c, &ds, &cold)) return 2;
    size_t n = ds.n;
    int C = ds.channels, H = ds.rows, W = ds.cols;
    clvae_dataset_free(&ds);
    if (load(&c, &ds, &warm)) return 2;
    clvae_dataset_free(&ds);
    printf("{\"images\": %zu, \"shape\": \"%dx%dx%d\", \"threads\": %ld, \"cold_s\": %.3f, "
           "\"cold_images_per_s\": %.1f, \"warm_s\": %.3f}\n",
           n, H, W, C, sysconf(_SC_NPROCESSORS_ONLN), cold, n / cold, warm);
    snprintf(kv, sizeof kv, "rm -rf '%s'", cache);
    return system(kv) == 0 ? 0 : 1;
}
