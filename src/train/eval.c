/* Evaluation passes over a dataset: ELBO for metrics and `clvae eval`, IWAE for --iw K. */
#include "train/eval.h"

#include "core/philox.h"

#include <math.h>
#include <stdlib.h>

int clvae_upload_range(clvae_model *m, const clvae_dataset *ds, size_t first, int count,
                       float *stage)
{
    uint32_t idx[4096];
    for (size_t done = 0; done < (size_t)count;) {
        size_t n = (size_t)count - done < 4096 ? (size_t)count - done : 4096;
        for (size_t i = 0; i < n; i++) idx[i] = (uint32_t)(first + done + i);
        clvae_dataset_gather(ds, idx, n, stage + done * ds->dim);
        done += n;
    }
    return m->be->ops->upload(m->be->ctx, m->x, stage, (size_t)count * ds->dim * sizeof(float));
}

int clvae_eval_elbo(clvae_model *m, const clvae_dataset *ds, bool deterministic,
                    clvae_eval_result *r)
{
    int st = CLVAE_OK, B = m->max_batch;
    float *stage = malloc((size_t)B * ds->dim * sizeof(float));
    float *loss = malloc((size_t)B * 2 * sizeof(float)), *kl = loss + B;
    double recon = 0, kls = 0;
    if (!stage || !loss) {
        st = clvae_error(CLVAE_ERR_NOMEM, "eval: out of host memory");
        goto done;
    }
    for (size_t first = 0; first < ds->n; first += B) {
        int b = ds->n - first < (size_t)B ? (int)(ds->n - first) : B;
        if ((st = clvae_upload_range(m, ds, first, b, stage))) goto done;
        if ((st = clvae_model_forward(m, b, 1, first / B, CLVAE_STREAM_EPS_EVAL, deterministic)))
            goto done;
        if ((st = m->be->ops->download(m->be->ctx, m->loss, loss, b * sizeof(float)))) goto done;
        if ((st = m->be->ops->download(m->be->ctx, m->kl, kl, b * sizeof(float)))) goto done;
        for (int i = 0; i < b; i++) {
            recon += loss[i];
            kls += kl[i];
        }
    }
    r->n = (long)ds->n;
    r->recon = recon / (double)ds->n;
    r->kl = kls / (double)ds->n;
    r->loss = r->recon + r->kl;
done:
    free(stage);
    free(loss);
    return st;
}

/* log w for each of k samples of row b: -nll + log p(z) - log q(z|x) (2 pi terms cancel). */
static double row_logmeanexp(const float *loss, const float *z, const float *eps,
                             const float *heads, int b, int nb, int k, int R)
{
    double mx = -INFINITY, *lw = malloc(sizeof(double) * k), s = 0;
    if (!lw) return NAN;
    for (int j = 0; j < k; j++) {
        size_t row = (size_t)j * nb + b;
        double w = -loss[row];
        for (int r = 0; r < R; r++) {
            double zz = z[row * R + r], ee = eps[row * R + r], lv = heads[(size_t)b * 2 * R + R + r];
            w += -0.5 * zz * zz + 0.5 * ee * ee + 0.5 * lv;
        }
        lw[j] = w;
        if (w > mx) mx = w;
    }
    for (int j = 0; j < k; j++) s += exp(lw[j] - mx);
    free(lw);
    return mx + log(s) - log((double)k);
}

int clvae_eval_iwae(clvae_model *m, const clvae_dataset *ds, int k, double *loglik)
{
    int R = m->latent, cap = m->max_batch * m->samples, B = cap / k, st = CLVAE_OK;
    if (B < 1 || k > m->samples)
        return clvae_error(CLVAE_ERR_INTERNAL, "iwae: model sized for %d samples, %d asked", m->samples, k);
    if (B > m->max_batch) B = m->max_batch;
    size_t rows = (size_t)B * k;
    float *stage = malloc((size_t)B * ds->dim * sizeof(float));
    float *loss = malloc(rows * sizeof(float)), *z = malloc(rows * R * sizeof(float));
    float *eps = malloc(rows * R * sizeof(float)), *hd = malloc((size_t)B * 2 * R * sizeof(float));
    const clvae_backend_ops *o = m->be->ops;
    double total = 0;
    if (!stage || !loss || !z || !eps || !hd) {
        st = clvae_error(CLVAE_ERR_NOMEM, "iwae: out of host memory");
        goto done;
    }
    for (size_t first = 0; first < ds->n; first += B) {
        int b = ds->n - first < (size_t)B ? (int)(ds->n - first) : B;
        if ((st = clvae_upload_range(m, ds, first, b, stage))) goto done;
        if ((st = clvae_model_forward(m, b, k, first / B, CLVAE_STREAM_EPS_EVAL, false))) goto done;
        if ((st = o->download(m->be->ctx, m->loss, loss, (size_t)b * k * sizeof(float)))) goto done;
        if ((st = o->download(m->be->ctx, m->z, z, (size_t)b * k * R * sizeof(float)))) goto done;
        if ((st = o->download(m->be->ctx, m->eps, eps, (size_t)b * k * R * sizeof(float)))) goto done;
        if ((st = o->download(m->be->ctx, m->hd, hd, (size_t)b * 2 * R * sizeof(float)))) goto done;
        for (int i = 0; i < b; i++) total += row_logmeanexp(loss, z, eps, hd, i, b, k, R);
    }
    *loglik = total / (double)ds->n;
done:
    free(stage);
    free(loss);
    free(z);
    free(eps);
    free(hd);
    return st;
}
