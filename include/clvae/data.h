/* Datasets: IDX (raw or gzip) and NPY image/label readers, scaled to [0,1] on gather. */
#ifndef CLVAE_DATA_H
#define CLVAE_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clvae/config.h"

typedef struct clvae_dataset {
    size_t n;          /* number of samples */
    size_t dim;        /* features per sample (channels*rows*cols for images) */
    int rows, cols;    /* image shape when known (e.g. 28x28), else rows=1, cols=dim */
    int channels;      /* C: 1 (grey, flat data) or the image's channels (3: RGB) */
    /* Rows hold C*H*W values in NCHW order (channel planes), whatever the file's layout. */
    uint8_t *u8;       /* (n, dim) raw bytes when the source is 8-bit (IDX ubyte, NPY |u1), else NULL */
    float *f32;        /* (n, dim) values in [0,1] when the source is float32 NPY, else NULL */
    uint8_t *labels;   /* (n) class labels, or NULL */
    int n_classes;     /* max label + 1, or 0 */
} clvae_dataset;

/* Loads images from `path` (format: auto detects by magic: IDX 0x00000803 / NPY "\x93NUMPY";
 * .gz is handled for both) and optional labels from `labels_path` (NULL or "" = none).
 * `limit` > 0 keeps only the first `limit` samples. Errors (CLVAE_ERR_DATA) name the file and
 * the problem: missing, wrong magic, truncated, unsupported dtype/shape, count mismatch. */
int clvae_dataset_load(clvae_dataset *ds, const char *path, const char *labels_path,
                       clvae_data_format format, long limit);

/* The image shape (C, H, W) of `ds` under `[data] image_shape`: auto (the data's: NPY (n, h, w),
 * (n, h, w, c), (n, c, h, w), IDX, an image folder; (n, d) data is a 1-channel square when d is
 * one), HxW (C = 1), HxWxC or none. Returns 1 with *c, *h, *w set (c * h * w == ds->dim), 0 when
 * the data is not an image (none, or flat data that is no square; *c = *h = *w = 0), or
 * CLVAE_ERR_CONFIG naming the key and the valid forms. What a conv model reads its input shape
 * from. */
int clvae_data_image_chw(const clvae_config *cfg, const clvae_dataset *ds, int *c, int *h, int *w);

/* "28x28" -> {28, 28} (n = 2) or "64x64x3" -> {64, 64, 3} (n = 3): `n` positive decimal sizes
 * joined by x (at most 1 << 20 each); 0 on success, -1 for anything else. */
int clvae_parse_dims(const char *v, int n, int *out);

/* Whether `path` names a directory (an image folder). */
bool clvae_data_is_folder(const char *path);

/* The label file for the training (test = false) or test set: the key's path, NULL for "" (none),
 * and for "auto" the built-in labels when the images are the built-in ones, else NULL. */
const char *clvae_data_labels_path(const clvae_config *c, bool test);

/* clvae_dataset_load of the config's training or test set (its format and limit), with its
 * labels (clvae_data_labels_path) when `labels`. */
/* Conditional models: every label of ds must be in 0..classes-1; else CLVAE_ERR_DATA naming
 * `path`, the first bad index and its value. */
int clvae_labels_check(const clvae_dataset *ds, const char *path, int classes);

/* For the commands that open the training set themselves (check, bench, tune): the training
 * images (first `limit`, 0 = all) with, for a conditional model, their labels, checked against
 * model.classes, which is resolved from them when 0. */
int clvae_dataset_load_train(clvae_dataset *ds, clvae_config *cfg, long limit);

int clvae_dataset_load_cfg(clvae_dataset *ds, const clvae_config *c, bool test, bool labels);

void clvae_dataset_free(clvae_dataset *ds);

/* Copies samples idx[0..count) into dst (count, dim) as floats in [0,1] (u8 / 255). */
void clvae_dataset_gather(const clvae_dataset *ds, const uint32_t *idx, size_t count, float *dst);

#endif
