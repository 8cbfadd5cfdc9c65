/* The validation split (see valid.h). */
#include "train/valid.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/log.h"
#include "core/philox.h"
#include "train/checkpoint.h"
#include "train/eval.h"

/* The permutation that picks validation rows: an "epoch" no training epoch uses. */
#define VALID_EPOCH UINT64_MAX

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* data.valid as a row count for n training rows. */
static int valid_count(const clvae_config *c, size_t n, size_t *out)
{
    double v = c->data.valid;
    size_t k = v < 1 ? (size_t)llround(v * (double)n) : (size_t)v;
    if (v >= 1 && v != floor(v))
        return clvae_error(CLVAE_ERR_CONFIG,
                           "config: [data] valid = %g: must be a whole number of rows (>= 1) or "
                           "a fraction < 1 of the training rows",
                           v);
    if (v > 0 && k == 0) k = 1;
    if (k >= n)
        return clvae_error(CLVAE_ERR_CONFIG,
                           "config: [data] valid = %g holds out %zu of %zu training rows: must "
                           "leave at least one (a count below %zu, or a fraction < 1)",
                           v, k, n, n);
    *out = k;
    return CLVAE_OK;
}

/* Copies row `from` of src to row `to` of dst (same dim and storage). */
static void copy_row(clvae_dataset *dst, size_t to, const clvae_dataset *src, size_t from)
{
    size_t d = src->dim;
    if (src->u8) memmove(dst->u8 + to * d, src->u8 + from * d, d);
    if (src->f32) memmove(dst->f32 + to * d, src->f32 + from * d, d * sizeof(float));
    if (src->labels) dst->labels[to] = src->labels[from];
}

static int alloc_like(clvae_dataset *v, const clvae_dataset *t, size_t n)
{
    *v = *t;
    v->n = n;
    v->u8 = t->u8 ? malloc(n * t->dim) : NULL;
    v->f32 = t->f32 ? malloc(n * t->dim * sizeof(float)) : NULL;
    v->labels = t->labels ? malloc(n) : NULL;
    if ((t->u8 && !v->u8) || (t->f32 && !v->f32) || (t->labels && !v->labels))
        return clvae_error(CLVAE_ERR_NOMEM, "validation split: out of memory");
    return CLVAE_OK;
}

int clvae_valid_split(const clvae_config *c, clvae_dataset *train, clvae_valid *v)
{
    size_t n = train->n, k = 0;
    memset(v, 0, sizeof *v);
    v->best = v->last = INFINITY;
    if (c->data.valid <= 0) return CLVAE_OK;
    int st = valid_count(c, n, &k);
    if (st) return st;
    uint32_t *perm = malloc(n * sizeof(uint32_t));
    if (!perm) return clvae_error(CLVAE_ERR_NOMEM, "validation split: out of memory");
    if ((st = alloc_like(&v->ds, train, k))) goto done;
    clvae_philox_permutation(c->train.seed, VALID_EPOCH, perm, n);
    qsort(perm, k, sizeof *perm, cmp_u32); /* the held-out rows, in file order */
    for (size_t i = 0; i < k; i++)
        copy_row(&v->ds, i, train, perm[i]);
    size_t kept = 0, next = 0;
    for (size_t r = 0; r < n; r++) { /* compact the training rows in place, in file order */
        if (next < k && perm[next] == r) {
            next++;
            continue;
        }
        copy_row(train, kept++, train, r);
    }
    train->n = kept;
    CLVAE_INFO("validation: %zu of %zu training rows held out (data.valid = %g, seed %llu)", k, n,
               c->data.valid, (unsigned long long)c->train.seed);
done:
    free(perm);
    if (st) clvae_valid_free(v);
    return st;
}

int clvae_valid_epoch(clvae_valid *v, clvae_model *m, bool *improved)
{
    clvae_eval_result ev;
    *improved = false;
    if (v->ds.n == 0) return CLVAE_OK;
    int st = clvae_eval_elbo(m, &v->ds, false, &ev);
    if (st) return st;
    if (!isfinite(ev.loss))
        return clvae_error(CLVAE_ERR_NUMERIC, "non-finite validation loss (recon %g, KL %g)",
                           ev.recon, ev.kl);
    v->last = ev.loss;
    *improved = ev.loss < v->best;
    if (*improved) v->best = ev.loss;
    return CLVAE_OK;
}

void clvae_valid_resume(clvae_valid *v, const char *dir)
{
    char path[CLVAE_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    char *text = v->ds.n ? clvae_read_text_file(path) : NULL;
    for (char *line = text ? strtok(text, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *vl = o ? cJSON_GetObjectItem(o, "valid_loss") : NULL;
        if (cJSON_IsNumber(vl) && vl->valuedouble < v->best) v->best = vl->valuedouble;
        cJSON_Delete(o);
    }
    free(text);
}

void clvae_valid_free(clvae_valid *v)
{
    clvae_dataset_free(&v->ds);
}
