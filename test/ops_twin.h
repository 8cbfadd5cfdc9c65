/* The two-sided tensors of the op tests (test_ops.c, ops_stoch.c): each tensor lives on the
 * reference backend and on the device under test with identical contents, inside guard bands
 * that must stay untouched; compare() prints one table line per output and counts failures. */
#ifndef CLVAE_OPS_TWIN_H
#define CLVAE_OPS_TWIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "testutil.h"

#define OFF 3   /* every view starts OFF floats into its buffer */
#define GUARD 5 /* floats after the view that must stay untouched */
#define SENTINEL 12345.0f

typedef struct env {
    clvae_backend ref, dev;
    char label[32]; /* short device label for the table */
    bool small;     /* CLVAE_TEST_SMALL: small shapes only (oclgrind) */
} env;

extern env E;

/* Uniform test data in [lo, hi) from a fixed xorshift64* stream. */
float frand(float lo, float hi);
/* The stream's state, and restarting it there (the same inputs twice). */
uint64_t frand_state(void);
void frand_seed(uint64_t state);

/* A tensor of n floats held by both backends with identical contents. */
typedef struct twin {
    clvae_buffer *b[2]; /* [0] reference, [1] device */
    size_t n;
} twin;

clvae_backend *BE(int side); /* 0: reference, 1: device */
clvae_view view_of(const twin *t, int side);
#define V(t) view_of(&(t), side)

twin twin_from(const float *data, size_t n);
twin twin_rand(size_t n, float lo, float hi);
twin twin_const(size_t n, float v);
void twin_free(twin *t);
/* Downloads both sides (with guard bands) into new arrays; got[0] reference, got[1] device. */
void twin_download(const twin *t, float *got[2]);
bool guards_intact(const float *h, size_t n);
bool has_nan(const float *x, size_t n);
/* Compares device vs reference for one output (nmse <= tol, guards intact, no NaN, Inf on both
 * sides or neither) and prints the table line. */
void compare(const twin *t, const char *op, const char *shape, double tol);

/* The stochastic-layer op tests (ops_stoch.c), on E.dev. */
void test_stoch_ops(void);
/* The categorical-layer op tests (ops_gumbel.c), on E.dev. */
void test_gumbel_ops(void);
/* The convolutional-net op tests (ops_conv.c), on E.dev. */
void test_conv_ops(void);

#define RUN(call)                                                                                  \
    do {                                                                                           \
        int st_ = (call);                                                                          \
        CHECK(st_ == 0, "%s on %s: %s", #call, side ? E.label : "ref", clvae_last_error());        \
    } while (0)

#endif
