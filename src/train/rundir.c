/* Run-directory bookkeeping (see rundir.h). */
#include "train/rundir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "clvae/status.h"
#include "core/fs.h"
#include "io/atomic.h"
#include "train/checkpoint.h"

/* A fresh run: an earlier run's best checkpoint would not belong to this one; keep it aside as
 * checkpoint.best.prev.safetensors. */
static int set_aside_old_best(const char *dir)
{
    char old[CLVAE_PATH_MAX + 48], prev[CLVAE_PATH_MAX + 48];
    snprintf(old, sizeof old, "%s/checkpoint.best.safetensors", dir);
    snprintf(prev, sizeof prev, "%s/checkpoint.best.prev.safetensors", dir);
    if (access(old, F_OK) != 0) return CLVAE_OK;
    if (rename(old, prev) != 0)
        return clvae_error(CLVAE_ERR_IO, "cannot move the earlier best checkpoint %s aside: %s",
                           old, strerror(errno));
    return CLVAE_OK;
}

int clvae_rundir_prepare(const clvae_config *cfg, bool resuming)
{
    char path[CLVAE_PATH_MAX + 32];
    int st = clvae_mkdir_p(cfg->output.dir);
    if (!st && !resuming) st = set_aside_old_best(cfg->output.dir);
    if (st) return st;
    snprintf(path, sizeof path, "%s/config.ini", cfg->output.dir);
    if ((st = clvae_config_write(cfg, path))) return st;
    snprintf(path, sizeof path, "%s/metrics.jsonl", cfg->output.dir);
    FILE *f = fopen(path, resuming ? "a" : "w");
    if (!f) return clvae_error(CLVAE_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    fclose(f);
    return CLVAE_OK;
}

int clvae_rundir_append_metrics(const char *dir, const clvae_epoch_metrics *em)
{
    char path[CLVAE_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    cJSON *o = cJSON_CreateObject();
    if (!o) return clvae_error(CLVAE_ERR_NOMEM, "metrics: out of memory");
    cJSON_AddNumberToObject(o, "epoch", em->epoch);
    cJSON_AddNumberToObject(o, "step", (double)em->step);
    cJSON_AddNumberToObject(o, "train_loss", em->train_loss);
    cJSON_AddNumberToObject(o, "test_loss", em->test_loss);
    if (em->has_valid) cJSON_AddNumberToObject(o, "valid_loss", em->valid_loss);
    cJSON_AddNumberToObject(o, "recon", em->recon);
    cJSON_AddNumberToObject(o, "kl", em->kl);
    cJSON_AddNumberToObject(o, "seconds", em->seconds);
    cJSON_AddNumberToObject(o, "samples_per_s", em->samples_per_s);
    cJSON_AddStringToObject(o, "device", em->device);
    cJSON_AddStringToObject(o, "backend", em->backend);
    if (em->ranks > 1) {
        cJSON_AddNumberToObject(o, "ranks", em->ranks);
        cJSON_AddNumberToObject(o, "allreduce_share", em->allreduce_share);
    }
    if (em->objective) cJSON_AddStringToObject(o, "objective", em->objective);
    if (em->kl_layers && em->layers > 0) {
        cJSON *kl = cJSON_AddArrayToObject(o, "kl_layers");
        for (int l = 0; kl && l < em->layers; l++)
            cJSON_AddItemToArray(kl, cJSON_CreateNumber(em->kl_layers[l]));
        cJSON_AddNumberToObject(o, "kl_weight", em->kl_weight);
    }
    if (em->categorical) {
        cJSON_AddNumberToObject(o, "tau", em->tau);
        cJSON_AddNumberToObject(o, "test_loss_onehot", em->test_loss_onehot);
    }
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!line) return clvae_error(CLVAE_ERR_NOMEM, "metrics: out of memory");
    FILE *f = fopen(path, "a");
    int ok = f && fprintf(f, "%s\n", line) > 0;
    if (f && fclose(f)) ok = 0;
    cJSON_free(line);
    return ok ? CLVAE_OK
              : clvae_error(CLVAE_ERR_IO, "cannot append to %s: %s", path, strerror(errno));
}

int clvae_rundir_trim_metrics(const char *dir, int epoch)
{
    char path[CLVAE_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    char *text = clvae_read_text_file(path);
    if (!text) return CLVAE_OK; /* no metrics yet: nothing to trim */
    clvae_atomic_file af;
    int st = clvae_atomic_open(&af, path);
    for (char *line = strtok(text, "\n"); line && !st; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *e = o ? cJSON_GetObjectItem(o, "epoch") : NULL;
        bool keep = cJSON_IsNumber(e) && e->valuedouble <= epoch;
        cJSON_Delete(o);
        if (keep) st = clvae_atomic_write(&af, line, strlen(line));
        if (keep && !st) st = clvae_atomic_write(&af, "\n", 1);
    }
    if (!st) st = clvae_atomic_finish(&af);
    else if (af.fp) clvae_atomic_abort(&af);
    free(text);
    return st;
}
