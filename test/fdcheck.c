/* Finite-difference helpers of the reference-backend gradient checks (fdcheck.h). */
#include "fdcheck.h"

#include "model/vae.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

clvae_backend be;

/* Test data: a fixed xorshift64* stream, independent of the library's Philox. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

double urand(double lo, double hi)
{
    uint64_t r = tu_xorshift(&rng_state);
    return lo + (hi - lo) * ((double)(r >> 11) * (1.0 / 9007199254740992.0));
}

void urand_seed(uint64_t state)
{
    rng_state = state;
}

void fill_uniform(float *x, size_t n, double lo, double hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)urand(lo, hi);
}

/* Device buffers of one check, freed together. */
#define MAX_BUFS 16
static clvae_buffer *bufs[MAX_BUFS];
static int n_bufs;

clvae_view dev(const float *host, size_t n)
{
    clvae_buffer *b = NULL;
    int st = be.ops->buffer_alloc(be.ctx, n * sizeof(float), &b);
    if (st || n_bufs == MAX_BUFS) {
        fprintf(stderr, "buffer_alloc failed: %s\n", clvae_last_error());
        exit(1);
    }
    bufs[n_bufs++] = b;
    clvae_view v = {b, 0};
    if (host) be.ops->upload(be.ctx, v, host, n * sizeof(float));
    return v;
}

void down(clvae_view v, float *host, size_t n)
{
    be.ops->download(be.ctx, v, host, n * sizeof(float));
}

void free_bufs(void)
{
    for (int i = 0; i < n_bufs; i++)
        be.ops->buffer_free(be.ctx, bufs[i]);
    n_bufs = 0;
}

/* max |a - b| / max |ref|: the error on the scale of the whole tensor. */
double scaled_err(const double *ref, const float *got, size_t n)
{
    double e = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs(ref[i] - got[i]));
        s = fmax(s, fabs(ref[i]));
    }
    return e / (s > 0 ? s : 1.0);
}

/* max |a - b| / (|ref| + floor). */
double rel_err(const double *ref, const float *got, size_t n, double floor)
{
    double e = 0;
    for (size_t i = 0; i < n; i++)
        e = fmax(e, fabs(ref[i] - got[i]) / (fabs(ref[i]) + floor));
    return e;
}

/* Central difference (fdcheck.h). */
double central(obj_fn f, double *x, size_t i, void *ctx)
{
    double x0 = x[i];
    x[i] = x0 + FD_H;
    double fp = f(x, ctx);
    x[i] = x0 - FD_H;
    double fm = f(x, ctx);
    x[i] = x0;
    return (fp - fm) / (2 * FD_H);
}

double *to_double(const float *x, size_t n)
{
    double *d = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

double fd_model(struct clvae_model *m, float *p, const float *ga, float h, model_loss_fn loss,
                void *ctx, double *worst)
{
    double num = 0, den = 0;
    *worst = 0;
    for (size_t i = 0; i < m->n_floats; i++) {
        float p0 = p[i];
        p[i] = p0 + h;
        clvae_model_set_params(m, p);
        double lp = loss(m, ctx);
        p[i] = p0 - h;
        clvae_model_set_params(m, p);
        double lm = loss(m, ctx);
        p[i] = p0;
        double g = (lp - lm) / ((double)(p0 + h) - (double)(p0 - h)), d = g - ga[i];
        num += d * d;
        den += g * g;
        *worst = fmax(*worst, fabs(d) / (fabs(g) + 1e-2));
    }
    clvae_model_set_params(m, p);
    return sqrt(num / den);
}
