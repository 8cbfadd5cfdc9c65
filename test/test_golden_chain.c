/* The C chain of stochastic layers (reference backend) against PyTorch float64 autograd:
 * test/golden/golden_chain.json from make_golden_chain.py, a tiny two-layer model under the
 * importance-weighted bound (K = 5) and under the ELBO (beta 0.5, 2 samples). */
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

/* The architecture make_golden_chain.py writes (its DIM, LATENT, ENC, DEC). */
static int case_config(const cJSON *c, clvae_config *cfg)
{
    const cJSON *jc = cJSON_GetObjectItemCaseSensitive(c, "config");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(c, "kind");
    clvae_config_defaults(cfg);
    const char *sets[] = {"model.latent=3,2", "model.encoder=5 | 4", "model.decoder=4 | 5",
                          "model.activation=tanh"};
    for (int i = 0; i < 4; i++)
        if (clvae_config_set(cfg, sets[i])) return -1;
    cfg->train.objective = !strcmp(kind->valuestring, "iwae") ? CLVAE_OBJ_IWAE : CLVAE_OBJ_ELBO;
    cfg->train.samples = (int)tu_json_num(jc, "samples");
    cfg->train.batch = (int)tu_json_num(jc, "batch");
    cfg->train.seed = (unsigned long long)tu_json_num(jc, "seed");
    cfg->model.beta = tu_json_num(jc, "beta");
    return clvae_config_validate(cfg);
}

/* Parameters by name into the host arena; every table entry must be in the file and no more. */
static int load_params(const clvae_model *m, const cJSON *jp, float *arena)
{
    if (cJSON_GetArraySize(jp) != m->n_params) return -1;
    for (int i = 0; i < m->n_params; i++) {
        const clvae_param *p = &m->params[i];
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(jp, p->name);
        if (!t || tu_json_floats(cJSON_GetObjectItemCaseSensitive(t, "data"), arena + p->offset,
                                 (size_t)p->rows * p->cols, p->name))
            return -1;
    }
    return 0;
}

/* max |a - b| / (|b| + floor) of a named golden array. */
static double cmp(const cJSON *c, const char *key, const float *got, size_t n, double floor)
{
    float *ref = malloc(sizeof(float) * n);
    double w = INFINITY;
    if (ref && !tu_json_floats(cJSON_GetObjectItemCaseSensitive(c, key), ref, n, key)) {
        w = 0;
        for (size_t i = 0; i < n; i++) w = fmax(w, fabs((double)ref[i] - got[i]) / (fabs(ref[i]) + floor));
    }
    free(ref);
    return w;
}

/* The loss the C backward differentiates, from its own forward outputs, in double. */
static double c_loss(clvae_model *m, int b, int S, const float *nll, const float *kl1,
                     const float *kl2)
{
    double L = 0;
    for (int i = 0; i < b && m->objective == CLVAE_OBJ_IWAE; i++) {
        double mx = -INFINITY, s = 0;
        for (int k = 0; k < S; k++) mx = fmax(mx, -(nll[k * b + i] + (double)kl2[k * b + i]));
        for (int k = 0; k < S; k++) s += exp(-(nll[k * b + i] + (double)kl2[k * b + i]) - mx);
        L -= (mx + log(s) - log((double)S)) / b;
    }
    for (int r = 0; r < S * b && m->objective == CLVAE_OBJ_ELBO; r++)
        L += (nll[r] + m->beta * ((double)kl1[r] + kl2[r])) / (S * b);
    return L;
}

static void check_case(const cJSON *c)
{
    const char *kind = cJSON_GetObjectItemCaseSensitive(c, "kind")->valuestring;
    const cJSON *jc = cJSON_GetObjectItemCaseSensitive(c, "config");
    clvae_config cfg;
    clvae_backend be = {0};
    clvae_model m = {0};
    CHECK(!case_config(c, &cfg), "%s: unusable config: %s", kind, clvae_last_error());
    int b = cfg.train.batch, S = cfg.train.samples, rows = b * S;
    int st = clvae_ref_backend_create(&be);
    if (!st) st = clvae_model_layout(&m, &cfg, (int)tu_json_num(jc, "dim"));
    if (!st) st = clvae_model_init(&m, &be, b, S, false);
    CHECK(!st, "%s: model setup: %s", kind, clvae_last_error());
    if (st) return;
    float *arena = calloc(m.n_floats, sizeof(float)), *grads = malloc(m.n_floats * sizeof(float));
    float x[64], nll[64], kl1[64], kl2[64];
    CHECK(!load_params(&m, cJSON_GetObjectItemCaseSensitive(c, "params"), arena),
          "%s: golden params do not match the model's table", kind);
    tu_json_floats(cJSON_GetObjectItemCaseSensitive(c, "x"), x, (size_t)b * m.dim, "x");
    clvae_model_set_params(&m, arena);
    be.ops->upload(be.ctx, m.x, x, sizeof(float) * b * m.dim);
    st = clvae_model_forward_backward(&m, b, (uint64_t)tu_json_num(jc, "step"),
                                      (uint32_t)tu_json_num(jc, "stream"));
    CHECK(!st, "%s: forward_backward: %s", kind, clvae_last_error());
    clvae_model_get_grads(&m, grads);
    be.ops->download(be.ctx, m.loss, nll, sizeof(float) * rows);
    be.ops->download(be.ctx, m.lat[0].kl, kl1, sizeof(float) * rows);
    /* IWAE: the summed log q - log p of both layers; ELBO: the top's analytic KL */
    be.ops->download(be.ctx, m.objective == CLVAE_OBJ_IWAE ? m.kl_sum : m.lat[1].kl, kl2,
                     sizeof(float) * rows);
    double loss = c_loss(&m, b, S, nll, kl1, kl2), ref = tu_json_num(c, "loss");
    double e_nll = cmp(c, "nll", nll, rows, 0), e_kl1 = cmp(c, "kl1", kl1, rows, 1e-2);
    double e_loss = fabs(loss - ref) / fabs(ref), e_grad = 0;
    char worst[96] = "";
    const cJSON *jg = cJSON_GetObjectItemCaseSensitive(c, "grads");
    for (int i = 0; i < m.n_params; i++) {
        const clvae_param *p = &m.params[i];
        double e = cmp(jg, p->name, grads + p->offset, (size_t)p->rows * p->cols, 1e-3);
        if (!(e <= e_grad)) e_grad = e, snprintf(worst, sizeof worst, "%s", p->name);
    }
    printf("%-5s nll %.2e  kl1 %.2e  loss %.2e (C %.9g, torch %.9g)  grads %.2e (worst %s)\n",
           kind, e_nll, e_kl1, e_loss, loss, ref, e_grad, worst);
    /* fp32 vs fp64 through 3 small tanh layers per path, as test_golden (measured there
     * <= 3e-7 for nll and 7e-8 for the loss): 1e-5 relative. kl1 = log q - log p at the sample
     * cancels (values near 0): relative with a 1e-2 floor, same bound. */
    CHECK(e_nll <= 1e-5, "%s: nll differs from torch by %g", kind, e_nll);
    CHECK(e_kl1 <= 1e-5, "%s: layer-1 log q - log p differs from torch by %g", kind, e_kl1);
    CHECK(e_loss <= 1e-5, "%s: loss differs from torch by %g", kind, e_loss);
    /* every gradient, max |a-b| / (|b| + 1e-3): measured 2.0e-5 (elbo) and 3.8e-5 (iwae, whose
     * softmax weights add a few roundings per row); test_golden's bound, 1e-4 */
    CHECK(e_grad <= 1e-4, "%s: gradient of %s differs from torch by %g", kind, worst, e_grad);
    free(arena);
    free(grads);
    clvae_model_free(&m);
    be.ops->free(be.ctx);
}

int main(void)
{
    const char *src = getenv("CLVAE_SRC");
    char path[4096];
    snprintf(path, sizeof path, "%s/test/golden/golden_chain.json", src && *src ? src : ".");
    char *text = tu_slurp(path);
    CHECK(text != NULL, "cannot read %s (regenerate with make_golden_chain.py)", path);
    if (!text) return tu_finish("test_golden_chain");
    cJSON *doc = cJSON_Parse(text), *c;
    free(text);
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(doc, "cases");
    CHECK(cJSON_GetArraySize(cases) == 2, "%s should hold the iwae and elbo cases", path);
    cJSON_ArrayForEach(c, cases) check_case(c);
    cJSON_Delete(doc);
    return tu_finish("test_golden_chain");
}
