/* Per-shape CLBlast parameter sets at run time: the tuning file may give some GEMM shapes their
 * own set (ocl_tune.h). CLBlast keeps one set per device and kernel, applied with
 * CLBlastOverrideParameters, and caches one program per set, so switching sets before a GEMM
 * costs a few map updates on the host, not a build (a set's program is built on its first use).
 * The set applied last is remembered, so a step whose shapes share a set switches never. */
#include <stdlib.h>

#include "backend/opencl/ocl_internal.h"
#include "backend/opencl/ocl_tune.h"

typedef struct gemm_choice {
    bool ta, tb;
    int m, n, k;
    int set;
} gemm_choice;

struct ocl_gemm_sets {
    clvae_gemm_params set[CLVAE_TUNE_MAX_SETS]; /* set[0] = the file's main set */
    int n_sets;
    gemm_choice choice[CLVAE_TUNE_MAX_SHAPES];
    int n_choices;
    int applied; /* index of the set CLBlast holds now */
};

void clvae_ocl_gemm_sets_free(ocl_ctx *c)
{
    free(c->gemm_sets);
    c->gemm_sets = NULL;
}

int clvae_ocl_gemm_sets_install(ocl_ctx *c, const clvae_tuning *t)
{
    clvae_ocl_gemm_sets_free(c);
    if (!t || t->use_defaults || t->n_extra < 1) return CLVAE_OK;
    struct ocl_gemm_sets *g = calloc(1, sizeof *g);
    if (!g) return clvae_error(CLVAE_ERR_NOMEM, "opencl: out of host memory (GEMM sets)");
    int n_extra = t->n_extra < CLVAE_TUNE_MAX_SETS ? t->n_extra : CLVAE_TUNE_MAX_SETS - 1;
    g->set[0] = t->p;
    for (int j = 0; j < n_extra; j++)
        g->set[j + 1] = t->extra[j];
    g->n_sets = n_extra + 1;
    for (int i = 0; i < t->n_shapes && i < CLVAE_TUNE_MAX_SHAPES; i++) {
        int set = t->shape_set[i];
        if (set <= 0 || set >= g->n_sets) continue; /* the main set needs no entry */
        const clvae_gemm_shape *s = &t->shapes[i];
        g->choice[g->n_choices++] = (gemm_choice){s->ta, s->tb, s->m, s->n, s->k, set};
    }
    g->applied = 0; /* the caller applied t->p */
    c->gemm_sets = g;
    return CLVAE_OK;
}

int clvae_ocl_gemm_sets_select(ocl_ctx *c, bool ta, bool tb, int m, int n, int k)
{
    struct ocl_gemm_sets *g = c->gemm_sets;
    if (!g) return CLVAE_OK;
    int want = 0;
    for (int i = 0; i < g->n_choices; i++) {
        const gemm_choice *h = &g->choice[i];
        if (h->ta == ta && h->tb == tb && h->m == m && h->n == n && h->k == k) {
            want = h->set;
            break;
        }
    }
    if (want == g->applied) return CLVAE_OK;
    int st = clvae_gemm_params_apply(c->dev.id, &g->set[want]);
    /* a failed switch may leave a mix applied: the next call applies its set again */
    g->applied = st ? -1 : want;
    return st;
}

int clvae_ocl_gemm_sets_applied(const ocl_ctx *c)
{
    return c->gemm_sets ? c->gemm_sets->applied : 0;
}
