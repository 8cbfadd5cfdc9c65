/* Pieces of the model's step shared by its files (forward in vae_step.c, backward in
 * vae_backward.c); not part of the model's interface. */
#ifndef CLVAE_MODEL_VAE_INTERNAL_H
#define CLVAE_MODEL_VAE_INTERNAL_H

#include "model/vae.h"

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        int st_ = (expr);                                                                          \
        if (st_) return st_;                                                                       \
    } while (0)

/* Rows of layer l's q heads for b inputs and S samples (layer 0 shares them over samples). */
int clvae_model_q_rows(int l, int b, int S);
/* Inference bottom-up, the prior MLPs and the decoder (no loss terms). */
int clvae_model_forward_core(clvae_model *m, int b, int S, uint64_t step, uint32_t stream,
                             bool deterministic);
/* Each layer's kl term (see clvae_terms). */
int clvae_model_layer_terms(clvae_model *m, int b, int S, clvae_terms terms);
/* m->loss (S*b) and, with grad, m->dout = grad_scale * d loss / d out. */
int clvae_model_likelihood(clvae_model *m, int b, int S, bool grad, float grad_scale);
/* From n->dout back to the MLP's input x: dx written, accumulated, or (dx.buf NULL) skipped. */
int clvae_model_mlp_bwd(clvae_model *m, clvae_mlp *n, int rows, clvae_view x, clvae_view dx,
                        bool accumulate);
/* The same when the head's bias gradient is already written (a fused op computed it). */
int clvae_model_mlp_bwd_db(clvae_model *m, clvae_mlp *n, int rows, clvae_view x, clvae_view dx,
                           bool accumulate, bool head_db_done);

#endif
