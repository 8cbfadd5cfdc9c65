/* Internal to src/data: array headers shared by the IDX and NPY readers and the dataset loader,
 * and the converting reader that turns any supported element type into clvae's storage. */
#ifndef CLVAE_DATA_READER_H
#define CLVAE_DATA_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#define CLVAE_ARRAY_MAX_DIMS 4

typedef enum { CLVAE_DK_BOOL, CLVAE_DK_UINT, CLVAE_DK_INT, CLVAE_DK_FLOAT } clvae_dkind;

/* What a file header promises: element type, memory order and shape; the data follows. */
typedef struct clvae_array_header {
    clvae_dkind kind;
    int size;          /* bytes per element: 1, 2, 4 or 8 (float: 2, 4, 8) */
    bool big_endian;   /* multi-byte elements stored most significant byte first */
    bool fortran;      /* column-major (NPY fortran_order: True) */
    int ndim;          /* may exceed CLVAE_ARRAY_MAX_DIMS: only that many are stored */
    size_t shape[CLVAE_ARRAY_MAX_DIMS];
    char descr[32];    /* the type as the file spells it, for messages ("<f8", "IDX ubyte") */
} clvae_array_header;

/* Reads exactly `n` bytes; a short read is CLVAE_ERR_DATA "PATH: truncated: expected N bytes of
 * WHAT, got M", a corrupt gzip stream CLVAE_ERR_DATA naming zlib's message. */
int clvae_data_read(gzFile gz, const char *path, void *dst, size_t n, const char *what);
/* Reads up to `n` bytes, stopping early only at the end of the data; *got says how many. */
int clvae_data_read_some(gzFile gz, const char *path, void *dst, size_t n, size_t *got,
                         const char *what);

/* IDX header after its 4 magic bytes (already read into `magic`). `labels` != 0 expects
 * 0x00000801 (ubyte, 1 dim), else 0x00000803 (ubyte, 3 dims). */
int clvae_idx_read_header(gzFile gz, const char *path, const uint8_t magic[4], int labels,
                          clvae_array_header *h);

/* NPY v1/v2/v3 header after its first 4 magic bytes (already read into `magic`): bool,
 * (u)int 1-8 bytes, float 2/4/8 bytes, either byte order, C or Fortran order. The caller checks
 * the rank. */
int clvae_npy_read_header(gzFile gz, const char *path, const uint8_t magic[4],
                          clvae_array_header *h);

/* One array read into clvae's storage in a single pass, in chunks, with no second copy: the
 * first `n_keep` samples (the leading dimension) of `dim` elements each go to `u8` (bool and
 * integer elements; integers must lie in 0..255, bools are 0/1 stored as 0 / `bool_one`) or to
 * `f32` (float elements, which must lie in [0, 1] unless `f32_any`), in C order whatever the
 * file's order. Errors name the path, the sample and feature, and what is valid. */
typedef struct clvae_array_read {
    const char *path;
    const char *what;      /* "image data" or "labels" (messages) */
    size_t n_keep, dim;
    uint8_t *u8;           /* (n_keep, dim) or NULL */
    float *f32;            /* (n_keep, dim) or NULL */
    uint8_t bool_one;      /* what a true bool becomes: 255 for images (v / 255 = 1), 1 labels */
} clvae_array_read;
/* "float64", "uint16", "bool": the element type in numpy's words. */
void clvae_array_type_name(const clvae_array_header *h, char *buf, size_t size);
int clvae_array_read_data(gzFile gz, const clvae_array_header *h, const clvae_array_read *r);

#endif
