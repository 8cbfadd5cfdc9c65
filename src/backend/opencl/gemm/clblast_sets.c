/* CLBlast parameter sets at run time: applying one (CLBlastOverrideParameters), and the
 * per-shape sets the tuning file may give some GEMM shapes (choice.h). CLBlast keeps one set
 * per device and kernel, applied with CLBlastOverrideParameters, and caches one program per
 * set, so switching sets before a GEMM costs a few map updates on the host, not a build (a
 * set's program is built on its first use).
 * The set applied last is remembered, so a step whose shapes share a set switches never. A GEMM
 * of a shape that was not tuned takes the set of the most similar tuned shape of the same
 * transposes (the nearest in log m, log n, log k), and the choice is remembered. */
#include <math.h>
#include <stdlib.h>

#include <clblast_c.h>

#include "backend/opencl/gemm/run.h"
#include "backend/opencl/ocl_internal.h"

typedef struct gemm_choice {
    clvae_gemm_key s; /* first: clvae_gemm_key_find */
    int set;
} gemm_choice;

struct ocl_gemm_sets {
    clvae_gemm_params set[CLVAE_TUNE_MAX_SETS]; /* set[0] = the file's main set */
    int n_sets;
    gemm_choice choice[CLVAE_TUNE_MAX_SHAPES]; /* every tuned shape and its set */
    int n_choices;
    gemm_choice seen[CLVAE_TUNE_MAX_SHAPES]; /* untuned shapes met so far, and their sets */
    int n_seen;
    int applied; /* index of the set CLBlast holds now */
};

static int override(cl_device_id dev, const char *kernel, const char *const *names, const size_t *v,
                    size_t n)
{
    CLBlastStatusCode s =
        CLBlastOverrideParameters(dev, kernel, CLBlastPrecisionSingle, n, (const char **)names, v);
    if (s == CLBlastSuccess) return CLVAE_OK;
    return clvae_error(CLVAE_ERR_DEVICE, "CLBlastOverrideParameters(%s) failed: %s (%d)", kernel,
                       clvae_clblast_status_name(s), s);
}

int clvae_gemm_params_apply(cl_device_id dev, const clvae_gemm_params *p)
{
    int st = override(dev, "Xgemm", clvae_xgemm_names, p->x, CLVAE_XGEMM_NP);
    if (!st) st = override(dev, "XgemmDirect", clvae_xgemmd_names, p->d, CLVAE_XGEMMD_NP);
    if (!st) st = override(dev, "GemmRoutine", clvae_routine_names, &p->min_indirect, 1);
    for (int k = 0; !st && p->has_helpers && k < 4; k++)
    {
        const int f = clvae_helper_first[k], n = clvae_helper_first[k + 1] - f;
        st = override(dev, clvae_helper_kernels[k], clvae_helper_names + f, p->h + f, (size_t)n);
    }
    return st;
}

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
        int set = t->shape_set[i] > 0 && t->shape_set[i] < g->n_sets ? t->shape_set[i] : 0;
        const clvae_gemm_shape *s = &t->shapes[i];
        g->choice[g->n_choices++] = (gemm_choice){{s->ta, s->tb, s->m, s->n, s->k}, set};
    }
    g->applied = 0; /* the caller applied t->p */
    c->gemm_sets = g;
    return CLVAE_OK;
}

/* The set of the tuned shape nearest to an untuned one (0 when no shape has its transposes). */
static int nearest(const struct ocl_gemm_sets *g, bool ta, bool tb, int m, int n, int k)
{
    double best = INFINITY;
    int set = 0;
    for (int i = 0; i < g->n_choices; i++) {
        const gemm_choice *h = &g->choice[i];
        if (h->s.ta != ta || h->s.tb != tb) continue;
        double d = fabs(log((double)h->s.m / m)) + fabs(log((double)h->s.n / n)) +
                   fabs(log((double)h->s.k / k));
        if (d < best) best = d, set = h->set;
    }
    return set;
}

static int choose(struct ocl_gemm_sets *g, bool ta, bool tb, int m, int n, int k)
{
    const clvae_gemm_key key = {ta, tb, m, n, k};
    const gemm_choice *h = clvae_gemm_key_find(g->choice, sizeof *h, g->n_choices, &key);
    if (!h) h = clvae_gemm_key_find(g->seen, sizeof *h, g->n_seen, &key);
    if (h) return h->set;
    int set = nearest(g, ta, tb, m, n, k);
    if (g->n_seen < CLVAE_TUNE_MAX_SHAPES)
        g->seen[g->n_seen++] = (gemm_choice){key, set};
    return set;
}

int clvae_ocl_gemm_sets_select(ocl_ctx *c, bool ta, bool tb, int m, int n, int k)
{
    struct ocl_gemm_sets *g = c->gemm_sets;
    if (!g) return CLVAE_OK;
    int want = choose(g, ta, tb, m, n, k);
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
