/* Tiny test harness: CHECK macros that count failures, tolerance helpers, skip code 77. */
#ifndef CLVAE_TESTUTIL_H
#define CLVAE_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

extern int tu_failures;
extern int tu_checks;

#define TU_SKIP 77

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        tu_checks++;                                                                               \
        if (!(cond)) {                                                                             \
            tu_failures++;                                                                         \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
        }                                                                                          \
    } while (0)

/* Normalized MSE sum((a-b)^2) / sum(a^2) (ggml's measure); a is the reference. */
double tu_nmse(const float *ref, const float *got, size_t n);
/* Largest |a-b| / max(|a|, |b|, floor). */
double tu_max_rel(const float *ref, const float *got, size_t n, double floor);
/* 1 if any element is NaN or Inf. */
int tu_has_nonfinite(const float *x, size_t n);
/* The next value of a xorshift64* stream (test data independent of the library's Philox). */
uint64_t tu_xorshift(uint64_t *state);
/* Prints "N passed, M failed" and returns the exit code. */
int tu_finish(const char *name);
/* Directory for scratch files (CLVAE_TMP or /tmp), created; returns a static path with `leaf`. */
const char *tu_tmp_path(const char *leaf);

/* Golden files: the whole file as a string (NULL if unreadable; free it), a JSON array of exactly
 * n numbers into dst (0 on success), a number member (NaN if absent). cJSON types stay opaque. */
struct cJSON;
char *tu_slurp(const char *path);
int tu_json_floats(const struct cJSON *arr, float *dst, size_t n, const char *what);
double tu_json_num(const struct cJSON *obj, const char *key);

#endif
