/* Checkpoint save/load over the parameter table (see checkpoint.h). */
#include "train/checkpoint.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

#define CKPT_FORMAT "clvae-checkpoint-1"

static void ckpt_path(const char *dir, char *out, size_t size)
{
    snprintf(out, size, "%s/checkpoint.safetensors", dir);
}

char *clvae_read_text_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        clvae_error(CLVAE_ERR_IO, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    fclose(f);
    if (!s) clvae_error(CLVAE_ERR_IO, "cannot read %s", path);
    else s[n] = 0;
    return s;
}

static int add_params(clvae_st_writer *w, const clvae_model *m, const float *p)
{
    for (int i = 0; i < m->n_params; i++) {
        const clvae_param *pr = &m->params[i];
        int st = clvae_st_writer_add(w, pr->name, CLVAE_ST_F32, pr->ndim, pr->shape,
                                     p + pr->offset);
        if (st) return st;
    }
    return CLVAE_OK;
}

static int add_meta(clvae_st_writer *w, const clvae_model *m, const clvae_ckpt_state *s,
                    const char *config_text, const char *device)
{
    char num[64];
    int st = clvae_st_writer_set_meta(w, "format", CKPT_FORMAT);
    snprintf(num, sizeof num, "%" PRIu64, m->step);
    if (!st) st = clvae_st_writer_set_meta(w, "step", num);
    snprintf(num, sizeof num, "%d", s->epoch);
    if (!st) st = clvae_st_writer_set_meta(w, "epoch", num);
    snprintf(num, sizeof num, "%lld", s->next_row);
    if (!st) st = clvae_st_writer_set_meta(w, "next_row", num);
    snprintf(num, sizeof num, "%lld", s->samples);
    if (!st) st = clvae_st_writer_set_meta(w, "epoch_samples", num);
    snprintf(num, sizeof num, "%.17g", s->loss_sum);
    if (!st) st = clvae_st_writer_set_meta(w, "epoch_loss_sum", num);
    snprintf(num, sizeof num, "%" PRIu64, m->seed);
    if (!st) st = clvae_st_writer_set_meta(w, "seed", num);
    if (!st) st = clvae_st_writer_set_meta(w, "rng", "philox4x32-10; counters derive from "
                                                     "(seed, step, epoch): see cl/philox.clh");
    if (!st) st = clvae_st_writer_set_meta(w, "optimizer", m->opt == CLVAE_OPT_ADAM ? "adam" : "sgd");
    if (!st) st = clvae_st_writer_set_meta(w, "device", device ? device : "");
    if (!st && config_text) st = clvae_st_writer_set_meta(w, "config", config_text);
    return st;
}

int clvae_checkpoint_save(clvae_model *m, const char *dir, const clvae_ckpt_state *s,
                          const char *config_text, const char *device)
{
    char path[CLVAE_PATH_MAX + 32];
    ckpt_path(dir, path, sizeof path);
    return clvae_checkpoint_save_file(m, path, s, config_text, device);
}

int clvae_checkpoint_save_file(clvae_model *m, const char *path, const clvae_ckpt_state *s,
                               const char *config_text, const char *device)
{
    size_t n = m->n_floats, shape[1] = {n};
    float *host = malloc(3 * n * sizeof(float));
    clvae_st_writer *w = NULL;
    int st = host ? CLVAE_OK : clvae_error(CLVAE_ERR_NOMEM, "checkpoint: out of memory");
    if (!st) st = clvae_model_get_params(m, host);
    if (!st) st = m->be->ops->download(m->be->ctx, (clvae_view){m->m_buf, 0}, host + n, n * 4);
    if (!st) st = m->be->ops->download(m->be->ctx, (clvae_view){m->v_buf, 0}, host + 2 * n, n * 4);
    if (!st) st = clvae_st_writer_new(&w);
    if (!st) st = add_params(w, m, host);
    if (!st) st = clvae_st_writer_add(w, "optimizer.m", CLVAE_ST_F32, 1, shape, host + n);
    if (!st) st = clvae_st_writer_add(w, "optimizer.v", CLVAE_ST_F32, 1, shape, host + 2 * n);
    if (!st) st = add_meta(w, m, s, config_text, device);
    if (!st) st = clvae_st_write(w, path);
    clvae_st_writer_free(w);
    free(host);
    return st;
}

static int meta_ll(const clvae_st_file *f, const char *key, long long *out)
{
    const char *v = clvae_st_meta(f, key);
    char *end;
    if (!v) return clvae_error(CLVAE_ERR_CHECKPOINT, "%s: metadata has no '%s'", clvae_st_path(f), key);
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || x < 0)
        return clvae_error(CLVAE_ERR_CHECKPOINT, "%s: metadata '%s' = '%s' is not a count",
                           clvae_st_path(f), key, v);
    *out = x;
    return CLVAE_OK;
}

static int read_params(const clvae_st_file *f, const clvae_model *m, float *host)
{
    for (int i = 0; i < m->n_params; i++) {
        const clvae_param *pr = &m->params[i];
        const void *data;
        int st = clvae_st_expect(f, pr->name, CLVAE_ST_F32, pr->ndim, pr->shape, &data);
        if (st) return st;
        memcpy(host + pr->offset, data, (size_t)pr->rows * pr->cols * sizeof(float));
    }
    return CLVAE_OK;
}

static int read_optimizer(const clvae_st_file *f, clvae_model *m, clvae_ckpt_state *s)
{
    size_t shape[1] = {m->n_floats}, bytes = m->n_floats * sizeof(float);
    const void *mm, *vv;
    long long step, epoch, next_row;
    int st = clvae_st_expect(f, "optimizer.m", CLVAE_ST_F32, 1, shape, &mm);
    if (!st) st = clvae_st_expect(f, "optimizer.v", CLVAE_ST_F32, 1, shape, &vv);
    if (!st) st = meta_ll(f, "step", &step);
    if (!st) st = meta_ll(f, "epoch", &epoch);
    if (!st) st = meta_ll(f, "next_row", &next_row);
    if (st) return st;
    if ((st = m->be->ops->upload(m->be->ctx, (clvae_view){m->m_buf, 0}, mm, bytes))) return st;
    if ((st = m->be->ops->upload(m->be->ctx, (clvae_view){m->v_buf, 0}, vv, bytes))) return st;
    m->step = (uint64_t)step;
    s->epoch = (int)epoch;
    s->next_row = next_row;
    /* Optional (older checkpoints lack them): the epoch's partial train loss. */
    const char *ls = clvae_st_meta(f, "epoch_loss_sum"), *ns = clvae_st_meta(f, "epoch_samples");
    s->loss_sum = ls ? strtod(ls, NULL) : 0;
    s->samples = ns ? strtoll(ns, NULL, 10) : 0;
    return CLVAE_OK;
}

int clvae_checkpoint_load(clvae_model *m, const char *dir, bool with_optimizer,
                          clvae_ckpt_state *s)
{
    char path[CLVAE_PATH_MAX + 32];
    ckpt_path(dir, path, sizeof path);
    return clvae_checkpoint_load_file(m, path, with_optimizer, s);
}

int clvae_checkpoint_load_file(clvae_model *m, const char *path, bool with_optimizer,
                               clvae_ckpt_state *s)
{
    clvae_st_file *f = NULL;
    float *host = NULL;
    int st = clvae_st_open(path, &f);
    if (st) return st;
    const char *fmt = clvae_st_meta(f, "format");
    if (!fmt || strcmp(fmt, CKPT_FORMAT)) {
        st = clvae_error(CLVAE_ERR_CHECKPOINT, "%s: not a clvae checkpoint (metadata format is "
                                               "'%s', expected '%s')", path, fmt ? fmt : "", CKPT_FORMAT);
        goto done;
    }
    host = malloc(m->n_floats * sizeof(float));
    if (!host) {
        st = clvae_error(CLVAE_ERR_NOMEM, "checkpoint: out of memory");
        goto done;
    }
    if ((st = read_params(f, m, host))) goto done;
    if ((st = clvae_model_set_params(m, host))) goto done;
    if (with_optimizer) {
        st = read_optimizer(f, m, s);
    } else { /* the step alone: schedules (the Gumbel-softmax temperature) of the trained model */
        long long step;
        if (clvae_st_meta(f, "step") && !meta_ll(f, "step", &step)) m->step = (uint64_t)step;
    }
done:
    free(host);
    clvae_st_close(f);
    return st;
}
