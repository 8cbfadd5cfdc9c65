/* Internal to src/data: array headers shared by the IDX and NPY readers and the dataset loader. */
#ifndef CLVAE_DATA_READER_H
#define CLVAE_DATA_READER_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

typedef enum { CLVAE_DT_U8, CLVAE_DT_F32, CLVAE_DT_I32, CLVAE_DT_I64 } clvae_dtype;

/* What a file header promises: element type and C-order shape; the data follows the header. */
typedef struct clvae_array_header {
    clvae_dtype dtype;
    int ndim;
    size_t shape[3];
} clvae_array_header;

/* Reads exactly `n` bytes; a short read is CLVAE_ERR_DATA "PATH: truncated: expected N bytes of
 * WHAT, got M", a corrupt gzip stream CLVAE_ERR_DATA naming zlib's message. */
int clvae_data_read(gzFile gz, const char *path, void *dst, size_t n, const char *what);

/* IDX header after its 4 magic bytes (already read into `magic`). `labels` != 0 expects
 * 0x00000801 (ubyte, 1 dim), else 0x00000803 (ubyte, 3 dims). */
int clvae_idx_read_header(gzFile gz, const char *path, const uint8_t magic[4], int labels,
                          clvae_array_header *h);

/* NPY v1/v2/v3 header after its first 4 magic bytes (already read into `magic`): little-endian
 * '|u1', '<f4', '<i4', '<i8', C order, 1 to 3 dims. The caller checks dtype and rank. */
int clvae_npy_read_header(gzFile gz, const char *path, const uint8_t magic[4],
                          clvae_array_header *h);

#endif
