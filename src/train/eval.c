/* Evaluation passes over a dataset (see eval.h): ELBO for metrics and `clvae eval`, the
 * importance-weighted estimate for --iw K with a streaming log-sum-exp per input. */
#include "train/eval.h"

#include "core/philox.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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
    if (m->classes > 0) {
        if (!ds->labels)
            return clvae_error(CLVAE_ERR_DATA, "a conditional model needs the test labels "
                                               "(data.test_labels)");
        int st = clvae_model_set_labels(m, ds->labels + first, count);
        if (st) return st;
    }
    return m->be->ops->upload(m->be->ctx, m->x, stage, (size_t)count * ds->dim * sizeof(float));
}

/* Adds the sum of n floats of v to *acc. */
static int add_sum(clvae_model *m, clvae_view v, int n, float *host, double *acc)
{
    int st = m->be->ops->download(m->be->ctx, v, host, (size_t)n * sizeof(float));
    for (int i = 0; i < n && !st; i++) *acc += host[i];
    return st;
}

int clvae_eval_elbo(clvae_model *m, const clvae_dataset *ds, bool deterministic,
                    clvae_eval_result *r)
{
    int st = CLVAE_OK, B = m->max_batch;
    float *stage = malloc((size_t)B * ds->dim * sizeof(float));
    float *host = malloc((size_t)B * sizeof(float));
    double recon = 0, recon1 = 0, kl[CLVAE_MAX_STOCH] = {0};
    bool onehot = clvae_model_categorical(m) && !deterministic;
    if (!stage || !host) {
        st = clvae_error(CLVAE_ERR_NOMEM, "eval: out of host memory");
        goto done;
    }
    for (size_t first = 0; first < ds->n; first += B) {
        int b = ds->n - first < (size_t)B ? (int)(ds->n - first) : B;
        if ((st = clvae_upload_range(m, ds, first, b, stage))) goto done;
        if ((st = clvae_model_forward(m, b, 1, first / B, CLVAE_STREAM_EPS_EVAL, deterministic)))
            goto done;
        if ((st = add_sum(m, m->loss, b, host, &recon))) goto done;
        for (int l = 0; l < m->T; l++) /* one sample: every layer's kl has b rows */
            if ((st = add_sum(m, m->lat[l].kl, b, host, &kl[l]))) goto done;
        if (!onehot) continue;
        m->cat_onehot = true; /* the same draws, decoded one-hot */
        st = clvae_model_forward(m, b, 1, first / B, CLVAE_STREAM_EPS_EVAL, false);
        m->cat_onehot = false;
        if (st || (st = add_sum(m, m->loss, b, host, &recon1))) goto done;
    }
    memset(r, 0, sizeof *r);
    r->n = (long)ds->n;
    r->layers = m->T;
    r->recon = recon / (double)ds->n;
    for (int l = 0; l < m->T; l++) {
        r->kl_layer[l] = kl[l] / (double)ds->n;
        r->kl += r->kl_layer[l];
    }
    r->loss = r->recon + r->kl;
    r->categorical = clvae_model_categorical(m);
    r->tau = r->categorical ? clvae_model_eval_tau(m) : 0.0;
    r->recon_onehot = onehot ? recon1 / (double)ds->n : 0.0;
    r->loss_onehot = onehot ? r->recon_onehot + r->kl : 0.0;
done:
    free(stage);
    free(host);
    return st;
}

/* Running log-sum-exp of one input's log weights, in double. */
typedef struct lse_acc {
    double mx, sum;
} lse_acc;

static void lse_add(lse_acc *a, double lw)
{
    if (lw > a->mx) {
        a->sum = a->sum * exp(a->mx - lw) + 1.0;
        a->mx = lw;
    } else {
        a->sum += exp(lw - a->mx);
    }
}

/* Host buffers of one IWAE pass (nb inputs x kc samples). */
typedef struct iw_pass {
    int nb, kc;
    float *stage, *nll, *kl, *heads;   /* (nb, D), (kc*nb) x2, (kc*nb, 2 R_max) */
    lse_acc *lse;                      /* (nb) */
    double *mu_sum;                    /* (nb, sum R) sum over samples of q's mean */
    double *mean_sum, *mean_sq;        /* (sum R) over inputs */
    int roff[CLVAE_MAX_STOCH + 1];     /* offsets of each layer's units */
} iw_pass;

static void iw_pass_free(iw_pass *p)
{
    free(p->stage);
    free(p->nll);
    free(p->kl);
    free(p->heads);
    free(p->lse);
    free(p->mu_sum);
    free(p->mean_sum);
    free(p->mean_sq);
}

static int iw_pass_alloc(iw_pass *p, const clvae_model *m, const clvae_dataset *ds)
{
    int rmax = 0;
    memset(p, 0, sizeof *p);
    p->nb = m->max_batch;
    p->kc = m->samples;
    for (int l = 0; l < m->T; l++) {
        p->roff[l + 1] = p->roff[l] + m->lat[l].R;
        rmax = m->lat[l].R > rmax ? m->lat[l].R : rmax;
    }
    size_t rows = (size_t)p->nb * p->kc, units = (size_t)p->roff[m->T];
    p->stage = malloc((size_t)p->nb * ds->dim * sizeof(float));
    p->nll = malloc(rows * sizeof(float));
    p->kl = malloc(rows * sizeof(float));
    p->heads = malloc(rows * 2 * rmax * sizeof(float));
    p->lse = malloc((size_t)p->nb * sizeof(lse_acc));
    p->mu_sum = malloc((size_t)p->nb * units * sizeof(double));
    p->mean_sum = calloc(units, sizeof(double));
    p->mean_sq = calloc(units, sizeof(double));
    if (p->stage && p->nll && p->kl && p->heads && p->lse && p->mu_sum && p->mean_sum &&
        p->mean_sq)
        return CLVAE_OK;
    iw_pass_free(p);
    return clvae_error(CLVAE_ERR_NOMEM, "iwae: out of host memory");
}

/* A categorical layer's logits rows (rows, G*K) into probabilities in place, per group (the
 * mean of its one-hot samples), in a (rows, 2R) layout as the Gaussian heads' means. */
static void logits_to_means(float *h, int rows, int G, int K)
{
    for (int r = rows - 1; r >= 0; r--) /* backwards: row r moves to 2r (never overwrites) */
        for (int g = 0; g < G; g++) {
            const float *l = h + (size_t)r * G * K + (size_t)g * K;
            float *q = h + (size_t)r * 2 * G * K + (size_t)g * K, mx = l[0];
            double s = 0;
            for (int k = 1; k < K; k++) mx = l[k] > mx ? l[k] : mx;
            for (int k = 0; k < K; k++) s += expf(l[k] - mx);
            for (int k = 0; k < K; k++) q[k] = (float)(expf(l[k] - mx) / s); /* q <= l in place */
        }
}

/* Adds q's means of every layer, summed over this pass's kc samples, into mu_sum. */
static int add_q_means(clvae_model *m, iw_pass *p, int b, int kc)
{
    int units = p->roff[m->T];
    for (int l = 0; l < m->T; l++) {
        const clvae_stoch *L = &m->lat[l];
        int R = L->R, hrows = l == 0 ? b : kc * b, head = L->categorical ? R : 2 * R;
        int st = m->be->ops->download(m->be->ctx, L->q.out, p->heads,
                                      (size_t)hrows * head * sizeof(float));
        if (st) return st;
        if (L->categorical) logits_to_means(p->heads, hrows, L->G, L->K);
        for (int r = 0; r < hrows; r++) {
            double *dst = p->mu_sum + (size_t)(r % b) * units + p->roff[l];
            double w = l == 0 ? kc : 1; /* layer 0's heads are shared by the kc samples */
            for (int j = 0; j < R; j++) dst[j] += w * p->heads[(size_t)r * 2 * R + j];
        }
    }
    return CLVAE_OK;
}

/* All k samples of inputs [first, first + b): log-mean-exp into *total, q means into sums. */
static int iw_inputs(clvae_model *m, const clvae_dataset *ds, iw_pass *p, size_t first, int b,
                     int k, double *total)
{
    int units = p->roff[m->T], passes = (k + p->kc - 1) / p->kc, st;
    if ((st = clvae_upload_range(m, ds, first, b, p->stage))) return st;
    for (int i = 0; i < b; i++) p->lse[i] = (lse_acc){-INFINITY, 0};
    memset(p->mu_sum, 0, (size_t)b * units * sizeof(double));
    for (int c = 0; c < passes; c++) {
        int kc = k - c * p->kc < p->kc ? k - c * p->kc : p->kc;
        uint64_t step = (first / (size_t)p->nb) * (uint64_t)passes + (uint64_t)c;
        if ((st = clvae_model_forward_terms(m, b, kc, step, CLVAE_STREAM_EPS_EVAL, false,
                                            CLVAE_TERMS_MC)))
            return st;
        size_t rows = (size_t)kc * b;
        if ((st = m->be->ops->download(m->be->ctx, m->loss, p->nll, rows * sizeof(float))) ||
            (st = m->be->ops->download(m->be->ctx, m->kl_sum, p->kl, rows * sizeof(float))) ||
            (st = add_q_means(m, p, b, kc)))
            return st;
        for (size_t r = 0; r < rows; r++) lse_add(&p->lse[r % b], -((double)p->nll[r] + p->kl[r]));
    }
    for (int i = 0; i < b; i++) {
        *total += p->lse[i].mx + log(p->lse[i].sum) - log((double)k);
        for (int u = 0; u < units; u++) {
            double mean = p->mu_sum[(size_t)i * units + u] / k;
            p->mean_sum[u] += mean;
            p->mean_sq[u] += mean * mean;
        }
    }
    return CLVAE_OK;
}

/* At most 256 MB of activations a pass: a larger arena costs more in first-touch page faults
 * (the kernel zeroing fresh pages) than its larger GEMMs save. dcgan28 `eval --iw 100` on 200
 * images, PoCL: 1 GiB passes spent 0.7 s of 2.7 s in the kernel, 256 MB ones 0.23 s of 1.3 s. */
#define IW_PASS_ROWS 16384
#define IW_PASS_SAMPLES 4096
#define IW_PASS_BYTES ((size_t)1 << 28)

void clvae_eval_iw_pass(const clvae_model *m, int k, int *batch, int *samples)
{
    *samples = k < IW_PASS_SAMPLES ? (k > 0 ? k : 1) : IW_PASS_SAMPLES;
    *batch = IW_PASS_ROWS / *samples;
    clvae_model_fit_pass(m, IW_PASS_BYTES, batch, samples);
}

int clvae_eval_iwae(clvae_model *m, const clvae_dataset *ds, int k, clvae_iwae_result *r)
{
    iw_pass p;
    double total = 0;
    if (k < 1) return clvae_error(CLVAE_ERR_INPUT, "iwae: need at least one sample, got %d", k);
    int st = iw_pass_alloc(&p, m, ds);
    if (st) return st;
    m->cat_onehot = true; /* exact categorical samples and densities */
    for (size_t first = 0; first < ds->n && !st; first += p.nb) {
        int b = ds->n - first < (size_t)p.nb ? (int)(ds->n - first) : p.nb;
        st = iw_inputs(m, ds, &p, first, b, k, &total);
    }
    m->cat_onehot = false;
    if (!st) {
        memset(r, 0, sizeof *r);
        r->n = (long)ds->n;
        r->layers = m->T;
        r->loglik = total / (double)ds->n;
        for (int l = 0; l < m->T; l++)
            for (int u = p.roff[l]; u < p.roff[l + 1]; u++) {
                double mean = p.mean_sum[u] / (double)ds->n;
                double var = p.mean_sq[u] / (double)ds->n - mean * mean;
                r->active[l] += var > 0.01; /* Burda et al.'s activity threshold */
            }
    }
    iw_pass_free(&p);
    return st;
}
