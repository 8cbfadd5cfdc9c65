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
#include "core/log.h"
#include "reader.h"

#define READ_CHUNK (1u << 30) /* gzread takes an unsigned count */

int clvae_data_read_some(gzFile gz, const char *path, void *dst, size_t n, size_t *got,
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
    int status = clvae_data_read_some(gz, path, dst, n, &got, what);
    if (status == CLVAE_OK && got < n)
        status = clvae_error(CLVAE_ERR_DATA, "%s: truncated: expected %zu bytes of %s, got %zu",
                             path, n, what, got);
    return status;
}

/* Opens a raw or gzip file for reading (zlib reads both). */
static int open_source(const char *path, const char *what, gzFile *out, long long *size)
{
    struct stat sb;
    if (!path || !*path) return clvae_error(CLVAE_ERR_DATA, "no %s file given (empty path)", what);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return clvae_error(CLVAE_ERR_DATA, "%s: cannot open %s file: %s", path, what,
                           strerror(errno));
    *size = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? (long long)sb.st_size : -1;
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

/* The channel dimension of a 4-D image array: channels last (n, h, w, c) when c is 1 or 3, else
 * channels first (n, c, h, w) when c is 1 or 3, else the same with c <= 4 (last first); 3 or 1
 * = its index, 0 = neither. */
static int channel_axis(const size_t *s)
{
    if (s[3] == 1 || s[3] == 3) return 3;
    if (s[1] == 1 || s[1] == 3) return 1;
    if (s[3] >= 1 && s[3] <= 4) return 3;
    if (s[1] >= 1 && s[1] <= 4) return 1;
    return 0;
}

/* (n, d), (n, h, w), (n, h, w, c) or (n, c, h, w): sets ds->dim, rows, cols, channels and
 * *nhwc (the file's rows need a transpose to NCHW). */
static int image_shape(const char *path, const clvae_array_header *h, clvae_dataset *ds,
                       bool *nhwc)
{
    const size_t *s = h->shape;
    size_t rows = 1, cols, ch = 1;
    int axis = h->ndim == 4 ? channel_axis(s) : 0;
    *nhwc = false;
    if (h->ndim == 2) {
        cols = s[1];
    } else if (h->ndim == 3 || axis) {
        int first = axis == 1 ? 2 : 1; /* (n, c, h, w): skip the channel */
        rows = s[first];
        cols = s[first + 1];
        ch = axis ? s[axis] : 1;
        *nhwc = axis == 3 && ch > 1;
    } else {
        return clvae_error(CLVAE_ERR_DATA,
                           "%s: unsupported image shape with %d dimensions%s; images must be "
                           "(n, d), (n, h, w), (n, h, w, c) or (n, c, h, w) with c <= 4",
                           path, h->ndim, h->ndim == 4 ? " and no channel dimension of 1..4" : "");
    }
    if (rows > INT_MAX || cols > INT_MAX)
        return clvae_error(CLVAE_ERR_DATA, "%s: unsupported image shape %zu x %zu", path, rows,
                           cols);
    if (s[0] == 0 || rows * cols == 0)
        return clvae_error(CLVAE_ERR_DATA, "%s: empty data set: %zu samples of %zu x %zu", path,
                           s[0], rows, cols);
    if (rows * cols * ch > SIZE_MAX / sizeof(double) / s[0])
        return clvae_error(CLVAE_ERR_DATA, "%s: data set too large: %zu x %zu x %zu x %zu", path,
                           s[0], ch, rows, cols);
    ds->rows = (int)rows;
    ds->cols = (int)cols;
    ds->channels = (int)ch;
    ds->dim = rows * cols * ch;
    return CLVAE_OK;
}

/* Rows stored (h, w, c) become (c, h, w) in place, one row at a time through `tmp` (dim). */
static void nhwc_to_nchw(clvae_dataset *ds, void *tmp)
{
    size_t hw = (size_t)ds->rows * ds->cols, C = (size_t)ds->channels;
    for (size_t i = 0; i < ds->n; i++) {
        if (ds->u8) {
            uint8_t *row = ds->u8 + i * ds->dim, *t = tmp; // (h*w, c) -> (c, h*w)
            memcpy(t, row, ds->dim);
            for (size_t p = 0; p < hw; p++)
                for (size_t c = 0; c < C; c++) row[c * hw + p] = t[p * C + c];
        } else {
            float *row = ds->f32 + i * ds->dim, *t = tmp;
            memcpy(t, row, ds->dim * sizeof(float));
            for (size_t p = 0; p < hw; p++)
                for (size_t c = 0; c < C; c++) row[c * hw + p] = t[p * C + c];
        }
    }
}

/* Physical memory in bytes (0 when unknown). */
static double host_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? (double)pages * (double)page : 0;
}

/* Deflate's densest coding, a 1-bit length and distance code per 258-byte match, inflates at most
 * 1032:1; zlib's output buffer may hold a few hundred KiB already inflated (the slack). */
#define GZIP_MAX_RATIO 1032u
#define GZIP_SLACK (1u << 20)

/* Before allocating: the `keep` values to be stored (`stored` bytes each) must fit in the
 * machine's memory, and the file must be able to hold the `count` values its header makes us
 * read: a raw file exactly, a gzip file within what its compressed rest can inflate to. */
static int check_size(gzFile gz, long long file_size, const char *path,
                      const clvae_array_header *h, size_t count, size_t keep, size_t stored,
                      const char *what)
{
    size_t need = count * (size_t)h->size;
    z_off_t at = gzdirect(gz) ? gztell(gz) : gzoffset(gz);
    size_t have = file_size >= 0 && at >= 0 && file_size > at ? (size_t)(file_size - at) : 0;
    if (gzdirect(gz) && file_size >= 0 && have < need)
        return clvae_error(CLVAE_ERR_DATA, "%s: truncated: expected %zu bytes of %s, got %zu",
                           path, need, what, have);
    if (!gzdirect(gz) && file_size >= 0 && have <= (SIZE_MAX - GZIP_SLACK) / GZIP_MAX_RATIO &&
        need > have * GZIP_MAX_RATIO + GZIP_SLACK)
        return clvae_error(CLVAE_ERR_DATA,
                           "%s: truncated: expected %zu bytes of %s, more than the %zu "
                           "compressed bytes left can inflate to; refused before allocating",
                           path, need, what, have);
    double mem = host_memory(), want = (double)keep * (double)stored;
    if (mem > 0 && want > mem)
        return clvae_error(CLVAE_ERR_DATA,
                           "%s: %zu values of %s would take %.1f GiB, more than this machine's "
                           "%.1f GiB of memory; refused before allocating (data.limit_train / "
                           "limit_test keep only the first samples)",
                           path, keep, what, want / 1073741824.0, mem / 1073741824.0);
    return CLVAE_OK;
}

/* One line saying how the file's elements were converted, when they were. */
static void conversion_note(const char *path, const clvae_array_header *h)
{
    char name[16];
    const char *as = NULL;
    clvae_array_type_name(h, name, sizeof name);
    if (h->kind == CLVAE_DK_FLOAT && h->size != 4) as = "converted to float32";
    if (h->kind == CLVAE_DK_BOOL) as = "read as 0/1";
    if ((h->kind == CLVAE_DK_INT || h->kind == CLVAE_DK_UINT) && h->size > 1)
        as = "read as 8-bit values (0..255 checked)";
    if (h->kind == CLVAE_DK_INT && h->size == 1) as = "read as 8-bit values (0..255 checked)";
    if (!as && !h->fortran) return;
    CLVAE_INFO("note: %s: %s ('%s')%s%s%s", path, name, h->descr, as ? " " : "", as ? as : "",
               h->fortran ? (as ? ", Fortran order converted to C order"
                                : " in Fortran order, converted to C order")
                          : "");
}

/* Reads ds->n images straight into their final buffer (8-bit or float32). */
static int read_images(gzFile gz, long long file_size, const char *path,
                       const clvae_array_header *h, clvae_dataset *ds)
{
    size_t count = ds->n * ds->dim; // (n, dim)
    bool flt = h->kind == CLVAE_DK_FLOAT;
    int st = check_size(gz, file_size, path, h, h->fortran ? h->shape[0] * ds->dim : count,
                        count, flt ? sizeof(float) : 1, "image data");
    if (st) return st;
    if (flt ? !(ds->f32 = malloc(count * sizeof(float))) : !(ds->u8 = malloc(count)))
        return clvae_error(CLVAE_ERR_NOMEM, "%s: out of memory for %zu x %zu values", path, ds->n,
                           ds->dim);
    conversion_note(path, h);
    clvae_array_read r = {.path = path, .what = "image data", .n_keep = ds->n, .dim = ds->dim,
                          .u8 = ds->u8, .f32 = ds->f32, .bool_one = 255};
    return clvae_array_read_data(gz, h, &r);
}

/* Checks the label header against the images: 1-D (or (n, 1)), integer, one label per image. */
static int check_labels(const char *path, const clvae_array_header *h, const char *images,
                        size_t n_images)
{
    if (h->kind == CLVAE_DK_FLOAT)
        return clvae_error(CLVAE_ERR_DATA,
                           "%s: unsupported label dtype %s; labels must be integers (any width) "
                           "or bool",
                           path, h->descr);
    if (h->ndim != 1 && !(h->ndim == 2 && h->shape[1] == 1))
        return clvae_error(CLVAE_ERR_DATA, "%s: labels have %d dimensions, expected 1 (n)", path,
                           h->ndim);
    if (h->shape[0] != n_images)
        return clvae_error(CLVAE_ERR_DATA, "%s: %zu labels, but %s has %zu images", path,
                           h->shape[0], images, n_images);
    return CLVAE_OK;
}

/* Reads ds->n labels (any integer width, or bool); every label must be in 0..255. */
static int read_labels(gzFile gz, long long file_size, const char *path,
                       const clvae_array_header *h, clvae_dataset *ds)
{
    int st = check_size(gz, file_size, path, h, h->fortran ? h->shape[0] : ds->n, ds->n, 1,
                        "labels");
    if (st) return st;
    if (!(ds->labels = malloc(ds->n)))
        return clvae_error(CLVAE_ERR_NOMEM, "%s: out of memory", path);
    clvae_array_read r = {.path = path, .what = "labels", .n_keep = ds->n, .dim = 1,
                          .u8 = ds->labels, .bool_one = 1};
    if ((st = clvae_array_read_data(gz, h, &r))) return st;
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
    long long size = -1, size_l = -1;
    bool nhwc = false;
    void *tmp = NULL;
    int status;
    memset(ds, 0, sizeof *ds);
    if ((status = open_source(path, "image", &gz, &size))) goto cleanup;
    if ((status = read_header(gz, path, format, 0, &h))) goto cleanup;
    if ((status = image_shape(path, &h, ds, &nhwc))) goto cleanup;
    if (labels_path && *labels_path) { /* check labels before reading all the images */
        if ((status = open_source(labels_path, "label", &gzl, &size_l))) goto cleanup;
        if ((status = read_header(gzl, labels_path, format, 1, &hl))) goto cleanup;
        if ((status = check_labels(labels_path, &hl, path, h.shape[0]))) goto cleanup;
    }
    ds->n = limit > 0 && (size_t)limit < h.shape[0] ? (size_t)limit : h.shape[0];
    if ((status = read_images(gz, size, path, &h, ds))) goto cleanup;
    if (nhwc) { /* clvae keeps NCHW rows */
        if (!(tmp = malloc(ds->dim * sizeof(float)))) {
            status = clvae_error(CLVAE_ERR_NOMEM, "%s: out of memory", path);
            goto cleanup;
        }
        nhwc_to_nchw(ds, tmp);
    }
    if (gzl && (status = read_labels(gzl, size_l, labels_path, &hl, ds))) goto cleanup;
cleanup:
    free(tmp);
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
