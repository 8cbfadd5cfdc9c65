/* The map layers of a net: Conv2d and ConvTranspose2d, each with an optional BatchNorm2d and an
 * activation, as a stack at the image end of a net (the encoder's first group starts with one,
 * the decoder's last group ends in one). A kind owns its parameter-table entries (PyTorch's
 * names and shapes), its activation shapes, its forward and backward as backend ops; the dense
 * layers around the stack stay clvae_layer.
 *
 * Maps inside the device are NHWC rows (backend.h, "Convolutional nets"): a (N, C, H, W) tensor
 * is (N*H*W, C). The stack's outside is NCHW, as data and PyTorch's flatten(1) are: the encoder's
 * stack reads x (N, C*H*W) and leaves `flat` (N, C*H*W), the dense part's input; the decoder's
 * reads the view layer's output (N, C*H*W) and writes the likelihood's parameters (N, D). With
 * one channel, or 1x1 maps, the NCHW and NHWC orders are the same and no transpose runs.
 *
 * Per layer and pass (rows N, K = KH*KW):
 *   Conv2d          cols (N*OH*OW, IC*K) = im2col(x); z (N*OH*OW, OC) = cols W^T + b
 *   ConvTranspose2d cols (N*IH*IW, OC*K) = x W;      z = col2im(cols) + b
 *   BatchNorm2d     y = act(gamma (z - mean) invstd + beta) (batch or running statistics)
 *   otherwise       y = act(z), in place. */
#ifndef CLVAE_MODEL_VAE_CONV_H
#define CLVAE_MODEL_VAE_CONV_H

#include <stdbool.h>
#include <stddef.h>

#include "backend/backend.h"
#include "clvae/config.h"

typedef struct clvae_model clvae_model;

typedef struct clvae_conv_layer {
    bool transposed;              /* ConvTranspose2d */
    int in_c, in_h, in_w;         /* maps in, per image */
    int out_c, out_h, out_w;      /* maps out */
    int k[2], s[2], p[2], d[2];   /* (h, w) kernel, stride, padding, dilation */
    size_t w, b;                  /* arena offsets: weight Conv2d (OC, IC*K) / ConvT (IC, OC*K); bias (OC) */
    bool bn;
    size_t bn_w, bn_rm;           /* gamma (OC) then beta (OC); running mean (OC) then var (OC) */
    clvae_act act;
    float slope;                  /* leaky_relu */
    clvae_view z, xhat;           /* (N*OH*OW, OC) with bn: the conv output, the normalized one */
    clvae_view y;                 /* (N*OH*OW, OC) the layer's output */
    clvae_view invstd, sums;      /* (OC), (2*OC) with bn */
    clvae_view cols;              /* Conv2d: (N*OH*OW, IC*K) its forward's im2col matrix, kept
                                     for the weight gradient; buf NULL when not kept (vae_conv.c) */
} clvae_conv_layer;

typedef struct clvae_convnet {
    int n;                        /* layers; 0: the net has no maps */
    bool at_output;               /* decoder: the stack ends the net (its last layer is decoder_out) */
    clvae_conv_layer l[CLVAE_MAX_LAYERS + 1];
    clvae_view in;                /* (N*H*W, C) the stack's input as NHWC (aliases when no transpose) */
    clvae_view flat;              /* encoder: (N, C*H*W) the last maps flattened NCHW */
    clvae_view dflat;             /* encoder: its gradient; decoder: the view layer's output gradient */
    clvae_view cols;              /* the largest chunk of an im2col matrix of the stack */
    size_t chunk_floats;          /* that chunk's bound in floats; 0: the default (vae_conv.c) */
    clvae_view da, db;            /* (N * largest map) backward ping-pong */
    int kept_rows;                /* rows of the last forward, whose im2col matrices the layers
                                     with `cols` hold (0: none yet) */
    size_t max_cols, max_map;     /* floats per input row */
} clvae_convnet;

/* Input / output maps of layer i. */
static inline size_t clvae_conv_in_size(const clvae_conv_layer *l)
{
    return (size_t)l->in_c * l->in_h * l->in_w;
}
static inline size_t clvae_conv_out_size(const clvae_conv_layer *l)
{
    return (size_t)l->out_c * l->out_h * l->out_w;
}

/* Adds the stack's layers for `items` (n of them) on (c, h, w) input maps to the parameter
 * table, named "<prefix>.<index>" from *index on (a layer with bn takes two indices), or the
 * last one "<prefix>.out" when `last_out`. On return (c, h, w) are the output maps. Errors
 * (CLVAE_ERR_CONFIG) name the key, the layer and both shapes. */
int clvae_conv_layout(clvae_model *m, clvae_convnet *cn, const char *key, const char *prefix,
                      int *index, const clvae_item *items, int n, bool last_out, int *c, int *h,
                      int *w, clvae_act dflt_act, float slope);

/* Lays the stack's activations out for `rows` net rows through take(cursor, view, floats); `out`
 * is the net's output (rows, D) when the stack ends the net (its last maps land there directly
 * when no transpose is needed). */
typedef void (*clvae_take_fn)(void *cursor, clvae_view *v, size_t count);
void clvae_conv_take(clvae_convnet *cn, size_t rows, clvae_view out, clvae_take_fn take,
                     void *cursor);

/* Forward of the stack on `rows` net rows: x (rows, C*H*W) NCHW in; the encoder's flat, or
 * (at_output) out (rows, D) NCHW. training: BN from batch statistics (updating the running
 * ones), else from the running statistics. */
int clvae_conv_fwd(clvae_model *m, clvae_convnet *cn, int rows, clvae_view x, clvae_view out,
                   bool training);

/* Backward: dout (rows, out size) NCHW in (the encoder's dflat, the decoder's dout); writes the
 * weight, bias and BN gradients and, when dx.buf is set, dx (rows, C*H*W) NCHW (the gradient
 * of the stack's input). Needs the forward's activations (a training forward). */
int clvae_conv_bwd(clvae_model *m, clvae_convnet *cn, int rows, clvae_view x, clvae_view dout,
                   clvae_view dx);

#endif
