/* Reference math of the categorical-layer ops (backend.h "Categorical layers"): the relaxed
 * Gumbel-softmax sample (and its straight-through one-hot), the KL to the uniform prior and the
 * one-hot log-density ratio, and their backward. cl/gumbel.cl implements the same float
 * expressions in the same per-element order; every softmax subtracts its group's max. */
#include <math.h>

#include "backend/ref/ref_math.h"
#include "core/philox.h"

/* Gumbel(0, 1) noise from a uniform, the peer's (torch_family.py) expression. */
float clvae_gumbel_noise(float u)
{
    return -logf(-logf(u + 1e-20f) + 1e-20f);
}

/* Max over the group and log of the sum of exp(l - max): log softmax_k = (l_k - mx) - ls. */
static void group_lse(const float *l, int K, float *mx, float *ls)
{
    float m = -INFINITY, se = 0.0f;
    for (int k = 0; k < K; k++) m = fmaxf(m, l[k]);
    for (int k = 0; k < K; k++) se += expf(l[k] - m);
    *mx = m;
    *ls = logf(se);
}

void clvae_ref_gumbel(const clvae_gumbel_args *a, const float *logits, float *g, float *y,
                      float *z)
{
    int G = a->groups, K = a->cats;
    size_t GK = (size_t)G * K, noise0 = (size_t)a->noise_row0 * GK;
    for (int r = 0; r < a->rows; r++)
        for (int q = 0; q < G; q++) {
            const float *l = logits + (size_t)(r % a->hrows) * GK + (size_t)q * K;
            size_t base = (size_t)r * GK + (size_t)q * K;
            float mx = -INFINITY, se = 0.0f;
            int arg = 0;
            for (int k = 0; k < K; k++) {
                if (!a->noise_given)
                    g[base + k] = clvae_gumbel_noise(
                        clvae_philox_uniform(a->seed, a->step, a->stream,
                                             noise0 + (size_t)r * GK + (size_t)q * K + k));
                float v = (l[k] + g[base + k]) / a->tau;
                if (v > mx) {
                    mx = v;
                    arg = k;
                }
            }
            for (int k = 0; k < K; k++) se += expf((l[k] + g[base + k]) / a->tau - mx);
            for (int k = 0; k < K; k++) {
                float yk = expf((l[k] + g[base + k]) / a->tau - mx) / se;
                if (y) y[base + k] = yk;
                z[base + k] = a->hard ? (k == arg ? 1.0f : 0.0f) : yk;
            }
        }
}

void clvae_ref_cat_terms(const clvae_cat_terms_args *a, float log_k, const float *logits,
                         const float *z, float *kl, float *kl_sum)
{
    int G = a->groups, K = a->cats, n = z ? a->rows : a->hrows;
    size_t GK = (size_t)G * K;
    for (int r = 0; r < n; r++) {
        float s = 0.0f;
        for (int q = 0; q < G; q++) {
            const float *l = logits + (size_t)(r % a->hrows) * GK + (size_t)q * K;
            float mx, ls, t = 0.0f;
            group_lse(l, K, &mx, &ls);
            for (int k = 0; k < K; k++) {
                float lq = (l[k] - mx) - ls;
                t += z ? z[(size_t)r * GK + (size_t)q * K + k] * lq : expf(lq) * (lq + log_k);
            }
            s += z ? t + log_k : t;
        }
        kl[r] = s;
        if (z && kl_sum) kl_sum[r] = a->sum_init ? s : kl_sum[r] + s;
    }
}

void clvae_ref_cat_bwd(const clvae_cat_bwd_args *a, const float *logits, const float *y,
                       const float *dz, float *dlogits)
{
    int G = a->groups, K = a->cats, H = a->hrows;
    size_t GK = (size_t)G * K;
    for (int h = 0; h < H; h++)
        for (int q = 0; q < G; q++) {
            size_t base = (size_t)h * GK + (size_t)q * K;
            const float *l = logits + base;
            float *d = dlogits + base;
            float mx, ls, ent = 0.0f;
            group_lse(l, K, &mx, &ls);
            for (int k = 0; k < K; k++) {
                float lq = (l[k] - mx) - ls;
                ent += expf(lq) * lq;
                d[k] = 0.0f;
            }
            for (int s = 0; s < a->samples; s++) {
                size_t rb = ((size_t)s * H + h) * GK + (size_t)q * K;
                float dot = 0.0f;
                for (int k = 0; k < K; k++) dot += y[rb + k] * dz[rb + k];
                for (int k = 0; k < K; k++) d[k] += y[rb + k] * (dz[rb + k] - dot) / a->tau;
            }
            for (int k = 0; k < K; k++) {
                float lq = (l[k] - mx) - ls;
                d[k] += a->kl_weight * (expf(lq) * (lq - ent));
            }
        }
}
