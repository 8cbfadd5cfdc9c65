/* What people look at: sample and reconstruction grids (PNG) and loss curves (SVG). */
#ifndef CLVAE_TRAIN_VISUAL_H
#define CLVAE_TRAIN_VISUAL_H

#include "clvae/config.h"
#include "clvae/data.h"
#include "model/vae.h"

/* Image height/width for the grids from data.image_shape (clvae_data_image_chw): returns 1 for
 * a grey or RGB image (its channels are m->dim / (h * w) wherever a model writes grids), 0 for
 * data that is not one, or CLVAE_ERR_CONFIG for a bad image_shape. */
int clvae_image_shape(const clvae_config *c, const clvae_dataset *ds, int *h, int *w);

/* At training start: a bad image_shape is an error; data that is not an image gets one note. */
int clvae_visual_check(const clvae_config *c, const clvae_dataset *ds);

/* For sample/reconstruct/interpolate: the image shape, or CLVAE_ERR_INPUT when the data is not
 * an image (saying which key makes it one). */
int clvae_visual_image_command(const clvae_config *c, const clvae_dataset *ds, int *h, int *w);

/* Each epoch: samples.png and reconstructions.png (when the data is an image) and loss.svg. */
int clvae_visual_refresh(clvae_model *m, const clvae_config *c, const clvae_dataset *test);

/* Decoder output rows -> means in image space: sigmoid for bernoulli logits, the first dim
 * (mean) columns otherwise. out is (rows, m->dim_out); dst is (rows, m->dim). */
void clvae_output_means(const clvae_model *m, const float *out, int rows, float *dst);

/* Grid of decoder means for n draws z ~ N(0, I) (Philox stream SAMPLE, step `draw`); a path
 * ending in .npy gets the means as an (n, D) float32 array instead. A conditional model draws
 * class `label` (0..C-1) in every row, or (label < 0) a grid of one row per class; its n is
 * at most the model's batch. */
/* z (n, G*K): one-hot codes from the uniform prior of a categorical top layer (draw `draw`;
 * `clvae sample` and the library draw the same codes). */
void clvae_visual_prior_codes(const clvae_model *m, uint64_t draw, int64_t n, float *z);

int clvae_visual_samples(clvae_model *m, int n, uint64_t draw, int label, int h, int w,
                         const char *path);
/* Whether `path` names an NPY file (*.npy): sample and reconstruct write means, not a PNG. */
bool clvae_visual_is_npy(const char *path);

/* The first n images of ds (rows of originals) over their reconstructions (z = mu), with
 * their labels for a conditional model; for a *.npy path the (n, D) reconstruction means. */
int clvae_visual_reconstructions(clvae_model *m, const clvae_dataset *ds, int n, int h, int w,
                                 const char *path);

/* loss.svg from dir/metrics.jsonl: train and test loss per epoch. */
int clvae_visual_loss_plot(const char *dir);

#endif
