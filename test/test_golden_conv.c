/* A conv VAE with BatchNorm2d (reference backend) against PyTorch float64 autograd:
 * test/golden/golden_conv.json from make_golden_conv.py. Training mode: heads, z, decoder
 * output, per-row nll and kl, the loss, every gradient, the running statistics after the
 * forward; evaluation mode (running statistics): the loss. */
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

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static int case_config(const cJSON *jc, clvae_config *cfg)
{
    char a[512];
    static const char *keys[] = {"model.encoder", "model.decoder", "model.decoder_out",
                                 "model.activation", "data.image_shape"};
    clvae_config_defaults(cfg);
    for (int i = 0; i < 5; i++) {
        snprintf(a, sizeof a, "%s=%s", keys[i], jstr(jc, strchr(keys[i], '.') + 1));
        if (clvae_config_set(cfg, a)) return -1;
    }
    cfg->model.leaky_slope = tu_json_num(jc, "leaky_slope");
    cfg->model.latent[0] = (int)tu_json_num(jc, "latent");
    cfg->train.batch = (int)tu_json_num(jc, "batch");
    cfg->train.samples = (int)tu_json_num(jc, "samples");
    cfg->train.seed = (unsigned long long)tu_json_num(jc, "seed");
    return clvae_config_validate(cfg);
}

/* Every table entry by name from "params" (flattened PyTorch tensors: the table's layout). */
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

/* max |got - ref| / max |ref| of a named array of n floats; or elementwise relative with a
 * floor (floor >= 0). */
static double cmp(const cJSON *o, const char *key, const float *got, size_t n, double floor)
{
    float *ref = malloc(n * sizeof(float));
    double e = INFINITY;
    if (ref && !tu_json_floats(cJSON_GetObjectItemCaseSensitive(o, key), ref, n, key)) {
        double w = 0, s = 0;
        for (size_t i = 0; i < n; i++) {
            double d = fabs((double)ref[i] - got[i]);
            w = fmax(w, floor >= 0 ? d / (fabs(ref[i]) + floor) : d);
            s = fmax(s, fabs(ref[i]));
        }
        e = floor >= 0 ? w : w / (s > 0 ? s : 1);
    }
    free(ref);
    return e;
}

static double host_loss(clvae_model *m, int b, int s)
{
    float nll[64], kl[16];
    m->be->ops->download(m->be->ctx, m->loss, nll, sizeof(float) * s * b);
    m->be->ops->download(m->be->ctx, m->kl, kl, sizeof(float) * b);
    double r = 0, k = 0;
    for (int i = 0; i < s * b; i++) r += nll[i];
    for (int i = 0; i < b; i++) k += kl[i];
    return r / (s * b) + k / b;
}

static void check(const cJSON *c, clvae_model *m, int b, int s)
{
    const clvae_backend_ops *o = m->be->ops;
    void *ctx = m->be->ctx;
    const cJSON *jc = cJSON_GetObjectItemCaseSensitive(c, "config");
    size_t R = (size_t)m->latent, SB = (size_t)s * b, n = m->n_floats;
    float *arena = calloc(n, sizeof(float)), *grads = malloc(n * sizeof(float)), x[16 * 60];
    float heads[16 * 6], z[64 * 3], out[64 * 60], nll[64], kl[16];
    CHECK(SB * m->dim <= sizeof out / sizeof out[0] && b * m->dim <= 16 * 60, "case too large");
    CHECK(!load_params(m, cJSON_GetObjectItemCaseSensitive(c, "params"), arena),
          "golden_conv.json's params do not fit the model's table");
    CHECK(!tu_json_floats(cJSON_GetObjectItemCaseSensitive(c, "x"), x, (size_t)b * m->dim, "x"), "x");
    clvae_model_set_params(m, arena);
    o->upload(ctx, m->x, x, sizeof(float) * b * m->dim);
    uint64_t step = (uint64_t)tu_json_num(jc, "step");
    uint32_t stream = (uint32_t)tu_json_num(jc, "stream");
    /* evaluation first: the running statistics the parameters hold */
    clvae_model_forward(m, b, s, step, stream, false);
    double eval = host_loss(m, b, s), ref_eval = tu_json_num(c, "eval_loss");
    double e_eval = fabs(eval - ref_eval) / fabs(ref_eval);
    int st = clvae_model_forward_backward(m, b, step, stream);
    CHECK(!st, "forward_backward: %s", clvae_last_error());
    double loss = host_loss(m, b, s), ref_loss = tu_json_num(c, "loss");
    double e_loss = fabs(loss - ref_loss) / fabs(ref_loss);
    o->download(ctx, m->hd, heads, sizeof(float) * b * 2 * R);
    o->download(ctx, m->z, z, sizeof(float) * SB * R);
    o->download(ctx, m->o, out, sizeof(float) * SB * m->dim_out);
    o->download(ctx, m->loss, nll, sizeof(float) * SB);
    o->download(ctx, m->kl, kl, sizeof(float) * b);
    clvae_model_get_grads(m, grads);
    clvae_model_get_params(m, arena);
    double e_heads = cmp(c, "heads", heads, (size_t)b * 2 * R, -1);
    double e_z = cmp(c, "z", z, SB * R, -1), e_out = cmp(c, "out", out, SB * m->dim_out, -1);
    double e_nll = cmp(c, "nll", nll, SB, 0), e_kl = cmp(c, "kl", kl, (size_t)b, 0);
    /* every gradient (max |a-b| / (|b| + 1e-3)); running statistics: 0; their new values */
    const cJSON *jg = cJSON_GetObjectItemCaseSensitive(c, "grads");
    const cJSON *jr = cJSON_GetObjectItemCaseSensitive(c, "running_after");
    double e_grad = 0, e_run = 0;
    static const float zeros[64];
    char worst[96] = "";
    for (int i = 0; i < m->n_params; i++) {
        const clvae_param *p = &m->params[i];
        size_t k = (size_t)p->rows * p->cols;
        if (p->init == CLVAE_PINIT_STAT_ZERO || p->init == CLVAE_PINIT_STAT_ONE) {
            for (size_t j = 0; j < k; j++) CHECK(grads[p->offset + j] == 0.0f, "%s has a gradient", p->name);
            e_run = fmax(e_run, cmp(jr, p->name, arena + p->offset, k, 1e-3));
            continue;
        }
        double e = cmp(jg, p->name, grads + p->offset, k, 1e-3);
        if (k <= 64 && cmp(jg, p->name, zeros, k, 1.0) < 1e-12) { /* a bias that feeds BatchNorm */
            /* Its gradient is 0 exactly (the batch mean removes it); clvae's float sum of the
             * normalized gradient over 36..72 rows is ~1e-7 (measured 1.6e-7): <= 1e-5. */
            double a = 0;
            for (size_t j = 0; j < k; j++) a = fmax(a, fabs(grads[p->offset + j]));
            CHECK(a <= 1e-5, "%s: a zero gradient by math is %g", p->name, a);
            continue;
        }
        if (!(e <= e_grad)) e_grad = isnan(e) ? INFINITY : e, snprintf(worst, sizeof worst, "%s", p->name);
    }
    printf("conv golden: heads %.2e z %.2e out %.2e nll %.2e kl %.2e loss %.2e (C %.9g, torch "
           "%.9g) eval loss %.2e grads %.2e (worst %s) running %.2e\n", e_heads, e_z, e_out, e_nll,
           e_kl, e_loss, loss, ref_loss, e_eval, e_grad, worst, e_run);
    /* fp32 vs fp64 through two conv layers, BatchNorm (a 1/sqrt of a variance of 36 rows) and
     * the heads: measured <= 2.3e-7 of the tensors' scale; 2e-6 is the bound (as test_golden's
     * 1e-6 for dense layers, doubled for the longer chain). */
    CHECK(e_heads <= 2e-6 && e_z <= 2e-6 && e_out <= 2e-6, "forward differs from torch: heads "
          "%g z %g out %g", e_heads, e_z, e_out);
    /* per-row nll / kl, the loss (training and evaluation mode): measured <= 2.3e-7 relative;
     * 1e-5 as test_golden. */
    CHECK(e_nll <= 1e-5 && e_kl <= 1e-5, "nll %g kl %g relative", e_nll, e_kl);
    CHECK(e_loss <= 1e-5, "training-mode loss differs from torch by %g", e_loss);
    CHECK(e_eval <= 1e-5, "evaluation-mode loss (running statistics) differs by %g", e_eval);
    /* gradients through BN's backward (dx = gamma invstd (dy - mean dy - xhat mean dy xhat)):
     * measured 4.7e-5 at worst, on BN's gamma (sum_r dy xhat over 36 rows whose terms cancel,
     * against the 1e-3 floor), the others <= 1e-5; bound 3e-4 (test_golden's dense chain: 1e-4).
     * Running statistics: one momentum step, measured 8e-8. */
    CHECK(e_grad <= 3e-4, "gradient of %s differs from torch by %g", worst, e_grad);
    CHECK(e_run <= 1e-5, "running statistics differ from torch by %g", e_run);
    free(arena);
    free(grads);
}

int main(void)
{
    const char *src = getenv("CLVAE_SRC");
    char path[4096];
    snprintf(path, sizeof path, "%s/test/golden/golden_conv.json", src && *src ? src : ".");
    char *text = tu_slurp(path);
    CHECK(text != NULL, "cannot read %s (regenerate with make_golden_conv.py)", path);
    if (!text) return tu_finish("test_golden_conv");
    cJSON *doc = cJSON_Parse(text);
    free(text);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(doc, "case");
    const cJSON *jc = cJSON_GetObjectItemCaseSensitive(c, "config");
    clvae_config cfg;
    clvae_backend be = {0};
    clvae_model m = {0};
    int st = jc ? case_config(jc, &cfg) : -1;
    CHECK(!st, "golden_conv.json's config: %s", clvae_last_error());
    if (!st) st = clvae_ref_backend_create(&be);
    if (!st) st = clvae_model_layout(&m, &cfg, 60);
    if (!st) st = clvae_model_init(&m, &be, cfg.train.batch, cfg.train.samples, false);
    CHECK(!st, "model setup: %s", clvae_last_error());
    if (!st) check(c, &m, cfg.train.batch, cfg.train.samples);
    clvae_model_free(&m);
    if (be.ops) be.ops->free(be.ctx);
    cJSON_Delete(doc);
    return tu_finish("test_golden_conv");
}
