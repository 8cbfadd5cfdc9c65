/* Reference implementations of the backend ops (see ref_math.h and backend.h). */
#include "backend/ref/ref_math.h"

#include <math.h>
#include <string.h>

#include "core/philox.h"

#define LOG_2PI 1.8378770664093453f

double clvae_nmse(const float *ref, const float *got, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)ref[i] - got[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    return den > 0 ? num / den : num;
}

float clvae_softplus(float x)
{
    return x > 0 ? x + log1pf(expf(-x)) : log1pf(expf(x));
}

float clvae_sigmoid(float x)
{
    if (x >= 0) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

/* Copies op(X) (rows, cols) into dense row-major dst: X is stored (cols, rows) with ld. */
static void transpose_into(const float *x, int ld, int rows, int cols, float *dst)
{
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) dst[(size_t)i * cols + j] = x[(size_t)j * ld + i];
}

/* The portable build (no -march) still uses the host's vector units here: GCC clones for
 * AVX-512 and AVX2, picked at load time. Each element of c is the same sequence of multiplies
 * and adds at any vector width (no FMA contraction, no reassociation): the results are
 * bit-identical to the plain and -march=native builds. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void clvae_ref_gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float *a, int lda,
                    const float *b, int ldb, float beta, float *c, int ldc, float *tmp)
{
    if (ta) {
        transpose_into(a, lda, m, k, tmp);
        a = tmp;
        lda = k;
        tmp += (size_t)m * k;
    }
    if (tb) {
        transpose_into(b, ldb, k, n, tmp);
        b = tmp;
        ldb = n;
    }
    for (int i = 0; i < m; i++) {
        float *crow = c + (size_t)i * ldc;
        if (beta == 0.0f) memset(crow, 0, (size_t)n * sizeof(float));
        else if (beta != 1.0f)
            for (int j = 0; j < n; j++) crow[j] *= beta;
        for (int p = 0; p < k; p++) {
            float s = alpha * a[(size_t)i * lda + p];
            const float *brow = b + (size_t)p * ldb;
            for (int j = 0; j < n; j++) crow[j] += s * brow[j];
        }
    }
}

static float act_fwd(clvae_act act, float x)
{
    switch (act) {
    case CLVAE_ACT_RELU: return x > 0 ? x : 0.0f;
    case CLVAE_ACT_TANH: return tanhf(x);
    case CLVAE_ACT_SOFTPLUS: return clvae_softplus(x);
    default: return x;
    }
}

/* act'(x) written through y = act(x). */
static float act_grad(clvae_act act, float y)
{
    switch (act) {
    case CLVAE_ACT_RELU: return y > 0 ? 1.0f : 0.0f;
    case CLVAE_ACT_TANH: return 1.0f - y * y;
    case CLVAE_ACT_SOFTPLUS: return -expm1f(-y);   /* sigmoid(x) = 1 - exp(-softplus(x)) */
    default: return 1.0f;
    }
}

void clvae_ref_bias_act(clvae_act act, int rows, int cols, const float *bias, float *y)
{
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            float *p = y + (size_t)i * cols + j;
            *p = act_fwd(act, *p + bias[j]);
        }
}

void clvae_ref_act_bwd(clvae_act act, int rows, int cols, const float *y, float *dy)
{
    size_t n = (size_t)rows * cols;
    for (size_t i = 0; i < n; i++) dy[i] *= act_grad(act, y[i]);
}

void clvae_ref_col_sum(int rows, int cols, const float *x, float *out)
{
    for (int j = 0; j < cols; j++) {
        double s = 0;
        for (int i = 0; i < rows; i++) s += x[(size_t)i * cols + j];
        out[j] = (float)s;
    }
}

void clvae_ref_reparam(const clvae_reparam_args *a, const float *heads, float *z, float *eps,
                       float *kl)
{
    int B = a->batch, R = a->latent;
    for (int b = 0; b < B; b++) {
        const float *mu = heads + (size_t)b * 2 * R, *lv = mu + R;
        double s = 0;
        for (int j = 0; j < R; j++) s += mu[j] * mu[j] + expf(lv[j]) - lv[j] - 1.0f;
        kl[b] = (float)(0.5 * s);
    }
    size_t G = a->noise_batch ? a->noise_batch : (size_t)B; /* global rows per sample */
    for (int s = 0; s < a->samples; s++)
        for (int b = 0; b < B; b++) {
            const float *mu = heads + (size_t)b * 2 * R, *lv = mu + R;
            size_t row = ((size_t)s * B + b) * R, nrow = ((size_t)s * G + a->noise_row0 + b) * R;
            for (int j = 0; j < R; j++) {
                if (!a->eps_given)
                    eps[row + j] = clvae_philox_normal(a->seed, a->step, a->stream, nrow + j);
                z[row + j] = mu[j] + expf(0.5f * lv[j]) * eps[row + j];
            }
        }
}

void clvae_ref_reparam_bwd(const clvae_reparam_bwd_args *a, const float *heads, const float *eps,
                           const float *dz, float *dheads)
{
    int B = a->batch, R = a->latent;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < R; j++) {
            float mu = heads[(size_t)b * 2 * R + j], lv = heads[(size_t)b * 2 * R + R + j];
            float sd = expf(0.5f * lv), gmu = 0, glv = 0;
            for (int s = 0; s < a->samples; s++) {
                size_t i = ((size_t)s * B + b) * R + j;
                gmu += dz[i];
                glv += dz[i] * eps[i];
            }
            dheads[(size_t)b * 2 * R + j] = gmu + a->kl_weight * mu;
            dheads[(size_t)b * 2 * R + R + j] =
                0.5f * sd * glv + a->kl_weight * 0.5f * (expf(lv) - 1.0f);
        }
}

/* Negative log-likelihood of one element and its derivative(s). */
static float lik_elem(const clvae_lik_args *a, float o, float ov, float x, float *d, float *dv)
{
    switch (a->kind) {
    case CLVAE_LIK_BERNOULLI: {
        /* One exp serves both (same form as cl/vae.cl): e = exp(-|o|). */
        float e = expf(-fabsf(o)), inv = 1.0f / (1.0f + e);
        *d = (o >= 0.0f ? inv : e * inv) - x;
        return fmaxf(o, 0.0f) + log1pf(e) - x * o;
    }
    case CLVAE_LIK_GAUSSIAN: {
        float inv = 1.0f / (a->sigma_x * a->sigma_x);
        *d = (o - x) * inv;
        return 0.5f * (o - x) * (o - x) * inv;
    }
    default: {
        float iv = expf(-ov), r = x - o;
        *d = -r * iv;
        *dv = 0.5f - 0.5f * r * r * iv;
        return 0.5f * r * r * iv + 0.5f * ov + 0.5f * LOG_2PI;
    }
    }
}

void clvae_ref_likelihood(const clvae_lik_args *a, const float *out, const float *x, float *loss,
                          float *dout)
{
    int D = a->dim, learned = a->kind == CLVAE_LIK_GAUSSIAN_LEARNED, ld = learned ? 2 * D : D;
    double cst = a->kind == CLVAE_LIK_GAUSSIAN
                     ? 0.5 * D * log(2.0 * M_PI * (double)a->sigma_x * a->sigma_x)
                     : 0.0;
    for (int r = 0; r < a->rows; r++) {
        const float *o = out + (size_t)r * ld, *xr = x + (size_t)(r % a->batch) * D;
        double s = 0;
        for (int j = 0; j < D; j++) {
            float d = 0, dv = 0;
            s += lik_elem(a, o[j], learned ? o[D + j] : 0.0f, xr[j], &d, &dv);
            if (dout) {
                dout[(size_t)r * ld + j] = a->grad_scale * d;
                if (learned) dout[(size_t)r * ld + D + j] = a->grad_scale * dv;
            }
        }
        loss[r] = (float)(s + cst);
    }
}

void clvae_ref_optimizer(const clvae_opt_args *a, float *p, const float *g, float *m, float *v)
{
    if (a->kind == CLVAE_OPT_SGD) {
        for (size_t i = 0; i < a->n; i++) {
            m[i] = a->momentum * m[i] + g[i];
            p[i] -= a->lr * m[i];
        }
        return;
    }
    /* PyTorch's Adam: p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps). */
    float bc1 = 1.0f - powf(a->beta1, (float)a->t), bc2 = 1.0f - powf(a->beta2, (float)a->t);
    float step = a->lr / bc1, sbc2 = sqrtf(bc2);
    for (size_t i = 0; i < a->n; i++) {
        m[i] = a->beta1 * m[i] + (1.0f - a->beta1) * g[i];
        v[i] = a->beta2 * v[i] + (1.0f - a->beta2) * g[i] * g[i];
        p[i] -= step * m[i] / (sqrtf(v[i]) / sbc2 + a->eps);
    }
}
