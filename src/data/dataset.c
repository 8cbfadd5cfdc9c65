/* Datasets: opens IDX/NPY files (raw or gzip), checks shapes and labels, gathers batches as floats.
 */
#include "clvae/data.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clvae/status.h"
#include "reader.h"

#define READ_CHUNK (1u << 30) /* gzread takes an unsigned count */
#define LABEL_CHUNK 8192      /* labels converted per read from '<i4'/'<i8' */

/* Reads up to `n` bytes, stopping early only at the end of the data; *got says how many. */
static int read_some(gzFile gz, const char *path, void *dst, size_t n, size_t *got,
                     const char *what)
{
    *got = 0;
    while (*got < n) {
        size_t want = n - *got < READ_CHUNK ? n - *got : READ_CHUNK;
        int r = gzread(gz, (char *)dst + *got, (unsigned)want);
        if (r < 0) {
            int err;
            const char *msg = gzerror(gz, &err);
            if (err == Z_BUF_ERROR) break; /* a gzip stream that ends early: truncated */
            return clvae_error(CLVAE_ERR_DATA, "%s: corrupt data while reading %s: %s", path, what,
                               msg);
        }
        if (r == 0) break;
        *got += (size_t)r;
    }
    return CLVAE_OK;
}

int clvae_data_read(gzFile gz, const char *path, void *dst, size_t n, const char *what)
{
    size_t got;
    int status = read_some(gz, path, dst, n, &got, what);
    if (status == CLVAE_OK && got < n)
        status = clvae_error(CLVAE_ERR_DATA, "%s: truncated: expected %zu bytes of %s, got %zu",
                             path, n, what, got);
    return status;
}

/* Opens a raw or gzip file for reading (zlib reads both). */
static int open_source(const char *path, const char *what, gzFile *out)
{
    struct stat sb;
    if (!path || !*path) return clvae_error(CLVAE_ERR_DATA, "no %s file given (empty path)", what);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return clvae_error(CLVAE_ERR_DATA, "%s: cannot open %s file: %s", path, what,
                           strerror(errno));
    if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        close(fd);
        return clvae_error(CLVAE_ERR_DATA, "%s: is a directory, not a %s file", path, what);
    }
    gzFile gz = gzdopen(fd, "rb");
    if (!gz) {
        close(fd);
        return clvae_error(CLVAE_ERR_NOMEM, "%s: cannot set up the reader", path);
    }
    gzbuffer(gz, 1u << 17);
    *out = gz;
    return CLVAE_OK;
}

/* Reads the magic number and the header of the format it names (or the forced format). */
static int read_header(gzFile gz, const char *path, clvae_data_format format, int labels,
                       clvae_array_header *h)
{
    uint8_t m[4];
    int status = clvae_data_read(gz, path, m, 4, "magic number");
    if (status) return status;
    int is_npy = memcmp(m, "\x93NUM", 4) == 0;
    if (format == CLVAE_FORMAT_NPY || (format == CLVAE_FORMAT_AUTO && is_npy))
        return clvae_npy_read_header(gz, path, m, h);
    if (format == CLVAE_FORMAT_IDX || (m[0] == 0 && m[1] == 0))
        return clvae_idx_read_header(gz, path, m, labels, h);
    return clvae_error(CLVAE_ERR_DATA,
                       "%s: unknown file format: magic %02x %02x %02x %02x, expected IDX 0x%08x or "
                       "NPY \\x93NUMPY",
                       path, m[0], m[1], m[2], m[3], labels ? 0x801u : 0x803u);
}

static const char *dtype_name(clvae_dtype dt)
{
    switch (dt) {
    case CLVAE_DT_U8: return "uint8";
    case CLVAE_DT_F32: return "float32";
    case CLVAE_DT_I32: return "int32";
    case CLVAE_DT_I64: return "int64";
    }
    return "?";
}

/* Checks the image dtype and shape and sets ds->dim, rows, cols. */
static int image_shape(const char *path, const clvae_array_header *h, clvae_dataset *ds)
{
    if (h->dtype != CLVAE_DT_U8 && h->dtype != CLVAE_DT_F32)
        return clvae_error(CLVAE_ERR_DATA,
                           "%s: unsupported image dtype %s; images must be "
                           "uint8 ('|u1') or float32 ('<f4')",
                           path, dtype_name(h->dtype));
    if (h->ndim != 2 && h->ndim != 3)
        return clvae_error(CLVAE_ERR_DATA,
                           "%s: unsupported image shape with %d dimensions; "
                           "images must be (n, d) or (n, rows, cols)",
                           path, h->ndim);
    size_t rows = h->ndim == 3 ? h->shape[1] : 1, cols = h->shape[h->ndim - 1];
    if (rows > INT_MAX || cols > INT_MAX)
        return clvae_error(CLVAE_ERR_DATA, "%s: unsupported image shape %zu x %zu", path, rows,
                           cols);
    if (h->shape[0] == 0 || rows * cols == 0)
        return clvae_error(CLVAE_ERR_DATA, "%s: empty data set: shape (%zu, %zu, %zu)", path,
                           h->shape[0], rows, cols);
    if (rows * cols > SIZE_MAX / sizeof(float) / h->shape[0])
        return clvae_error(CLVAE_ERR_DATA, "%s: data set too large: %zu x %zu x %zu", path,
                           h->shape[0], rows, cols);
    ds->rows = (int)rows;
    ds->cols = (int)cols;
    ds->dim = rows * cols;
    return CLVAE_OK;
}

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* Reads ds->n images straight into their final buffer; float32 values must lie in [0, 1]. */
static int read_images(gzFile gz, const char *path, clvae_dtype dtype, clvae_dataset *ds)
{
    size_t count = ds->n * ds->dim; // (n, dim)
    if (dtype == CLVAE_DT_U8) {
        if (!(ds->u8 = malloc(count)))
            return clvae_error(CLVAE_ERR_NOMEM, "%s: out of memory", path);
        return clvae_data_read(gz, path, ds->u8, count, "image data");
    }
    if (!(ds->f32 = malloc(count * sizeof(float))))
        return clvae_error(CLVAE_ERR_NOMEM, "%s: out of memory", path);
    int status = clvae_data_read(gz, path, ds->f32, count * sizeof(float), "image data");
    if (status) return status;
    if (!host_is_little_endian()) {
        uint8_t *b = (uint8_t *)ds->f32;
        for (size_t i = 0; i < count; i++, b += 4) {
            uint8_t t0 = b[0], t1 = b[1];
            b[0] = b[3], b[1] = b[2], b[2] = t1, b[3] = t0;
        }
    }
    for (size_t i = 0; i < count; i++)
        if (!(ds->f32[i] >= 0.0f && ds->f32[i] <= 1.0f))
            return clvae_error(CLVAE_ERR_DATA,
                               "%s: value %g at sample %zu, feature %zu is outside "
                               "[0, 1]; scale float32 images to [0, 1]",
                               path, (double)ds->f32[i], i / ds->dim, i % ds->dim);
    return CLVAE_OK;
}

/* Checks the label header against the images: 1-D, integer, one label per image. */
static int check_labels(const char *path, const clvae_array_header *h, const char *images,
                        size_t n_images)
{
    if (h->dtype == CLVAE_DT_F32)
        return clvae_error(CLVAE_ERR_DATA,
                           "%s: unsupported label dtype float32; labels must be "
                           "'|u1', '<i4' or '<i8'",
                           path);
    if (h->ndim != 1)
        return clvae_error(CLVAE_ERR_DATA, "%s: labels have %d dimensions, expected 1 (n)", path,
                           h->ndim);
    if (h->shape[0] != n_images)
        return clvae_error(CLVAE_ERR_DATA, "%s: %zu labels, but %s has %zu images", path,
                           h->shape[0], images, n_images);
    return CLVAE_OK;
}

static int64_t le_int(const uint8_t *b, size_t size)
{
    uint64_t v = 0;
    for (size_t i = 0; i < size; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return size == 4 ? (int64_t)(int32_t)(uint32_t)v : (int64_t)v;
}

/* Reads ds->n labels, converting '<i4'/'<i8' in chunks; every label must be in 0..255. */
static int read_labels(gzFile gz, const char *path, clvae_dtype dtype, clvae_dataset *ds)
{
    uint8_t chunk[LABEL_CHUNK * 8];
    size_t size = dtype == CLVAE_DT_U8 ? 1 : dtype == CLVAE_DT_I32 ? 4 : 8;
    if (!(ds->labels = malloc(ds->n)))
        return clvae_error(CLVAE_ERR_NOMEM, "%s: out of memory", path);
    if (size == 1) {
        int status = clvae_data_read(gz, path, ds->labels, ds->n, "labels");
        if (status) return status;
    }
    for (size_t done = 0; size > 1 && done < ds->n; done += LABEL_CHUNK) {
        size_t m = ds->n - done < LABEL_CHUNK ? ds->n - done : LABEL_CHUNK, got;
        int status = read_some(gz, path, chunk, m * size, &got, "labels");
        if (status) return status;
        if (got < m * size)
            return clvae_error(CLVAE_ERR_DATA,
                               "%s: truncated: expected %zu bytes of labels, got %zu", path,
                               ds->n * size, done * size + got);
        for (size_t i = 0; i < m; i++) {
            int64_t v = le_int(chunk + i * size, size);
            if (v < 0 || v > 255)
                return clvae_error(CLVAE_ERR_DATA, "%s: label %lld at index %zu is outside 0..255",
                                   path, (long long)v, done + i);
            ds->labels[done + i] = (uint8_t)v;
        }
    }
    int max = 0;
    for (size_t i = 0; i < ds->n; i++)
        if (ds->labels[i] > max) max = ds->labels[i];
    ds->n_classes = max + 1;
    return CLVAE_OK;
}

int clvae_dataset_load(clvae_dataset *ds, const char *path, const char *labels_path,
                       clvae_data_format format, long limit)
{
    gzFile gz = NULL, gzl = NULL;
    clvae_array_header h = {0}, hl = {0};
    int status;
    memset(ds, 0, sizeof *ds);
    if ((status = open_source(path, "image", &gz))) goto cleanup;
    if ((status = read_header(gz, path, format, 0, &h))) goto cleanup;
    if ((status = image_shape(path, &h, ds))) goto cleanup;
    if (labels_path && *labels_path) { /* check labels before reading all the images */
        if ((status = open_source(labels_path, "label", &gzl))) goto cleanup;
        if ((status = read_header(gzl, labels_path, format, 1, &hl))) goto cleanup;
        if ((status = check_labels(labels_path, &hl, path, h.shape[0]))) goto cleanup;
    }
    ds->n = limit > 0 && (size_t)limit < h.shape[0] ? (size_t)limit : h.shape[0];
    if ((status = read_images(gz, path, h.dtype, ds))) goto cleanup;
    if (gzl && (status = read_labels(gzl, labels_path, hl.dtype, ds))) goto cleanup;
cleanup:
    if (gz) gzclose(gz);
    if (gzl) gzclose(gzl);
    if (status) clvae_dataset_free(ds);
    return status;
}

void clvae_dataset_free(clvae_dataset *ds)
{
    if (!ds) return;
    free(ds->u8);
    free(ds->f32);
    free(ds->labels);
    memset(ds, 0, sizeof *ds);
}

void clvae_dataset_gather(const clvae_dataset *ds, const uint32_t *idx, size_t count, float *dst)
{
    float lut[256]; /* u8 -> [0, 1], rounded as torchvision's ToTensor (x / 255 in float32) */
    for (int v = 0; v < 256; v++)
        lut[v] = (float)v / 255.0f;
    for (size_t i = 0; i < count; i++) {
        assert(idx[i] < ds->n);
        float *out = dst + i * ds->dim; // (count, dim)
        if (ds->u8) {
            const uint8_t *src = ds->u8 + (size_t)idx[i] * ds->dim;
            for (size_t j = 0; j < ds->dim; j++)
                out[j] = lut[src[j]];
        } else {
            memcpy(out, ds->f32 + (size_t)idx[i] * ds->dim, ds->dim * sizeof(float));
        }
    }
}
