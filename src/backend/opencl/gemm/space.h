/* The search space (space.c), part of the search layer: curated CLBlast configurations and
 * kernel variants per kind of device, random sampling of the legal space, and direct/indirect
 * thresholds. */
#ifndef CLVAE_GEMM_SPACE_H
#define CLVAE_GEMM_SPACE_H

#include <stdint.h>

#include "backend/opencl/gemm/choice.h"

/* The i-th curated set of copy/pad/transpose parameters for this kind of device. */
bool clvae_tune_curated_helpers(const clvae_tune_limits *lim, int i, size_t h[CLVAE_HELPER_NP]);
/* The i-th curated configuration for this kind of device (false past the end). */
bool clvae_tune_curated(const clvae_tune_limits *lim, int i, clvae_gemm_params *p);
/* The i-th tiled GEMM candidate for these transposes on this kind of device, float vector width
 * vw being the device's preferred one (false past the end): every variant of the curated list
 * in both grid orders. */
bool clvae_tune_tiled_candidate(const clvae_tune_limits *lim, unsigned vw, bool ta, bool tb, int i,
                                clvae_tiled *v);
/* A new candidate: a random legal configuration, or (when `best` is given) a neighbour of it
 * with one or two parameters changed or another direct/indirect threshold from `thresholds`. */
void clvae_tune_sample(uint64_t *rng, const clvae_tune_limits *lim, const clvae_gemm_params *best,
                       const size_t *thresholds, int n_thresholds, clvae_gemm_params *p);
/* Direct/indirect switch points that separate the shapes: 0 (all indirect), one above each
 * shape's cube root of m*n*k, and a value above all of them (all direct). Returns the count. */
int clvae_tune_thresholds(const clvae_gemm_shape *s, int n, size_t *out, int max);

#endif
