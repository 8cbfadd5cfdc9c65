/* Latent-space exports and views: mu to NPY, a 2-D (PCA) scatter, interpolations, traversals. */
#include "train/latents.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/philox.h"
#include "io/npy.h"
#include "io/png.h"
#include "io/svg.h"
#include "train/eval.h"
#include "train/visual.h"

#define PCA_MAX_ITERS 5000
#define PCA_TOL 1e-12

/* q = softmax of each group of K logits (G groups per row), in double: E_q[z] of one-hot z. */
void clvae_group_softmax(const float *l, int G, int K, float *q)
{
    for (int g = 0; g < G; g++, l += K, q += K) {
        float mx = l[0];
        double s = 0;
        for (int k = 1; k < K; k++) mx = l[k] > mx ? l[k] : mx;
        for (int k = 0; k < K; k++) s += exp((double)l[k] - mx);
        for (int k = 0; k < K; k++) q[k] = (float)(exp((double)l[k] - mx) / s);
    }
}

/* Layer l's q heads for samples [first, first+count) of ds (count <= m->max_batch) with z = mu
 * at every layer: mu (count, R_l) into `mu` (a categorical layer: its probabilities, the mean
 * of its one-hot samples). stage is (count, D) host scratch, hd (count, 2R_l). */
static int encode_rows(clvae_model *m, int l, const clvae_dataset *ds, size_t first, int count,
                       float *stage, float *hd, float *mu)
{
    const clvae_stoch *L = &m->lat[l];
    int R = L->R, head = L->categorical ? R : 2 * R, st;
    if ((st = clvae_upload_range(m, ds, first, count, stage))) return st;
    if ((st = clvae_model_forward(m, count, 1, 0, CLVAE_STREAM_EPS_EVAL, true))) return st;
    if ((st = m->be->ops->download(m->be->ctx, L->q.out, hd,
                                   (size_t)count * head * sizeof(float))))
        return st;
    for (int i = 0; i < count; i++)
        if (L->categorical)
            clvae_group_softmax(hd + (size_t)i * R, L->G, L->K, mu + (size_t)i * R);
        else
            memcpy(mu + (size_t)i * R, hd + (size_t)i * 2 * R, (size_t)R * sizeof(float));
    return CLVAE_OK;
}

/* A categorical top layer: latents_code.npy (n, G) uint8, the most probable category of every
 * group (argmax of q, the first on ties), and latents_usage.npy (G, K) float32, the fraction
 * of the images whose code in group g is k; logs how many categories each group uses. */
static int export_codes(const clvae_model *m, const float *q, size_t n, const char *dir)
{
    const clvae_stoch *L = &m->lat[m->T - 1];
    char path[CLVAE_PATH_MAX + 32];
    int G = L->G, K = L->K, st;
    unsigned char *code = malloc(n * G);
    float *usage = calloc((size_t)G * K, sizeof(float));
    if (!code || !usage) {
        st = clvae_error(CLVAE_ERR_NOMEM, "latents: out of host memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        for (int g = 0; g < G; g++) {
            const float *p = q + i * G * K + (size_t)g * K;
            int best = 0;
            for (int k = 1; k < K; k++) best = p[k] > p[best] ? k : best;
            code[i * G + g] = (unsigned char)best;
            usage[(size_t)g * K + best] += 1.0f / (float)n;
        }
    double perplexity = 0;
    int used = 0;
    for (int g = 0; g < G; g++) {
        double h = 0;
        for (int k = 0; k < K; k++) {
            float u = usage[(size_t)g * K + k];
            h -= u > 0 ? u * log(u) : 0;
            used += u > 0;
        }
        perplexity += exp(h) / G;
    }
    CLVAE_INFO("categorical codes: %d groups of %d; %.1f categories used per group on average, "
               "code perplexity %.2f per group", G, K, (double)used / G, perplexity);
    size_t cshape[2] = {n, (size_t)G}, ushape[2] = {(size_t)G, (size_t)K};
    snprintf(path, sizeof path, "%s/latents_code.npy", dir);
    if ((st = clvae_npy_write_u8(path, code, 2, cshape))) goto done;
    snprintf(path, sizeof path, "%s/latents_usage.npy", dir);
    st = clvae_npy_write_f32(path, usage, 2, ushape);
done:
    free(code);
    free(usage);
    return st;
}

/* mu (ds->n, R_l) of layer l for the whole dataset, chunk by chunk. */
static int encode_all(clvae_model *m, int l, const clvae_dataset *ds, float *mu)
{
    int B = m->max_batch, R = m->lat[l].R, st = CLVAE_OK;
    float *stage = malloc((size_t)B * ds->dim * sizeof(float));
    float *hd = malloc((size_t)B * 2 * R * sizeof(float));
    if (!stage || !hd) {
        st = clvae_error(CLVAE_ERR_NOMEM, "latents: out of host memory");
        goto done;
    }
    for (size_t first = 0; first < ds->n && !st; first += B) {
        int b = ds->n - first < (size_t)B ? (int)(ds->n - first) : B;
        st = encode_rows(m, l, ds, first, b, stage, hd, mu + first * R);
    }
done:
    free(stage);
    free(hd);
    return st;
}

/* Hierarchical models: latents_mu_z<t>.npy (n, R_t) for every stochastic layer t = 1..T. */
static int export_layers(clvae_model *m, const clvae_dataset *ds, const char *dir)
{
    char path[CLVAE_PATH_MAX + 32];
    int st = CLVAE_OK;
    for (int l = 0; l < m->T && m->T > 1 && !st; l++) {
        size_t shape[2] = {ds->n, (size_t)m->lat[l].R};
        float *mu = malloc(ds->n * shape[1] * sizeof(float));
        if (!mu) return clvae_error(CLVAE_ERR_NOMEM, "latents: out of host memory");
        st = encode_all(m, l, ds, mu);
        snprintf(path, sizeof path, "%s/latents_mu_z%d.npy", dir, l + 1);
        if (!st) st = clvae_npy_write_f32(path, mu, 2, shape);
        free(mu);
    }
    return st;
}

/* mu (R) of sample `index` of ds. */
static int encode_one(clvae_model *m, const clvae_dataset *ds, int index, float *mu)
{
    if (index < 0 || (size_t)index >= ds->n)
        return clvae_error(CLVAE_ERR_INPUT, "image index %d out of range: the test set has %zu images",
                           index, ds->n);
    float *stage = malloc(ds->dim * sizeof(float));
    float *hd = malloc((size_t)2 * m->latent * sizeof(float));
    int st = stage && hd ? encode_rows(m, m->T - 1, ds, (size_t)index, 1, stage, hd, mu)
                         : clvae_error(CLVAE_ERR_NOMEM, "latents: out of host memory");
    free(stage);
    free(hd);
    return st;
}

/* Decoder means img (rows, D) for latents z (rows, R), in chunks of the model's row capacity;
 * a conditional model decodes every row with the label of test image `from` (held fixed). */
static int decode_means(clvae_model *m, const float *z, int rows, const clvae_dataset *ds,
                        int from, float *img)
{
    int cap = m->classes ? m->max_batch : m->max_batch * m->samples, R = m->latent, st = CLVAE_OK;
    int label = m->classes && ds->labels ? ds->labels[from] : 0;
    const clvae_backend_ops *o = m->be->ops;
    float *out = malloc((size_t)cap * m->dim_out * sizeof(float));
    if (!out) return clvae_error(CLVAE_ERR_NOMEM, "decode: out of host memory");
    for (int first = 0; first < rows && !st; first += cap) {
        int b = rows - first < cap ? rows - first : cap;
        st = o->upload(m->be->ctx, m->z, z + (size_t)first * R, (size_t)b * R * sizeof(float));
        if (!st) st = clvae_model_fill_labels(m, label, b);
        if (!st) st = clvae_model_decode(m, b);
        if (!st) st = o->download(m->be->ctx, m->o, out, (size_t)b * m->dim_out * sizeof(float));
        if (!st) clvae_output_means(m, out, b, img + (size_t)first * m->dim);
    }
    free(out);
    return st;
}

/* v <- v minus its component along the unit vector `ortho` (NULL: none), then v / |v| unless
 * |v| vanishes. Returns |v| before the division. */
static double orth_normalize(double *v, const double *ortho, int R)
{
    double d = 0, norm = 0;
    for (int i = 0; i < R && ortho; i++) d += v[i] * ortho[i];
    for (int i = 0; i < R; i++) {
        if (ortho) v[i] -= d * ortho[i];
        norm += v[i] * v[i];
    }
    norm = sqrt(norm);
    for (int i = 0; i < R && norm > 1e-300; i++) v[i] /= norm;
    return norm;
}

/* Top unit eigenvector v (R) of the symmetric positive semi-definite c (R x R) by power
 * iteration, v <- c v / |c v| from a fixed start, kept orthogonal to `ortho` (R, or NULL) so
 * round-off cannot bring a deflated direction back. Stops when v moves less than PCA_TOL or
 * after PCA_MAX_ITERS (the rate is lambda2 / lambda1; under a near-tie any vector of the top
 * eigenspace is an equally good projection axis). Sign: the largest-magnitude component is
 * positive. t (R) is scratch. Returns the eigenvalue v' c v. */
static double power_iteration(const double *c, int R, const double *ortho, double *v, double *t)
{
    for (int i = 0; i < R; i++) v[i] = 1.0 + 0.1 * i;
    orth_normalize(v, ortho, R);
    for (int it = 0; it < PCA_MAX_ITERS; it++) {
        double move = 0;
        for (int i = 0; i < R; i++) {
            t[i] = 0;
            for (int k = 0; k < R; k++) t[i] += c[(size_t)i * R + k] * v[k];
        }
        if (orth_normalize(t, ortho, R) <= 1e-300) break;   /* c vanishes here: keep v */
        for (int i = 0; i < R; i++) move += (t[i] - v[i]) * (t[i] - v[i]);
        memcpy(v, t, (size_t)R * sizeof(double));
        if (move < PCA_TOL * PCA_TOL) break;
    }
    int big = 0;
    for (int i = 1; i < R; i++) big = fabs(v[i]) > fabs(v[big]) ? i : big;
    double lambda = 0;
    if (v[big] < 0)
        for (int i = 0; i < R; i++) v[i] = -v[i];
    for (int i = 0; i < R; i++)
        for (int k = 0; k < R; k++) lambda += v[i] * c[(size_t)i * R + k] * v[k];
    return lambda;
}

/* Mean (R) and covariance c (R x R, normalized by n) of mu (n, R), in double. */
static void covariance(const float *mu, size_t n, int R, double *mean, double *c)
{
    memset(mean, 0, (size_t)R * sizeof(double));
    memset(c, 0, (size_t)R * R * sizeof(double));
    for (size_t s = 0; s < n; s++)
        for (int i = 0; i < R; i++) mean[i] += mu[s * R + i] / (double)n;
    for (size_t s = 0; s < n; s++)
        for (int i = 0; i < R; i++) {
            double di = mu[s * R + i] - mean[i];
            for (int k = i; k < R; k++) c[(size_t)i * R + k] += di * (mu[s * R + k] - mean[k]);
        }
    for (int i = 0; i < R; i++)
        for (int k = i; k < R; k++) c[(size_t)k * R + i] = c[(size_t)i * R + k] /= (double)n;
}

/* xy (n, 2) = (mu - mean) [v1 v2]: mu (n, R) on the two top eigenvectors of its covariance,
 * found by power iteration, then again after deflation (c <- c - lambda1 v1 v1'), in double.
 * frac: each axis's share of the total variance (trace of c). For R = 1, v2 = 0. */
static int pca_2d(const float *mu, size_t n, int R, float *xy, double frac[2])
{
    double *c = malloc(((size_t)R * R + 4 * (size_t)R) * sizeof(double));
    if (!c) return clvae_error(CLVAE_ERR_NOMEM, "latents: out of host memory");
    double *mean = c + (size_t)R * R, *v = mean + R, *t = v + 2 * R, trace = 0;
    covariance(mu, n, R, mean, c);
    for (int i = 0; i < R; i++) trace += c[(size_t)i * R + i];
    double l1 = power_iteration(c, R, NULL, v, t);
    for (int i = 0; i < R; i++)
        for (int k = 0; k < R; k++) c[(size_t)i * R + k] -= l1 * v[i] * v[k];
    double l2 = power_iteration(c, R, v, v + R, t);
    for (size_t s = 0; s < n; s++) {
        double a = 0, b = 0;
        for (int i = 0; i < R; i++) {
            a += (mu[s * R + i] - mean[i]) * v[i];
            b += (mu[s * R + i] - mean[i]) * v[R + i];
        }
        xy[2 * s] = (float)a, xy[2 * s + 1] = (float)b;
    }
    frac[0] = trace > 0 ? l1 / trace : 0;
    frac[1] = trace > 0 ? l2 / trace : 0;
    free(c);
    return CLVAE_OK;
}

/* latents.svg: mu itself for R = 2, else its first two principal components; by label. */
static int write_scatter(const float *mu, const clvae_dataset *ds, int R, const char *path)
{
    char title[200];
    double frac[2] = {0, 0};
    int st = CLVAE_OK;
    float *xy = malloc(ds->n * 2 * sizeof(float));
    if (!xy) return clvae_error(CLVAE_ERR_NOMEM, "latents: out of host memory");
    if (R == 2) {
        memcpy(xy, mu, ds->n * 2 * sizeof(float));
        snprintf(title, sizeof title, "latent means mu (R = 2), %zu images", ds->n);
    } else if (!(st = pca_2d(mu, ds->n, R, xy, frac))) {
        snprintf(title, sizeof title,
                 "mu (R = %d): x = PC1 (%.0f%% of variance), y = PC2 (%.0f%%), %zu images",
                 R, 100 * frac[0], 100 * frac[1], ds->n);
    }
    if (!st)
        st = clvae_svg_scatter(path, title, R == 2 ? "mu[0]" : "PC1 of mu",
                               R == 2 ? "mu[1]" : "PC2 of mu", xy, ds->labels, (int)ds->n,
                               ds->labels ? ds->n_classes : 0);
    free(xy);
    return st;
}

int clvae_latents_export(clvae_model *m, const clvae_dataset *ds, const char *dir)
{
    char path[CLVAE_PATH_MAX + 32];
    int R = m->latent, st;
    size_t shape[2] = {ds->n, (size_t)R};
    if (ds->n == 0 || ds->n > 0x7fffffff)
        return clvae_error(CLVAE_ERR_INPUT, "latents: cannot export %zu samples", ds->n);
    float *mu = malloc(ds->n * R * sizeof(float));
    if (!mu) return clvae_error(CLVAE_ERR_NOMEM, "latents: out of host memory");
    if ((st = encode_all(m, m->T - 1, ds, mu))) goto done;
    if ((st = export_layers(m, ds, dir))) goto done;
    if (clvae_model_categorical(m) && (st = export_codes(m, mu, ds->n, dir))) goto done;
    snprintf(path, sizeof path, "%s/latents_mu.npy", dir);
    if ((st = clvae_npy_write_f32(path, mu, 2, shape))) goto done;
    if (!ds->labels)
        CLVAE_INFO("note: the test set has no labels (data.test_labels): latents.svg is "
                   "uncoloured and no latents_labels.npy is written");
    if (ds->labels) {
        snprintf(path, sizeof path, "%s/latents_labels.npy", dir);
        if ((st = clvae_npy_write_u8(path, ds->labels, 1, shape))) goto done;
    }
    snprintf(path, sizeof path, "%s/latents.svg", dir);
    st = write_scatter(mu, ds, R, path);
done:
    free(mu);
    return st;
}

int clvae_visual_interpolation(clvae_model *m, const clvae_dataset *ds, int i, int j, int steps,
                               int h, int w, const char *path)
{
    int R = m->latent, st;
    if (steps < 2) return clvae_error(CLVAE_ERR_INPUT, "interpolation needs at least 2 steps");
    float *ends = malloc((size_t)2 * R * sizeof(float));
    float *z = malloc((size_t)steps * R * sizeof(float));
    float *img = malloc((size_t)steps * m->dim * sizeof(float));
    if (!ends || !z || !img) {
        st = clvae_error(CLVAE_ERR_NOMEM, "interpolation: out of host memory");
        goto done;
    }
    if ((st = encode_one(m, ds, i, ends)) || (st = encode_one(m, ds, j, ends + R))) goto done;
    for (int k = 0; k < steps; k++) {
        float t = (float)k / (float)(steps - 1);
        for (int r = 0; r < R; r++)
            z[(size_t)k * R + r] = (1.0f - t) * ends[r] + t * ends[R + r];
    }
    if ((st = decode_means(m, z, steps, ds, i, img))) goto done; /* image i's label throughout */
    st = clvae_png_write_grid_c(path, img, steps, m->dim / (h * w), h, w, steps, 2);
done:
    free(ends);
    free(z);
    free(img);
    return st;
}

int clvae_visual_traversal(clvae_model *m, const clvae_dataset *ds, int index, int n_steps,
                           float range, int h, int w, const char *path)
{
    int R = m->latent, rows = R * n_steps, st;
    if (n_steps < 2) return clvae_error(CLVAE_ERR_INPUT, "traversal needs at least 2 steps");
    float *mu = malloc((size_t)R * sizeof(float));
    float *z = malloc((size_t)rows * R * sizeof(float));
    float *img = malloc((size_t)rows * m->dim * sizeof(float));
    if (!mu || !z || !img) {
        st = clvae_error(CLVAE_ERR_NOMEM, "traversal: out of host memory");
        goto done;
    }
    if ((st = encode_one(m, ds, index, mu))) goto done;
    for (int r = 0; r < R; r++)
        for (int k = 0; k < n_steps; k++) {
            float *zk = z + ((size_t)r * n_steps + k) * R;
            memcpy(zk, mu, (size_t)R * sizeof(float));
            zk[r] = -range + 2.0f * range * (float)k / (float)(n_steps - 1);
        }
    if ((st = decode_means(m, z, rows, ds, index, img))) goto done;
    st = clvae_png_write_grid_c(path, img, rows, m->dim / (h * w), h, w, n_steps, 2);
done:
    free(mu);
    free(z);
    free(img);
    return st;
}
