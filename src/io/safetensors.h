/* safetensors files: a writer of named host tensors + string metadata, and a strict reader. */
#ifndef CLVAE_IO_SAFETENSORS_H
#define CLVAE_IO_SAFETENSORS_H

#include <stddef.h>

#define CLVAE_ST_MAX_DIMS 4

typedef enum clvae_st_dtype {
    CLVAE_ST_F32,
    CLVAE_ST_F64,
    CLVAE_ST_I64,
    CLVAE_ST_U8
} clvae_st_dtype;

/* "F32", "F64", "I64", "U8"; NULL for an unknown value. */
const char *clvae_st_dtype_name(clvae_st_dtype dtype);
/* Bytes per element (4, 8, 8, 1); 0 for an unknown value. */
size_t clvae_st_dtype_size(clvae_st_dtype dtype);

/* ---- writer ---- */

typedef struct clvae_st_writer clvae_st_writer;

/* A new empty writer. Errors: CLVAE_ERR_NOMEM. */
int clvae_st_writer_new(clvae_st_writer **out);
void clvae_st_writer_free(clvae_st_writer *w);

/* Adds a tensor (written in the order added). `name` is copied; `data` (prod(shape) elements of
 * `dtype`, little-endian host layout) is only borrowed and must stay valid until clvae_st_write.
 * ndim 0..4 (0 = scalar). Errors: CLVAE_ERR_INTERNAL for a duplicate/empty/reserved name, a bad
 * dtype or ndim; CLVAE_ERR_NOMEM. */
int clvae_st_writer_add(clvae_st_writer *w, const char *name, clvae_st_dtype dtype, int ndim,
                        const size_t *shape, const void *data);

/* Sets a "__metadata__" string entry (both copied; a repeated key replaces the value). */
int clvae_st_writer_set_meta(clvae_st_writer *w, const char *key, const char *value);

/* Writes the file atomically (PATH.tmp, fsync, rename, dir fsync); on error PATH is untouched
 * and no .tmp is left. The header is padded with spaces to a multiple of 8 bytes and the
 * data_offsets are contiguous from 0, as the Python/Rust safetensors library writes them.
 * Errors: CLVAE_ERR_IO, CLVAE_ERR_NOMEM. */
int clvae_st_write(const clvae_st_writer *w, const char *path);

/* ---- reader ---- */

typedef struct clvae_st_tensor {
    const char *name;
    clvae_st_dtype dtype;
    int ndim;
    size_t shape[CLVAE_ST_MAX_DIMS];
    size_t numel;
    size_t nbytes;
    const void *data; /* aligned to the element size; owned by the file */
} clvae_st_tensor;

typedef struct clvae_st_file clvae_st_file;

/* Reads and validates the whole file. Any problem (missing file, shorter than 8 bytes, header
 * length beyond the file, bad JSON, missing/invalid dtype/shape/data_offsets, offsets out of
 * range, overlapping or leaving gaps, size not matching shape*dtype) gives CLVAE_ERR_CHECKPOINT
 * with a one-line message naming the file; CLVAE_ERR_IO/NOMEM for system failures. */
int clvae_st_open(const char *path, clvae_st_file **out);
void clvae_st_close(clvae_st_file *f);

/* The tensor named `name`, or NULL. */
const clvae_st_tensor *clvae_st_find(const clvae_st_file *f, const char *name);

/* Finds `name` and checks its dtype and shape; on success *data points at its elements.
 * Errors: CLVAE_ERR_CHECKPOINT naming the file and tensor ("missing", "has shape (..), expected
 * (..)", "has dtype X, expected Y"). */
int clvae_st_expect(const clvae_st_file *f, const char *name, clvae_st_dtype dtype, int ndim,
                    const size_t *shape, const void **data);

/* Tensors in file order (sorted by data offset): count and i-th entry. */
int clvae_st_count(const clvae_st_file *f);
const clvae_st_tensor *clvae_st_tensor_at(const clvae_st_file *f, int i);

/* A "__metadata__" value, or NULL when the key is absent. */
const char *clvae_st_meta(const clvae_st_file *f, const char *key);
/* Metadata entries: count and i-th key/value. */
int clvae_st_meta_count(const clvae_st_file *f);
void clvae_st_meta_at(const clvae_st_file *f, int i, const char **key, const char **value);

/* The path the file was opened from (for messages). */
const char *clvae_st_path(const clvae_st_file *f);

#endif
