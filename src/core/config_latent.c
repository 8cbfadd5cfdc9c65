/* The config keys of categorical (Gumbel-softmax) layers: latent_type (one value, or a comma
 * list with one per stochastic layer) and categorical = GxK, parsed, written and checked here;
 * and the constraints between them and the other keys (which layer may be categorical, hard,
 * the IWAE objective). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clvae/status.h"
#include "config_internal.h"

/* "gaussian, categorical": each name a valid choice; 1..CLVAE_MAX_STOCH of them. */
static int parse_enums(const key_spec *ks, const char *v, int *out, int *n_out)
{
    char buf[VALUE_MAX];
    int tmp[CLVAE_MAX_STOCH], n = 0;
    snprintf(buf, sizeof buf, "%s", v);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int i = clvae_cfg_name_index(ks->names, clvae_cfg_trim(t));
        if (i < 0 || n == CLVAE_MAX_STOCH) return -1;
        tmp[n++] = i;
    }
    if (n == 0 || strchr(",", v[strlen(v) ? strlen(v) - 1 : 0])) return -1; /* "gaussian," */
    memcpy(out, tmp, (size_t)n * sizeof(int));
    *n_out = n;
    return 0;
}

static int gxk_valid(long g, long k)
{
    return g >= 1 && g <= CLVAE_MAX_GROUPS && k >= 2 && k <= CLVAE_MAX_CATS;
}

/* "30x10" (x or X, optional spaces): G groups of K categories. */
static int parse_gxk(const char *v, int *out)
{
    char *end;
    errno = 0;
    long g = strtol(v, &end, 10);
    if (end == v || errno) return -1;
    while (isspace((unsigned char)*end)) end++;
    if (*end != 'x' && *end != 'X') return -1;
    const char *k0 = end + 1;
    long k = strtol(k0, &end, 10);
    if (end == k0 || errno || *clvae_cfg_trim(end) || !gxk_valid(g, k)) return -1; /* longs */
    out[0] = (int)g;
    out[1] = (int)k;
    return 0;
}

int clvae_cfg_parse_latent(clvae_config *cfg, const key_spec *ks, const char *v)
{
    void *p = clvae_cfg_field(cfg, ks->off);
    if (ks->type == K_GXK) return parse_gxk(v, (int *)p);
    return parse_enums(ks, v, (int *)p, (int *)clvae_cfg_field(cfg, ks->aux));
}

void clvae_cfg_format_latent(const clvae_config *cfg, const key_spec *ks, char *buf, size_t size)
{
    const int *p = clvae_cfg_field(cfg, ks->off);
    if (ks->type == K_GXK) {
        snprintf(buf, size, "%dx%d", p[0], p[1]);
        return;
    }
    int n = *(const int *)clvae_cfg_field(cfg, ks->aux), nn = clvae_cfg_names_count(ks->names);
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && i < CLVAE_MAX_STOCH && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? "," : "",
                                 p[i] >= 0 && p[i] < nn ? ks->names[p[i]] : "?");
}

int clvae_cfg_latent_valid(const clvae_config *cfg, const key_spec *ks)
{
    const int *p = clvae_cfg_field(cfg, ks->off);
    if (ks->type == K_GXK) return gxk_valid(p[0], p[1]);
    int n = *(const int *)clvae_cfg_field(cfg, ks->aux);
    if (n < 1 || n > CLVAE_MAX_STOCH) return 0;
    for (int i = 0; i < n; i++)
        if (p[i] < 0 || p[i] >= clvae_cfg_names_count(ks->names)) return 0;
    return 1;
}

/* What accepts categorical layers: as many latent_type values as layers (or one), only the
 * top layer categorical, hard only with one, no IWAE training with one. */
int clvae_cfg_validate_latent(const clvae_config *cfg)
{
    int T = cfg->model.n_latent, n = cfg->model.n_latent_type, top_cat = 0;
    if (n != 1 && n != T)
        return clvae_error(CLVAE_ERR_CONFIG,
                           "config: [model] latent_type lists %d values but latent = lists %d "
                           "stochastic layer%s: give one value for every layer or one per layer, "
                           "each gaussian or categorical (e.g. latent_type = gaussian,categorical)",
                           n, T, T == 1 ? "" : "s");
    for (int l = 0; l < T; l++) {
        bool cat = cfg->model.latent_type[n == 1 ? 0 : l] == CLVAE_LATENT_CATEGORICAL;
        if (cat && l < T - 1)
            return clvae_error(CLVAE_ERR_CONFIG,
                               "config: [model] latent_type: layer %d of %d is categorical, but "
                               "only the top (last) layer can be (its prior is uniform; a lower "
                               "one would need a learned categorical prior, which clvae does not "
                               "build): use e.g. latent_type = %s",
                               l + 1, T, T == 2 ? "gaussian,categorical" : "categorical (one layer)");
        top_cat = cat;
    }
    if (cfg->model.hard && !top_cat)
        return clvae_error(CLVAE_ERR_CONFIG,
                           "config: [model] hard = true needs a categorical layer: it selects "
                           "the straight-through Gumbel-softmax; with latent_type = gaussian use "
                           "hard = false (or latent_type = categorical)");
    if (top_cat && cfg->train.objective == CLVAE_OBJ_IWAE)
        return clvae_error(CLVAE_ERR_CONFIG,
                           "config: [train] objective = iwae with [model] latent_type = "
                           "categorical: IWAE training of a categorical layer needs the Concrete "
                           "density of its relaxed sample, which clvae does not build; use "
                           "objective = elbo (clvae eval --iw K still estimates log p(x) with "
                           "exact one-hot samples)");
    return CLVAE_OK;
}
