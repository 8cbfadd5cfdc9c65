/* Shared set-up of the scheduler tests: synthetic in-memory datasets, a backend (reference or
 * the default OpenCL device), a small VAE, scheduler options without environment hooks, and a
 * watchdog so a hang fails the test instead of stalling ctest. */
#ifndef CLVAE_TEST_SCHEDULER_H
#define CLVAE_TEST_SCHEDULER_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "clvae/data.h"
#include "core/philox.h"
#include "model/vae.h"
#include "testutil.h"
#include "train/scheduler.h"

static void ts_on_alarm(int sig)
{
    static const char msg[] = "FAIL: watchdog: the scheduler test hung (loader not joined?)\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(1);
}

/* Fails the test if it is still running after `seconds`. */
/* A hang fails the test instead of blocking ctest. Generous: under ASan on a loaded 2-core
 * machine the scheduler tests took over 240 s; ctest's own limit is 600 s. */
#define TS_WATCHDOG_SECONDS 540

static void ts_watchdog(unsigned seconds)
{
    signal(SIGALRM, ts_on_alarm);
    alarm(seconds);
}

/* n samples of dim bytes from a fixed xorshift stream; f32 = true also fills ds->f32 (and
 * drops u8) with the same values / 255. */
static int ts_dataset(clvae_dataset *ds, size_t n, int rows, int cols, bool f32)
{
    uint64_t x = 0x2545F4914F6CDD1Dull;
    memset(ds, 0, sizeof *ds);
    ds->n = n;
    ds->dim = (size_t)rows * cols;
    ds->rows = rows;
    ds->cols = cols;
    ds->u8 = malloc(n * ds->dim);
    if (!ds->u8) return CLVAE_ERR_NOMEM;
    for (size_t i = 0; i < n * ds->dim; i++) {
        x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
        ds->u8[i] = (uint8_t)((x * 0x2545F4914F6CDD1Dull) >> 56);
    }
    if (!f32) return CLVAE_OK;
    ds->f32 = malloc(n * ds->dim * sizeof(float));
    if (!ds->f32) return CLVAE_ERR_NOMEM;
    for (size_t i = 0; i < n * ds->dim; i++)
        ds->f32[i] = (float)ds->u8[i] / 255.0f;
    free(ds->u8);
    ds->u8 = NULL;
    return CLVAE_OK;
}

/* The reference backend, or the OpenCL device that backend = opencl selects
 * (CLVAE_TEST_PLATFORM narrows the platform). Returns false (with a note) when there is none. */
static bool ts_backend(clvae_backend *be, bool opencl)
{
    memset(be, 0, sizeof *be);
    if (!opencl) return clvae_ref_backend_create(be) == CLVAE_OK;
#ifdef CLVAE_HAVE_OPENCL
    clvae_config cfg;
    clvae_config_defaults(&cfg);
    cfg.device.backend = CLVAE_BACKEND_OPENCL;
    const char *plat = getenv("CLVAE_TEST_PLATFORM");
    if (plat) snprintf(cfg.device.platform, sizeof cfg.device.platform, "%s", plat);
    if (clvae_backend_create(&cfg, be) == CLVAE_OK) return true;
    printf("SKIP part: no OpenCL device: %s\n", clvae_last_error());
#else
    printf("SKIP part: built without OpenCL\n");
#endif
    return false;
}

/* A small VAE (dim-hidden-latent-hidden-dim, Adam) for batches of up to `batch` rows;
 * conditional on `classes` labels when classes > 0. */
static int ts_model_cond(clvae_model *m, clvae_backend *be, int dim, int batch, int hidden,
                         int latent, int classes)
{
    clvae_config cfg;
    clvae_config_defaults(&cfg);
    cfg.model.conditional = classes > 0;
    cfg.model.classes = classes;
    cfg.model.encoder[0] = (clvae_widths){.n = 1, .w = {hidden}};
    cfg.model.decoder[0] = (clvae_widths){.n = 1, .w = {hidden}};
    cfg.model.latent[0] = latent;
    cfg.train.batch = batch;
    cfg.train.seed = 7;
    memset(m, 0, sizeof *m);
    int st = clvae_model_layout(m, &cfg, dim);
    return st ? st : clvae_model_init(m, be, batch, 1, true);
}

static int ts_model(clvae_model *m, clvae_backend *be, int dim, int batch, int hidden, int latent)
{
    return ts_model_cond(m, be, dim, batch, hidden, latent, 0);
}

/* Labels 0..9 for ds (label i: (3 i + shift) % 10). */
static inline int ts_labels(clvae_dataset *ds, int shift)
{
    free(ds->labels);
    if (!(ds->labels = malloc(ds->n))) return CLVAE_ERR_NOMEM;
    for (size_t i = 0; i < ds->n; i++) ds->labels[i] = (uint8_t)((3 * i + shift) % 10);
    ds->n_classes = 10;
    return CLVAE_OK;
}

/* Options for a residency without the environment's hooks or host budget. */
static clvae_sched_options ts_options(clvae_residency r, bool overlap, int slots)
{
    clvae_sched_options o;
    memset(&o, 0, sizeof o);
    o.residency = r;
    o.overlap = overlap;
    o.slots = slots;
    o.device_share = CLVAE_SCHED_DEVICE_SHARE;
    o.host_budget = SIZE_MAX;
    o.fail_at = -1;
    return o;
}

#endif
