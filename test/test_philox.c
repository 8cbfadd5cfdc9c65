/* Philox4x32-10 known-answer vectors (Random123's kat_vectors) and the clvae draws built on it. */
#include <math.h>
#include <stdlib.h>

#include "core/philox.h"
#include "testutil.h"

typedef struct {
    uint32_t ctr[4], key[2], expect[4];
} kat;

/* From Random123 (Salmon et al.), kat_vectors: philox4x32 10 rounds. */
static const kat kats[] = {
    {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
    {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
     {0xffffffff, 0xffffffff},
     {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
     {0xa4093822, 0x299f31d0},
     {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
};

static void test_kat(void)
{
    for (size_t i = 0; i < sizeof kats / sizeof kats[0]; i++) {
        clvae_philox4 c = {{kats[i].ctr[0], kats[i].ctr[1], kats[i].ctr[2], kats[i].ctr[3]}};
        clvae_philox4 r = clvae_philox4x32_10(c, kats[i].key[0], kats[i].key[1]);
        for (int j = 0; j < 4; j++)
            CHECK(r.v[j] == kats[i].expect[j], "kat %zu word %d: got %08x want %08x", i, j,
                  r.v[j], kats[i].expect[j]);
    }
}

/* Normals: mean ~0, variance ~1 over 200k draws (5 sigma bounds: sd of mean 1/sqrt(n)=0.0022,
 * of the variance sqrt(2/n)=0.0032), and draws depend on seed, step and stream. */
static void test_normals(void)
{
    size_t n = 200000;
    float *x = malloc(n * sizeof(float));
    clvae_philox_fill_normal(42, 7, CLVAE_STREAM_EPS_TRAIN, x, n);
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) {
        s += x[i];
        s2 += (double)x[i] * x[i];
    }
    CHECK(!tu_has_nonfinite(x, n), "a normal draw is not finite");
    double mean = s / n, var = s2 / n - mean * mean;
    CHECK(fabs(mean) < 0.011, "mean %g", mean);
    CHECK(fabs(var - 1) < 0.016, "variance %g", var);
    CHECK(clvae_philox_normal(42, 7, 2, 5) != clvae_philox_normal(43, 7, 2, 5), "seed ignored");
    CHECK(clvae_philox_normal(42, 7, 2, 5) != clvae_philox_normal(42, 8, 2, 5), "step ignored");
    CHECK(clvae_philox_normal(42, 7, 2, 5) != clvae_philox_normal(42, 7, 3, 5), "stream ignored");
    CHECK(clvae_philox_normal(42, 1ull << 33, 2, 5) != clvae_philox_normal(42, 0, 2, 5),
          "high step bits ignored");
    free(x);
}

/* Uniforms stay strictly inside (0, 1) even for the extreme bit patterns. */
static void test_uniform_range(void)
{
    CHECK(clvae_u32_to_uniform(0) > 0.0f, "u(0) = %g", clvae_u32_to_uniform(0));
    CHECK(clvae_u32_to_uniform(0xffffffffu) < 1.0f, "u(max) = %.9g", clvae_u32_to_uniform(0xffffffffu));
}

/* The epoch permutation is a permutation, differs per epoch, and is reproducible. */
static void test_permutation(void)
{
    size_t n = 1000;
    uint32_t *p = malloc(n * 4), *q = malloc(n * 4), *seen = calloc(n, 4);
    clvae_philox_permutation(1, 1, p, n);
    clvae_philox_permutation(1, 2, q, n);
    int same = 0, fixed = 0;
    for (size_t i = 0; i < n; i++) {
        seen[p[i]]++;
        same += p[i] == q[i];
        fixed += p[i] == i;
    }
    for (size_t i = 0; i < n; i++) CHECK(seen[i] == 1, "index %zu seen %u times", i, seen[i]);
    CHECK(same < 20, "epochs 1 and 2 share %d positions", same);
    CHECK(fixed < 20, "%d fixed points", fixed);
    clvae_philox_permutation(1, 1, q, n);
    int equal = 1;
    for (size_t i = 0; i < n; i++) equal &= p[i] == q[i];
    CHECK(equal, "same seed and epoch gave another permutation");
    free(p);
    free(q);
    free(seen);
}

int main(void)
{
    test_kat();
    test_normals();
    test_uniform_range();
    test_permutation();
    return tu_finish("test_philox");
}
