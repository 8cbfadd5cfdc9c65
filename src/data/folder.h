/* Internal to src/data: image folders (listing, parallel decoding, the decode cache). */
#ifndef CLVAE_DATA_FOLDER_H
#define CLVAE_DATA_FOLDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clvae/data.h"

typedef struct clvae_folder_entry {
    char *path;
    long long size, mtime_ns;
    int label; /* class index, -1 for an unlabelled folder */
} clvae_folder_entry;

typedef struct clvae_folder_list {
    clvae_folder_entry *e; /* (n) in listing order: classes in sorted order, files sorted */
    size_t n, cap;
    int n_classes;         /* 0: files directly in the folder, unlabelled */
    char **class_names;    /* (n_classes) sorted subfolder names */
    size_t ignored;        /* entries that are not PNG/JPEG files */
} clvae_folder_list;

/* Lists `root`. Errors (CLVAE_ERR_DATA): cannot open, no images, a class folder without images,
 * more than 256 classes. */
int clvae_folder_list_read(clvae_folder_list *l, const char *root);
void clvae_folder_list_free(clvae_folder_list *l);

/* What the config asks of a folder (from [data] image_size, center_crop, channels,
 * on_bad_image). */
typedef struct clvae_folder_opts {
    int h, w;           /* image_size; 0 = keep (every image the same size) */
    int crop_h, crop_w; /* center_crop; 0 = none */
    int channels;       /* 0 auto, 1, 3 */
    bool skip_bad;
    size_t max_pixels;  /* per image, 0 = CLVAE_IMAGE_MAX_PIXELS (the fuzz harness lowers it) */
    const char *cache_dir; /* NULL or "": no decode cache */
} clvae_folder_opts;

/* [data] image_size, center_crop, channels, on_bad_image into `o`; `dir` (the cache directory,
 * "" when none) is where o->cache_dir points. Errors (CLVAE_ERR_CONFIG) name the key. */
int clvae_folder_opts_from_config(const clvae_config *c, clvae_folder_opts *o, char *dir,
                                  size_t dir_size);

/* Whether the test set is the split of the training folder: data.train is a folder and
 * data.test is "" or the built-in default. */
bool clvae_folder_test_split(const clvae_config *c);

/* Loads the training (test = false) or test folder of the config (first `limit` files of the
 * listing when > 0; for the test split, the first `limit` test images), through the cache; with clvae_folder_test_split, the test set is 10% of the
 * training folder (at least 1 image) picked by a Philox permutation of train.seed, and the
 * training set the rest. */
int clvae_folder_load(clvae_dataset *ds, const clvae_config *c, bool test, long limit);

/* Decodes the listed images into ds (u8 (n, C*H*W) NCHW, labels when the folder has classes),
 * in parallel. `root` names the folder in messages. */
int clvae_folder_decode(const clvae_folder_list *l, const char *root, const clvae_folder_opts *o,
                        clvae_dataset *ds);

/* The decode cache: a file in `dir` named by the hash of the listing (paths, sizes, mtimes,
 * labels) and the options. load: 1 hit (ds filled), 0 miss (absent, stale or corrupt: ignored
 * with a note). save: atomic (temporary file + rename); failures are notes, never errors. */
int clvae_folder_cache_load(const clvae_folder_list *l, const clvae_folder_opts *o,
                            clvae_dataset *ds);
void clvae_folder_cache_save(const clvae_folder_list *l, const clvae_folder_opts *o,
                             const clvae_dataset *ds);

#endif
