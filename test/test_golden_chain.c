/* The C chain of stochastic layers (reference backend) against PyTorch float64 autograd:
 * test/golden/golden_chain.json from make_golden_chain.py, a tiny two-layer model under the
 * importance-weighted bound (K = 5) and under the ELBO (beta 0.5, 2 samples); and
 * test/golden/golden_cvae.json from make_golden_cvae.py, conditional VAEs written with
 * nn.Linear(in + C, H) on torch.cat([input, onehot(y)], 1) (one layer ELBO, two layers IWAE),
 * whose state_dict names and shapes must be the C model's parameter table; and
 * test/golden/golden_gumbel.json from make_golden_gumbel.py, Gumbel-softmax VAEs written with the
 * peer's GumbelVAE expressions (relaxed and straight-through), whose Gumbel noise the file gives
 * and the C model must draw. */
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

/* The architecture the generator writes: config.arch (cVAE cases), else make_golden_chain.py's
 * (its DIM, LATENT, ENC, DEC). */
static int case_config(const cJSON *c, clvae_config *cfg)
{
    const cJSON *jc = cJSON_GetObjectItemCaseSensitive(c, "config");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(c, "kind");
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(jc, "arch");
    clvae_config_defaults(cfg);
    char sets[4][96] = {"model.latent=3,2", "model.encoder=5 | 4", "model.decoder=4 | 5",
                        "model.activation=tanh"};
    const char *keys[3] = {"latent", "encoder", "decoder"};
    for (int i = 0; i < 3 && arch; i++)
        snprintf(sets[i], sizeof sets[i], "model.%s=%s", keys[i],
                 cJSON_GetObjectItemCaseSensitive(arch, keys[i])->valuestring);
    const cJSON *act = arch ? cJSON_GetObjectItemCaseSensitive(arch, "activation") : NULL;
    if (act) snprintf(sets[3], sizeof sets[3], "model.activation=%s", act->valuestring);
    for (int i = 0; i < 4; i++)
        if (clvae_config_set(cfg, sets[i])) return -1;
    const cJSON *cat = cJSON_GetObjectItemCaseSensitive(jc, "categorical");
    if (cat) { /* one categorical layer at the file's constant temperature */
        cfg->model.n_latent_type = 1;
        cfg->model.latent_type[0] = CLVAE_LATENT_CATEGORICAL;
        cfg->model.categorical[0] = cJSON_GetArrayItem(cat, 0)->valueint;
        cfg->model.categorical[1] = cJSON_GetArrayItem(cat, 1)->valueint;
        cfg->model.hard = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(jc, "hard"));
        cfg->train.tau = cfg->train.tau_min = tu_json_num(jc, "tau");
    }
    cfg->model.conditional = cJSON_GetObjectItemCaseSensitive(jc, "classes") != NULL;
    cfg->model.classes = cfg->model.conditional ? (int)tu_json_num(jc, "classes") : 0;
    cfg->train.objective = strstr(kind->valuestring, "iwae") ? CLVAE_OBJ_IWAE : CLVAE_OBJ_ELBO;
    cfg->train.samples = (int)tu_json_num(jc, "samples");
    cfg->train.batch = (int)tu_json_num(jc, "batch");
    cfg->train.seed = (unsigned long long)tu_json_num(jc, "seed");
    cfg->model.beta = tu_json_num(jc, "beta");
    return clvae_config_validate(cfg);
}

/* Parameters by name into the host arena; every table entry must be in the file with its
 * shape, and no more. */
static int load_params(const clvae_model *m, const cJSON *jp, float *arena)
{
    if (cJSON_GetArraySize(jp) != m->n_params) return -1;
    for (int i = 0; i < m->n_params; i++) {
        const clvae_param *p = &m->params[i];
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(jp, p->name);
        const cJSON *sh = t ? cJSON_GetObjectItemCaseSensitive(t, "shape") : NULL;
        if (!sh || cJSON_GetArrayItem(sh, 0)->valueint != p->rows ||
            cJSON_GetArrayItem(sh, 1)->valueint != p->cols) /* torch (out, in): e.g. (5, 6 + 3) */
            return -1;
        if (tu_json_floats(cJSON_GetObjectItemCaseSensitive(t, "data"), arena + p->offset,
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

/* The loss the C backward differentiates, from its own forward outputs, in double: IWAE from
 * nll and the summed layer terms ks; ELBO from nll and every layer's kl (the top's analytic KL
 * has one row per q row: b for a one-layer model). */
static double c_loss(clvae_model *m, int b, int S, const float *nll, const float *ks)
{
    double L = 0;
    float kl[64];
    for (int i = 0; i < b && m->objective == CLVAE_OBJ_IWAE; i++) {
        double mx = -INFINITY, s = 0;
        for (int k = 0; k < S; k++) mx = fmax(mx, -(nll[k * b + i] + (double)ks[k * b + i]));
        for (int k = 0; k < S; k++) s += exp(-(nll[k * b + i] + (double)ks[k * b + i]) - mx);
        L -= (mx + log(s) - log((double)S)) / b;
    }
    if (m->objective == CLVAE_OBJ_IWAE) return L;
    for (int r = 0; r < S * b; r++) L += nll[r] / (S * b);
    for (int l = 0; l < m->T; l++) {
        int n = l == 0 && m->T == 1 ? b : S * b;
        m->be->ops->download(m->be->ctx, m->lat[l].kl, kl, sizeof(float) * n);
        for (int r = 0; r < n; r++) L += m->beta * kl[r] / n;
    }
    return L;
}

/* A cVAE case's labels into the model (no-op otherwise). */
static void upload_labels(clvae_model *m, const cJSON *jc)
{
    const cJSON *jl = cJSON_GetObjectItemCaseSensitive(jc, "labels"), *v;
    uint8_t lab[64];
    int n = 0;
    cJSON_ArrayForEach(v, jl) if (n < 64) lab[n++] = (uint8_t)v->valuedouble;
    CHECK(clvae_model_set_labels(m, lab, n) == CLVAE_OK, "labels: %s", clvae_last_error());
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
    float x[64], nll[64], kl1[64], ks[64];
    CHECK(!load_params(&m, cJSON_GetObjectItemCaseSensitive(c, "params"), arena),
          "%s: golden params do not match the model's table", kind);
    tu_json_floats(cJSON_GetObjectItemCaseSensitive(c, "x"), x, (size_t)b * m.dim, "x");
    clvae_model_set_params(&m, arena);
    be.ops->upload(be.ctx, m.x, x, sizeof(float) * b * m.dim);
    upload_labels(&m, jc);
    st = clvae_model_forward_backward(&m, b, (uint64_t)tu_json_num(jc, "step"),
                                      (uint32_t)tu_json_num(jc, "stream"));
    CHECK(!st, "%s: forward_backward: %s", kind, clvae_last_error());
    clvae_model_get_grads(&m, grads);
    be.ops->download(be.ctx, m.loss, nll, sizeof(float) * rows);
    be.ops->download(be.ctx, m.lat[0].kl, kl1, sizeof(float) * rows);
    if (m.objective == CLVAE_OBJ_IWAE) /* the summed log q - log p of the layers */
        be.ops->download(be.ctx, m.kl_sum, ks, sizeof(float) * rows);
    double loss = c_loss(&m, b, S, nll, ks), ref = tu_json_num(c, "loss");
    bool has_kl1 = cJSON_GetObjectItemCaseSensitive(c, "kl1") != NULL; /* chain cases */
    double e_g = 0, e_kl = 0;
    if (cJSON_GetObjectItemCaseSensitive(c, "g")) { /* Gumbel cases: the noise and the KL */
        size_t ng = (size_t)rows * m.lat[0].R;
        float *g = malloc(ng * sizeof(float));
        be.ops->download(be.ctx, m.lat[0].eps, g, ng * sizeof(float));
        e_g = cmp(c, "g", g, ng, 1.0);
        e_kl = cmp(c, "kl", kl1, (size_t)b, 1e-2);
        free(g);
        printf("%-5s gumbel noise vs the file %.2e  KL(q || uniform) %.2e\n", kind, e_g, e_kl);
    }
    /* the C draw is float32 logf twice, the file's correctly rounded float32 logs: a few ulp,
     * |dg| / (|g| + 1) <= 1e-6; the KL as the loss, 1e-5 */
    CHECK(e_g <= 1e-6, "%s: Gumbel noise differs from the file by %g", kind, e_g);
    CHECK(e_kl <= 1e-5, "%s: KL differs from torch by %g", kind, e_kl);
    double e_nll = cmp(c, "nll", nll, rows, 0), e_kl1 = has_kl1 ? cmp(c, "kl1", kl1, rows, 1e-2) : 0;
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

/* Every case of test/golden/<file> (two each). */
static void check_file(const char *file, const char *generator)
{
    const char *src = getenv("CLVAE_SRC");
    char path[4096];
    snprintf(path, sizeof path, "%s/test/golden/%s", src && *src ? src : ".", file);
    char *text = tu_slurp(path);
    CHECK(text != NULL, "cannot read %s (regenerate with %s)", path, generator);
    if (!text) return;
    cJSON *doc = cJSON_Parse(text), *c;
    free(text);
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(doc, "cases");
    CHECK(cJSON_GetArraySize(cases) == 2, "%s should hold two cases", path);
    cJSON_ArrayForEach(c, cases) check_case(c);
    cJSON_Delete(doc);
}

int main(void)
{
    check_file("golden_chain.json", "make_golden_chain.py");
    check_file("golden_cvae.json", "make_golden_cvae.py");
    check_file("golden_gumbel.json", "make_golden_gumbel.py");
    return tu_finish("test_golden_chain");
}
