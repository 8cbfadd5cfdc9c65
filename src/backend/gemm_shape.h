/* A GEMM shape with a call count: what one training step runs, and what GEMM tuning times. */
#ifndef CLVAE_BACKEND_GEMM_SHAPE_H
#define CLVAE_BACKEND_GEMM_SHAPE_H

#include <stdbool.h>

/* Row-major C (m, n) = op(A) (m, k) op(B) (k, n), `calls` times per training step. */
typedef struct clvae_gemm_shape {
    bool ta, tb;
    int m, n, k;
    int calls;
} clvae_gemm_shape;

#endif
