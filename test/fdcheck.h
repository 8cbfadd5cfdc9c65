/* Finite-difference helpers shared by the reference-backend gradient checks (test_gradcheck.c,
 * test_gradcheck_stoch.c): test data, reference-backend buffers freed together, error measures
 * and central differences in double. */
#ifndef CLVAE_FDCHECK_H
#define CLVAE_FDCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

/* The backend under check (the reference backend; created by the test's main). */
extern clvae_backend be;

/* Test data: a fixed xorshift64* stream, independent of the library's Philox. */
double urand(double lo, double hi);
/* Restarts the stream at `state` (non-zero): a test's own fixed data. */
void urand_seed(uint64_t state);
void fill_uniform(float *x, size_t n, double lo, double hi);

/* A buffer of n floats on `be` holding host[0..n) (NULL: uninitialized); exits on failure.
 * At most 16 live at once; free_bufs frees them all. */
clvae_view dev(const float *host, size_t n);
void down(clvae_view v, float *host, size_t n);
void free_bufs(void);

/* max |a - b| / max |ref|: the error on the scale of the whole tensor. */
double scaled_err(const double *ref, const float *got, size_t n);
/* max |a - b| / (|ref| + floor). */
double rel_err(const double *ref, const float *got, size_t n, double floor);

/* Central difference of f at x[i] in double: h = 1e-6 gives truncation O(h^2 f''') ~ 1e-12
 * and rounding ~1e-16 |f| / h ~ 1e-10, both far below the float errors being measured. */
#define FD_H 1e-6

typedef double (*obj_fn)(const double *x, void *ctx);

/* (f(x + h e_i) - f(x - h e_i)) / 2h, x restored. */
double central(obj_fn f, double *x, size_t i, void *ctx);
/* A new double copy of x (n). */
double *to_double(const float *x, size_t n);

/* Whole-loss check of a model's gradient: central differences of loss(m, ctx) at +-h (float
 * parameters, so the difference is taken over the rounded step) for every float of the
 * parameter arena p (the model's current parameters; restored afterwards) against ga, the
 * model's gradient. Returns the relative L2 error; *worst = max |fd - ga| / (|fd| + 1e-2). */
struct clvae_model;
typedef double (*model_loss_fn)(struct clvae_model *m, void *ctx);
double fd_model(struct clvae_model *m, float *p, const float *ga, float h, model_loss_fn loss,
                void *ctx, double *worst);

#endif
