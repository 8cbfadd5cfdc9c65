/* The GEMM shapes a training step runs (for tuning), from a dry run of the step. */
#ifndef CLVAE_MODEL_VAE_SHAPES_H
#define CLVAE_MODEL_VAE_SHAPES_H

#include "backend/gemm_shape.h"
#include "model/vae.h"

/* Distinct (ta, tb, m, n, k) of one step at `batch` x `samples` rows, with call counts; returns
 * how many were written to out (at most max), 0 on failure. */
int clvae_model_gemm_shapes(const clvae_model *m, int batch, int samples, clvae_gemm_shape *out,
                            int max);

#endif
