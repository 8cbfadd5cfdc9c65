/* The reference math of every backend op, as pure functions over host arrays. Kernels in cl/
 * implement the same formulas; backend.h documents each op's contract. */
#ifndef CLVAE_REF_MATH_H
#define CLVAE_REF_MATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

/* Row-major C (M,N) = alpha op(A) op(B) + beta C. tmp holds (ta ? M*K : 0) + (tb ? K*N : 0). */
void clvae_ref_gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float *a, int lda,
                    const float *b, int ldb, float beta, float *c, int ldc, float *tmp);
void clvae_ref_bias_act(clvae_act act, int rows, int cols, const float *bias, float *y);
void clvae_ref_act_bwd(clvae_act act, int rows, int cols, const float *y, float *dy);
void clvae_ref_col_sum(int rows, int cols, const float *x, float *out);
void clvae_ref_reparam(const clvae_reparam_args *a, const float *heads, float *z, float *eps,
                       float *kl);
void clvae_ref_reparam_bwd(const clvae_reparam_bwd_args *a, const float *heads, const float *eps,
                           const float *dz, float *dheads);
void clvae_ref_likelihood(const clvae_lik_args *a, const float *out, const float *x, float *loss,
                          float *dout);
void clvae_ref_optimizer(const clvae_opt_args *a, float *p, const float *g, float *m, float *v);
void clvae_ref_gauss_terms(const clvae_gauss_terms_args *a, const float *heads, const float *z,
                           const float *eps, const float *prior, float *kl, float *kl_sum);
void clvae_ref_prior_bwd(const clvae_prior_bwd_args *a, const float *w, const float *z,
                         const float *prior, float *dz, float *dprior);
void clvae_ref_latent_bwd(const clvae_latent_bwd_args *a, const float *w, const float *heads,
                          const float *eps, const float *dz, float *dheads);
void clvae_ref_iw_weights(const clvae_iw_args *a, const float *nll, const float *kl, float *w,
                          float *bound);
void clvae_ref_row_scale(int rows, int cols, const float *w, float *x);
void clvae_ref_onehot(int rows, int batch, int classes, const float *labels, float *out);
void clvae_ref_binarize(size_t n, uint64_t seed, uint64_t step, uint32_t stream, float *x);
/* Categorical layers (ref_gumbel.c); y may be NULL, z one-hot or NULL (analytic KL), kl_sum
 * NULL; log_k = logf(K) (the host's value, passed to the kernels too). */
void clvae_ref_gumbel(const clvae_gumbel_args *a, const float *logits, float *g, float *y,
                      float *z);
void clvae_ref_cat_terms(const clvae_cat_terms_args *a, float log_k, const float *logits,
                         const float *z, float *kl, float *kl_sum);
void clvae_ref_cat_bwd(const clvae_cat_bwd_args *a, const float *logits, const float *y,
                       const float *dz, float *dlogits);
/* Gumbel(0, 1) noise -log(-log(u + 1e-20) + 1e-20) of a uniform u (the peer's expression). */
float clvae_gumbel_noise(float u);

/* Convolutional nets (ref_conv.c); see backend.h. xhat may be NULL (evaluation). */
void clvae_ref_im2col(const clvae_conv_geom *g, const float *img, float *cols);
void clvae_ref_col2im(const clvae_conv_geom *g, const float *cols, float beta, float *img);
void clvae_ref_conv_direct(const clvae_conv_geom *g, int o, const float *img, const float *w,
                           float *col);
void clvae_ref_conv_direct_dx(const clvae_conv_geom *g, int o, const float *col, const float *w,
                              float *img);
void clvae_ref_conv_direct_dw(const clvae_conv_geom *g, int o, const float *img, const float *col,
                              float *w);
void clvae_ref_batch_transpose(int batch, int rows, int cols, const float *src, float *dst);
void clvae_ref_bias_leaky(float slope, int rows, int cols, const float *bias, float *y);
void clvae_ref_leaky_bwd(float slope, int rows, int cols, const float *y, float *dy);
void clvae_ref_col_sq_dev(int rows, int cols, const float *x, const float *sum, float count,
                          float *out);
void clvae_ref_bn_fwd(const clvae_bn_fwd_args *a, const float *x, const float *sums,
                      const float *gamma, const float *beta, float *rmean, float *rvar,
                      float *invstd, float *xhat, float *y);
void clvae_ref_bn_bwd_sums(const clvae_bn_bwd_args *a, const float *dy, const float *xhat,
                           float *sums);
void clvae_ref_bn_bwd(const clvae_bn_bwd_args *a, const float *dy, const float *xhat,
                      const float *gamma, const float *invstd, const float *sums, float *dx);

/* Normalized MSE sum((ref-got)^2) / sum(ref^2) (ggml's measure; the plain sum when ref is all
 * zero): how every device result is compared with the reference. */
double clvae_nmse(const float *ref, const float *got, size_t n);

/* Stable scalar pieces shared with tests. */
float clvae_softplus(float x);
float clvae_sigmoid(float x);

#endif
