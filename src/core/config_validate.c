/* Config validation: every field in its range (for configs built in code or read from a
 * checkpoint), then the constraints between keys. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clvae/status.h"
#include "config_internal.h"

static int widths_valid(const int *w, int n)
{
    for (int i = 0; i < n; i++)
        if (w[i] < 1 || w[i] > MAX_WIDTH) return 0;
    return 1;
}

static int field_valid(const clvae_config *cfg, const key_spec *ks)
{
    const void *p = clvae_cfg_field(cfg, ks->off);
    switch (ks->type) {
    case K_STR: return memchr(p, '\0', ks->aux) != NULL;
    case K_INT: return clvae_cfg_in_range(ks, *(const int *)p);
    case K_LONG: return clvae_cfg_in_range(ks, (double)*(const long *)p);
    case K_DBL: return isfinite(*(const double *)p) && clvae_cfg_in_range(ks, *(const double *)p);
    case K_ENUM: return *(const int *)p >= 0 && *(const int *)p < clvae_cfg_names_count(ks->names);
    case K_LIST: {
        const int *w = p, n = *(const int *)clvae_cfg_field(cfg, ks->aux);
        if (n < 1 || n > CLVAE_MAX_STOCH) return 0;
        return widths_valid(w, n);
    }
    case K_GROUPS: {
        const clvae_widths *g = p;
        int n = *(const int *)clvae_cfg_field(cfg, ks->aux);
        if (n < 1 || n > CLVAE_MAX_STOCH) return 0;
        for (int i = 0; i < n; i++)
        for (int i = 0; i < n; i++) {
            if (g[i].n < 0 || g[i].n > CLVAE_MAX_LAYERS || !widths_valid(g[i].w, g[i].n)) return 0;
            for (int j = 0; j < g[i].n; j++)
                if (!clvae_cfg_item_valid(&g[i].item[j], g[i].w[j], false)) return 0;
        }
        return 1;
    }
    case K_ENUMS:
    case K_GXK: return clvae_cfg_latent_valid(cfg, ks);
    case K_ITEM: return clvae_cfg_item_valid(p, 0, true);
    default: return 1;
    }
}

/* A conditional model needs labels for both sets: given paths, or "auto" with the built-in data. */
static int validate_labels(const clvae_config *cfg)
{
    if (!cfg->model.conditional) return CLVAE_OK;
    for (int test = 0; test < 2; test++) {
        const char *labels = test ? cfg->data.test_labels : cfg->data.train_labels;
        const char *images = test ? cfg->data.test : cfg->data.train;
        const char *builtin = test ? CLVAE_BUILTIN_TEST : CLVAE_BUILTIN_TRAIN;
        bool none = !*labels || (strcmp(labels, CLVAE_LABELS_AUTO) == 0 && strcmp(images, builtin) != 0);
        if (none)
            return clvae_error(CLVAE_ERR_CONFIG,
                               "config: [model] conditional = true needs [data] %s: it is %s; "
                               "give the label file (IDX or NPY, integers 0..C-1, one per image "
                               "of %s), or conditional = false",
                               test ? "test_labels" : "train_labels",
                               *labels ? "auto, which means none with your own images" : "\"\" (none)",
                               images);
    }
    return CLVAE_OK;
}

/* Constraints between keys: one encoder and one decoder group per stochastic layer, and what
 * the importance-weighted bound cannot take. */
static int validate_cross(const clvae_config *cfg)
{
    int T = cfg->model.n_latent;
    const char *key = cfg->model.n_encoder != T ? "encoder" : cfg->model.n_decoder != T ? "decoder" : NULL;
    if (key) {
        int n = key[0] == 'e' ? cfg->model.n_encoder : cfg->model.n_decoder;
        return clvae_error(CLVAE_ERR_CONFIG,
                           "config: [model] %s has %d group%s but latent = lists %d stochastic "
                           "layer%s: give one group per layer, separated by | (e.g. latent = "
                           "100,50 with encoder = 200,200 | 100,100 and decoder = 100,100 | "
                           "200,200)",
                           key, n, n == 1 ? "" : "s", T, T == 1 ? "" : "s");
    }
    if (cfg->train.objective == CLVAE_OBJ_IWAE && cfg->model.beta != 1.0)
        return clvae_error(CLVAE_ERR_CONFIG,
                           "config: [model] beta = %g with [train] objective = iwae: the "
                           "importance-weighted bound has no KL term to weight; use beta = 1, or "
                           "objective = elbo for a beta-VAE",
                           cfg->model.beta);
    if (cfg->train.objective == CLVAE_OBJ_IWAE && cfg->model.beta_warmup > 0)
        return clvae_error(CLVAE_ERR_CONFIG,
                           "config: [model] beta_warmup = %ld with [train] objective = iwae: "
                           "warm-up weights the ELBO's KL term, which the importance-weighted "
                           "bound does not have; use beta_warmup = 0, or objective = elbo",
                           cfg->model.beta_warmup);
    int st = clvae_cfg_validate_latent(cfg);
    if (!st) st = clvae_cfg_validate_net(cfg);
    return st ? st : validate_labels(cfg);
}

int clvae_config_validate(const clvae_config *cfg)
{
    char value[VALUE_MAX], why[1024];
    for (size_t i = 0; i < clvae_cfg_n_keys; i++) {
        const key_spec *ks = &clvae_cfg_keys[i];
        if (field_valid(cfg, ks)) continue;
        if (ks->type == K_STR)
            snprintf(value, sizeof value, "(not terminated)");
        else
            clvae_cfg_format_value(cfg, ks, value, sizeof value);
        clvae_cfg_describe(ks, why, sizeof why);
        return clvae_error(CLVAE_ERR_CONFIG, "config: [%s] %s = %s: %s", ks->section, ks->key,
                           value, why);
    }
    return validate_cross(cfg);
}
