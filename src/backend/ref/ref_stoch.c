/* Reference math of the stochastic-layer ops (backend.h): Monte Carlo log-density ratios, their
 * backward passes, importance weights, row scaling and dynamic binarization. cl/stoch.cl
 * implements the same formulas; each loop order here is the one the kernels use per element. */
#include <math.h>

#include "backend/ref/ref_math.h"
#include "core/philox.h"

#define LOG_2PI 1.8378770664093453f

static float row_weight(const float *w, float scale, size_t r)
{
    return w ? scale * w[r] : scale;
}

void clvae_ref_gauss_terms(const clvae_gauss_terms_args *a, const float *heads, const float *z,
                           const float *eps, const float *prior, float *kl, float *kl_sum)
{
    int R = a->latent;
    for (int r = 0; r < a->rows; r++) {
        const float *lv = heads + (size_t)(r % a->hrows) * 2 * R + R;
        const float *zr = z + (size_t)r * R, *er = eps + (size_t)r * R;
        float s = 0.0f;
        for (int j = 0; j < R; j++) {
            float lq = -0.5f * er[j] * er[j] - 0.5f * lv[j];
            float lp;
            if (prior) {
                const float *p = prior + (size_t)r * 2 * R;
                float d = zr[j] - p[j];
                lp = -0.5f * d * d * expf(-p[R + j]) - 0.5f * p[R + j];
            } else {
                lp = -0.5f * zr[j] * zr[j];
            }
            s += lq - lp; /* the log(2 pi) / 2 terms cancel */
        }
        kl[r] = s;
        if (kl_sum) kl_sum[r] = a->sum_init ? s : kl_sum[r] + s;
    }
}

void clvae_ref_prior_bwd(const clvae_prior_bwd_args *a, const float *w, const float *z,
                         const float *prior, float *dz, float *dprior)
{
    int R = a->latent;
    for (int r = 0; r < a->rows; r++) {
        float c = row_weight(w, a->scale, (size_t)r);
        for (int j = 0; j < R; j++) {
            size_t i = (size_t)r * R + j;
            if (!prior) {
                dz[i] += c * z[i];
                continue;
            }
            const float *p = prior + (size_t)r * 2 * R;
            float iv = expf(-p[R + j]), d = z[i] - p[j];
            dz[i] += c * d * iv;
            dprior[(size_t)r * 2 * R + j] = -c * d * iv;
            dprior[(size_t)r * 2 * R + R + j] = 0.5f * c * (1.0f - d * d * iv);
        }
    }
}

void clvae_ref_latent_bwd(const clvae_latent_bwd_args *a, const float *w, const float *heads,
                          const float *eps, const float *dz, float *dheads)
{
    int H = a->hrows, R = a->latent;
    for (int h = 0; h < H; h++)
        for (int j = 0; j < R; j++) {
            float mu = heads[(size_t)h * 2 * R + j], lv = heads[(size_t)h * 2 * R + R + j];
            float sd = expf(0.5f * lv), gmu = 0, glv = 0, cq = 0;
            for (int s = 0; s < a->samples; s++) {
                size_t r = (size_t)s * H + h, i = r * R + j;
                gmu += dz[i];
                glv += dz[i] * eps[i];
                cq += row_weight(w, a->scale, r);
            }
            dheads[(size_t)h * 2 * R + j] = gmu + a->kl_weight * mu;
            dheads[(size_t)h * 2 * R + R + j] =
                0.5f * sd * glv + a->kl_weight * 0.5f * (expf(lv) - 1.0f) - 0.5f * cq;
        }
}

void clvae_ref_iw_weights(const clvae_iw_args *a, const float *nll, const float *kl, float *w,
                          float *bound)
{
    int B = a->batch, S = a->samples;
    for (int b = 0; b < B; b++) {
        float mx = -INFINITY, sum = 0.0f;
        for (int s = 0; s < S; s++) mx = fmaxf(mx, -(nll[(size_t)s * B + b] + kl[(size_t)s * B + b]));
        for (int s = 0; s < S; s++)
            sum += expf(-(nll[(size_t)s * B + b] + kl[(size_t)s * B + b]) - mx);
        float ls = logf(sum);
        bound[b] = mx + ls - logf((float)S);
        for (int s = 0; s < S; s++) {
            size_t r = (size_t)s * B + b;
            w[r] = a->scale * expf(-(nll[r] + kl[r]) - mx - ls);
        }
    }
}

void clvae_ref_row_scale(int rows, int cols, const float *w, float *x)
{
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) x[(size_t)r * cols + j] *= w[r];
}

void clvae_ref_binarize(size_t n, uint64_t seed, uint64_t step, uint32_t stream, float *x)
{
    for (size_t i = 0; i < n; i++)
        x[i] = clvae_philox_uniform(seed, step, stream, i) < x[i] ? 1.0f : 0.0f;
}

/* Conditional models: one-hot rows of the labels (row r: label r % batch). */
void clvae_ref_onehot(int rows, int batch, int classes, const float *labels, float *out)
{
    for (int r = 0; r < rows; r++) {
        float y = labels[r % batch];
        for (int k = 0; k < classes; k++) out[(size_t)r * classes + k] = y == (float)k ? 1.0f : 0.0f;
    }
}
