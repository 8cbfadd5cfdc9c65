/* The C model (reference backend) against PyTorch: test/golden/golden.json from make_golden.py. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "clvae/config.h"
#include "clvae/status.h"
#include "model/vae.h"
#include "testutil.h"

static int json_int_list(const cJSON *obj, const char *key, int *dst, int max)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, key), *v;
    int n = 0;
    cJSON_ArrayForEach(v, arr) if (n < max) dst[n++] = v->valueint;
    return n;
}

static double max_abs(const float *ref, const float *got, size_t n)
{
    double w = 0;
    for (size_t i = 0; i < n; i++)
        w = fmax(w, fabs((double)ref[i] - got[i]));
    return w;
}

/* Largest |got - ref| / (|ref| + floor). */
static double max_rel(const float *ref, const float *got, size_t n, double floor)
{
    double w = 0;
    for (size_t i = 0; i < n; i++)
        w = fmax(w, fabs((double)ref[i] - got[i]) / (fabs(ref[i]) + floor));
    return w;
}

/* The config of a golden case: defaults plus the case's architecture. */
static int case_config(const cJSON *jc, const char *lik, clvae_config *cfg)
{
    clvae_config_defaults(cfg);
    cfg->model.encoder[0].n = json_int_list(jc, "encoder", cfg->model.encoder[0].w, CLVAE_MAX_LAYERS);
    cfg->model.decoder[0].n = json_int_list(jc, "decoder", cfg->model.decoder[0].w, CLVAE_MAX_LAYERS);
    cfg->model.latent[0] = (int)tu_json_num(jc, "latent");
    cfg->model.beta = tu_json_num(jc, "beta");
    cfg->model.sigma_x = tu_json_num(jc, "sigma_x");
    cfg->train.seed = (unsigned long long)tu_json_num(jc, "seed");
    cfg->train.batch = (int)tu_json_num(jc, "batch");
    cfg->train.samples = (int)tu_json_num(jc, "samples");
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(jc, "activation");
    if (!cJSON_IsString(act) || strcmp(act->valuestring, "relu")) return -1;
    cfg->model.activation = CLVAE_ACT_RELU;
    if (!strcmp(lik, "bernoulli"))
        cfg->model.likelihood = CLVAE_LIK_BERNOULLI;
    else if (!strcmp(lik, "gaussian"))
        cfg->model.likelihood = CLVAE_LIK_GAUSSIAN;
    else if (!strcmp(lik, "gaussian-learned"))
        cfg->model.likelihood = CLVAE_LIK_GAUSSIAN_LEARNED;
    else
        return -1;
    return 0;
}

/* Fills the host arena from the case's "params" by name; every table entry must be present
 * with its (out, in) shape and the file must hold no other tensor. */
static int load_params(const clvae_model *m, const cJSON *jp, float *arena)
{
    if (cJSON_GetArraySize(jp) != m->n_params) {
        fprintf(stderr, "golden.json has %d params, the model %d\n", cJSON_GetArraySize(jp),
                m->n_params);
        return -1;
    }
    for (int i = 0; i < m->n_params; i++) {
        const clvae_param *p = &m->params[i];
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(jp, p->name);
        int shape[2] = {0, 0};
        if (!t || json_int_list(t, "shape", shape, 2) != 2 || shape[0] != p->rows ||
            shape[1] != p->cols) {
            fprintf(stderr, "golden.json: %s missing or not (%d, %d)\n", p->name, p->rows, p->cols);
            return -1;
        }
        if (tu_json_floats(cJSON_GetObjectItemCaseSensitive(t, "data"), arena + p->offset,
                        (size_t)p->rows * p->cols, p->name))
            return -1;
    }
    return 0;
}

typedef struct golden_out {
    float *eps, *heads, *z, *out, *nll, *kl, *grads;
    double loss;
} golden_out;

/* Runs forward_backward on the case and downloads everything the golden file holds. */
static int run_model(clvae_model *m, const cJSON *c, int b, int s, golden_out *g)
{
    const clvae_backend_ops *o = m->be->ops;
    void *ctx = m->be->ctx;
    size_t R = (size_t)m->latent, SB = (size_t)s * b;
    float *x = malloc(sizeof(float) * b * m->dim);
    float *arena = calloc(m->n_floats, sizeof(float));
    int st = -1;
    if (!x || !arena) goto done;
    if (load_params(m, cJSON_GetObjectItemCaseSensitive(c, "params"), arena)) goto done;
    if (tu_json_floats(cJSON_GetObjectItemCaseSensitive(c, "x"), x, (size_t)b * m->dim, "x"))
        goto done;
    const cJSON *jc = cJSON_GetObjectItemCaseSensitive(c, "config");
    m->seed = (uint64_t)tu_json_num(jc, "seed");
    if ((st = clvae_model_set_params(m, arena))) goto done;
    if ((st = o->upload(ctx, m->x, x, sizeof(float) * b * m->dim))) goto done;
    if ((st = clvae_model_forward_backward(m, b, (uint64_t)tu_json_num(jc, "step"),
                                           (uint32_t)tu_json_num(jc, "stream"))))
        goto done;
    g->eps = malloc(sizeof(float) * SB * R);
    g->heads = malloc(sizeof(float) * b * 2 * R);
    g->z = malloc(sizeof(float) * SB * R);
    g->out = malloc(sizeof(float) * SB * m->dim_out);
    g->nll = malloc(sizeof(float) * SB);
    g->kl = malloc(sizeof(float) * b);
    g->grads = malloc(sizeof(float) * m->n_floats);
    st = o->download(ctx, m->eps, g->eps, sizeof(float) * SB * R);
    if (!st) st = o->download(ctx, m->hd, g->heads, sizeof(float) * b * 2 * R);
    if (!st) st = o->download(ctx, m->z, g->z, sizeof(float) * SB * R);
    if (!st) st = o->download(ctx, m->o, g->out, sizeof(float) * SB * m->dim_out);
    if (!st) st = o->download(ctx, m->loss, g->nll, sizeof(float) * SB);
    if (!st) st = o->download(ctx, m->kl, g->kl, sizeof(float) * b);
    if (!st) st = clvae_model_get_grads(m, g->grads);
    if (st) goto done;
    /* L = (1/(S*b)) sum nll + (beta/b) sum kl, summed in double on the host. */
    double rs = 0, ks = 0;
    for (size_t i = 0; i < SB; i++)
        rs += g->nll[i];
    for (int i = 0; i < b; i++)
        ks += g->kl[i];
    g->loss = rs / (double)SB + (double)m->beta / b * ks;
done:
    free(x);
    free(arena);
    return st;
}

static void free_out(golden_out *g)
{
    free(g->eps);
    free(g->heads);
    free(g->z);
    free(g->out);
    free(g->nll);
    free(g->kl);
    free(g->grads);
}

/* Largest |got - ref| over the largest |ref|: the error on the scale of the whole tensor. */
static double max_scaled(const float *ref, const float *got, size_t n)
{
    double scale = 0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(ref[i]));
    return max_abs(ref, got, n) / (scale > 0 ? scale : 1.0);
}

/* Compares one named array of the golden case with what the model produced: elementwise
 * relative (floor >= 0) or, for floor < 0, scaled by the tensor's largest magnitude. */
static double cmp(const cJSON *c, const char *key, const float *got, size_t n, double floor)
{
    float *ref = malloc(sizeof(float) * n);
    double e = INFINITY;
    if (ref && !tu_json_floats(cJSON_GetObjectItemCaseSensitive(c, key), ref, n, key))
        e = floor < 0 ? max_scaled(ref, got, n) : max_rel(ref, got, n, floor);
    free(ref);
    return e;
}

/* Gradients of every parameter by name: the worst max |a-b| / (|b| + 1e-3) over the table. */
static double cmp_grads(const clvae_model *m, const cJSON *jg, const float *grads, char *worst)
{
    double w = 0;
    for (int i = 0; i < m->n_params; i++) {
        const clvae_param *p = &m->params[i];
        size_t n = (size_t)p->rows * p->cols;
        float *ref = malloc(sizeof(float) * n);
        double e = INFINITY;
        if (ref && !tu_json_floats(cJSON_GetObjectItemCaseSensitive(jg, p->name), ref, n, p->name))
            e = max_rel(ref, grads + p->offset, n, 1e-3);
        if (e > w || isnan(e)) {
            w = isnan(e) ? INFINITY : e;
            snprintf(worst, 64, "%s", p->name);
        }
        free(ref);
    }
    return w;
}

static void check_case(const cJSON *c)
{
    const cJSON *jl = cJSON_GetObjectItemCaseSensitive(c, "likelihood");
    const cJSON *jc = cJSON_GetObjectItemCaseSensitive(c, "config");
    const char *lik = cJSON_IsString(jl) ? jl->valuestring : "?";
    clvae_config cfg;
    clvae_backend be = {0};
    clvae_model m = {0};
    golden_out g = {0};
    CHECK(jc && !case_config(jc, lik, &cfg), "%s: unusable config in golden.json", lik);
    if (!jc || case_config(jc, lik, &cfg)) return;
    int b = cfg.train.batch, s = cfg.train.samples, dim = (int)tu_json_num(jc, "dim");
    int st = clvae_ref_backend_create(&be);
    if (!st) st = clvae_model_layout(&m, &cfg, dim);
    if (!st) st = clvae_model_init(&m, &be, b, s, false);
    CHECK(!st, "%s: model setup: %s", lik, clvae_last_error());
    if (!st) st = run_model(&m, c, b, s, &g);
    CHECK(!st, "%s: forward_backward on the golden case failed (%d)", lik, st);
    if (st) goto done;
    size_t R = (size_t)m.latent, SB = (size_t)s * b;

    float *ref_eps = malloc(sizeof(float) * SB * R);
    double e_eps = INFINITY;
    if (!tu_json_floats(cJSON_GetObjectItemCaseSensitive(c, "eps"), ref_eps, SB * R, "eps"))
        e_eps = max_abs(ref_eps, g.eps, SB * R);
    free(ref_eps);
    /* Heads, z and decoder outputs as max|a-b| / max|b| (dot products that cancel make single
     * entries near zero, where elementwise relative error means nothing). */
    double e_heads = cmp(c, "heads", g.heads, (size_t)b * 2 * R, -1);
    double e_z = cmp(c, "z", g.z, SB * R, -1);
    double e_out = cmp(c, "out", g.out, SB * m.dim_out, -1);
    /* Per-row nll and kl, and the loss: elementwise relative. */
    double e_nll = cmp(c, "nll", g.nll, SB, 0.0);
    double e_kl = cmp(c, "kl", g.kl, (size_t)b, 0.0);
    double ref_loss = tu_json_num(c, "loss");
    double e_loss = fabs(g.loss - ref_loss) / fabs(ref_loss);
    char worst[64] = "";
    double e_grad = cmp_grads(&m, cJSON_GetObjectItemCaseSensitive(c, "grads"), g.grads, worst);
    printf("%-16s eps max|d| %.2e  heads %.2e  z %.2e  out %.2e  nll %.2e  kl %.2e  loss %.2e "
           "(C %.9g, torch %.9g)  grads %.2e (worst %s)\n",
           lik, e_eps, e_heads, e_z, e_out, e_nll, e_kl, e_loss, g.loss, ref_loss, e_grad, worst);

    /* Philox C vs the numpy re-implementation: the integer part is exact; logf/sqrtf/cosf/sinf
     * of glibc are within ~1 ulp of the correctly rounded values numpy emulates, and |eps| < 4
     * here (ulp 2.4e-7), so a few ulp at most. */
    CHECK(e_eps <= 1e-6, "%s: eps differs from the Python Philox by %g", lik, e_eps);
    /* fp32 forward through 2-4 layers of <= 8-term dot products vs fp64: measured 0.5-1.8e-7
     * of the largest entry (1-2 ulp of it); 1e-6 (8 ulp) is the bound, a 5x margin. */
    CHECK(e_heads <= 1e-6, "%s: heads differ from torch by %g of their scale", lik, e_heads);
    CHECK(e_z <= 1e-6, "%s: z differs from torch by %g of its scale", lik, e_z);
    CHECK(e_out <= 1e-6, "%s: decoder output differs from torch by %g of its scale", lik, e_out);
    /* nll rows reach ~140 with terms that cancel (Bernoulli softplus(l) - x l, learned-variance
     * (x-m)^2 e^-v + v); measured <= 3e-7 relative for nll, 1e-6 for kl (a row whose kl is
     * 0.05: mu^2 + e^lv - lv - 1 cancels), 7e-8 for the loss; 1e-5 is the fp32-vs-fp64 bound. */
    CHECK(e_nll <= 1e-5, "%s: per-row nll differs from torch by %g (relative)", lik, e_nll);
    CHECK(e_kl <= 1e-5, "%s: kl differs from torch by %g (relative)", lik, e_kl);
    CHECK(e_loss <= 1e-5, "%s: loss differs from torch by %g (relative)", lik, e_loss);
    /* Gradients: fp32 backward through 4 layers vs fp64 autograd, max |a-b| / (|b| + 1e-3)
     * (the floor keeps near-zero entries from dividing by nothing); measured <= 7.5e-6, so
     * 1e-4 leaves a 13x margin (llm.c allows 2e-2 against PyTorch on a far larger model). */
    CHECK(e_grad <= 1e-4, "%s: gradient of %s differs from torch by %g", lik, worst, e_grad);
done:
    free_out(&g);
    clvae_model_free(&m);
    if (be.ops) be.ops->free(be.ctx);
}

int main(void)
{
    const char *src = getenv("CLVAE_SRC");
    char path[4096];
    snprintf(path, sizeof path, "%s/test/golden/golden.json", src && *src ? src : ".");
    char *text = tu_slurp(path);
    CHECK(text != NULL, "cannot read %s (it is committed; regenerate with make_golden.py)", path);
    if (!text) return tu_finish("test_golden");
    cJSON *doc = cJSON_Parse(text);
    free(text);
    CHECK(doc != NULL, "%s is not valid JSON", path);
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(doc, "cases"), *c;
    CHECK(cJSON_GetArraySize(cases) == 3, "%s should hold 3 cases (one per likelihood)", path);
    cJSON_ArrayForEach(c, cases) check_case(c);
    cJSON_Delete(doc);
    return tu_finish("test_golden");
}
