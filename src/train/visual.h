/* What people look at: sample and reconstruction grids (PNG) and loss curves (SVG). */
#ifndef CLVAE_TRAIN_VISUAL_H
#define CLVAE_TRAIN_VISUAL_H

#include "clvae/data.h"
#include "model/vae.h"

/* Image height/width for a dataset (its own shape, else a square when dim is one). */
void clvae_image_shape(const clvae_dataset *ds, int *h, int *w);

/* Decoder output rows -> means in image space: sigmoid for bernoulli logits, the first dim
 * (mean) columns otherwise. out is (rows, m->dim_out); dst is (rows, m->dim). */
void clvae_output_means(const clvae_model *m, const float *out, int rows, float *dst);

/* Grid of decoder means for n draws z ~ N(0, I) (Philox stream SAMPLE, step `draw`). */
int clvae_visual_samples(clvae_model *m, int n, uint64_t draw, int h, int w, const char *path);

/* The first n images of ds (rows of originals) over their reconstructions (z = mu). */
int clvae_visual_reconstructions(clvae_model *m, const clvae_dataset *ds, int n, int h, int w,
                                 const char *path);

/* loss.svg from dir/metrics.jsonl: train and test loss per epoch. */
int clvae_visual_loss_plot(const char *dir);

#endif
