/* The two-sided tensors of the op tests (ops_twin.h). */
#include "ops_twin.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

env E;
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

float frand(float lo, float hi)
{
    uint64_t r = tu_xorshift(&rng_state);
    return lo + (hi - lo) * (float)((r >> 40) * (1.0 / 16777216.0));
}

uint64_t frand_state(void)
{
    return rng_state;
}

void frand_seed(uint64_t state)
{
    rng_state = state ? state : 0x9E3779B97F4A7C15ull; /* xorshift: never 0 */
}

clvae_backend *BE(int side)
{
    return side ? &E.dev : &E.ref;
}

clvae_view view_of(const twin *t, int side)
{
    clvae_view v = {t->b[side], OFF * sizeof(float)};
    return v;
}

twin twin_from(const float *data, size_t n)
{
    twin t = {{NULL, NULL}, n};
    size_t total = OFF + n + GUARD;
    float *h = malloc(total * sizeof *h);
    for (size_t i = 0; i < total; i++)
        h[i] = SENTINEL;
    memcpy(h + OFF, data, n * sizeof *h);
    for (int side = 0; side < 2; side++) {
        clvae_backend *be = BE(side);
        int st = be->ops->buffer_alloc(be->ctx, total * sizeof(float), &t.b[side]);
        if (!st) st = be->ops->upload(be->ctx, (clvae_view){t.b[side], 0}, h, total * sizeof *h);
        CHECK(st == 0, "twin alloc/upload: %s", clvae_last_error());
    }
    free(h);
    return t;
}

twin twin_rand(size_t n, float lo, float hi)
{
    float *h = calloc(n ? n : 1, sizeof *h);
    for (size_t i = 0; i < n; i++)
        h[i] = frand(lo, hi);
    twin t = twin_from(h, n);
    free(h);
    return t;
}

twin twin_const(size_t n, float v)
{
    float *h = calloc(n ? n : 1, sizeof *h);
    for (size_t i = 0; i < n; i++)
        h[i] = v;
    twin t = twin_from(h, n);
    free(h);
    return t;
}

void twin_free(twin *t)
{
    for (int side = 0; side < 2; side++)
        BE(side)->ops->buffer_free(BE(side)->ctx, t->b[side]);
    t->b[0] = t->b[1] = NULL;
}

void twin_download(const twin *t, float *got[2])
{
    size_t total = OFF + t->n + GUARD;
    for (int side = 0; side < 2; side++) {
        got[side] = malloc(total * sizeof(float));
        clvae_backend *be = BE(side);
        int st = be->ops->download(be->ctx, (clvae_view){t->b[side], 0}, got[side],
                                   total * sizeof(float));
        CHECK(st == 0, "download: %s", clvae_last_error());
    }
}

bool guards_intact(const float *h, size_t n)
{
    for (size_t i = 0; i < OFF; i++)
        if (h[i] != SENTINEL) return false;
    for (size_t i = 0; i < GUARD; i++)
        if (h[OFF + n + i] != SENTINEL) return false;
    return true;
}

bool has_nan(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (isnan(x[i])) return true;
    return false;
}

/* Compares device vs reference for one output and prints the table line. */
void compare(const twin *t, const char *op, const char *shape, double tol)
{
    float *got[2];
    twin_download(t, got);
    const float *r = got[0] + OFF, *d = got[1] + OFF;
    double nmse = tu_nmse(r, d, t->n);
    bool guards = guards_intact(got[1], t->n), nan = has_nan(d, t->n) || has_nan(r, t->n);
    bool inf_mismatch = tu_has_nonfinite(d, t->n) != tu_has_nonfinite(r, t->n);
    bool ok = nmse <= tol && guards && !nan && !inf_mismatch;
    printf("%-14s %-12s %-30s nmse %9.2e  tol %7.1e  %s%s%s\n", op, E.label, shape, nmse, tol,
           ok ? "ok" : "FAIL", guards ? "" : " (wrote outside its view)",
           nan || inf_mismatch ? " (NaN/Inf)" : "");
    CHECK(ok, "%s %s on %s: nmse %.3e > %.1e or guard/NaN failure", op, shape, E.label, nmse, tol);
    free(got[0]);
    free(got[1]);
}
