/* NPY headers (numpy.save, format v1-v3): magic, version, then a dict with
 * descr/fortran_order/shape. Any bool, integer or float element type in either byte order and
 * either memory order; the dataset loader converts. */
#include "reader.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clvae/status.h"

#define NPY_HEADER_MAX (1u << 20)
#define NPY_MAX_DIMS 8

/* The text after `'key':` in the header dict (spaces skipped), or NULL. */
static const char *dict_value(const char *hdr, const char *key)
{
    char quoted[64];
    const char *p = NULL;
    for (int q = 0; q < 2 && !p; q++) {
        snprintf(quoted, sizeof quoted, "%c%s%c", q ? '"' : '\'', key, q ? '"' : '\'');
        p = strstr(hdr, quoted);
    }
    if (!p) return NULL;
    p += strlen(quoted);
    while (isspace((unsigned char)*p))
        p++;
    if (*p != ':') return NULL;
    p++;
    while (isspace((unsigned char)*p))
        p++;
    return p;
}

static int parse_descr(const char *v, char *out, size_t size)
{
    if (!v || (*v != '\'' && *v != '"')) return -1;
    const char *end = strchr(v + 1, *v);
    if (!end || (size_t)(end - v - 1) >= size) return -1;
    memcpy(out, v + 1, (size_t)(end - v - 1));
    out[end - v - 1] = '\0';
    return 0;
}

/* "(60000, 28, 28)" -> ndim 3; h->ndim may exceed CLVAE_ARRAY_MAX_DIMS (only that many are
 * stored). */
static int parse_shape(const char *v, clvae_array_header *h)
{
    int ndim = 0;
    if (!v || *v != '(') return -1;
    v++;
    for (;;) {
        while (isspace((unsigned char)*v))
            v++;
        if (*v == ')') break;
        if (!isdigit((unsigned char)*v) || ndim == NPY_MAX_DIMS) return -1;
        char *end;
        errno = 0;
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || x > SIZE_MAX) return -1;
        if (ndim < CLVAE_ARRAY_MAX_DIMS) h->shape[ndim] = (size_t)x;
        ndim++;
        v = end + (*end == 'L'); /* Python 2 longs */
        while (isspace((unsigned char)*v))
            v++;
        if (*v == ',')
            v++;
        else if (*v != ')')
            return -1;
    }
    h->ndim = ndim;
    return 0;
}

static int host_is_big_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 0;
}

/* "<f8" -> float, 8 bytes, little-endian; "|b1" -> bool. Byte order '<', '>', '|', '=' or none. */
static int parse_dtype(const char *descr, clvae_array_header *h)
{
    const char *p = descr;
    bool big = host_is_big_endian();
    if (*p == '<' || *p == '>' || *p == '|' || *p == '=') {
        if (*p == '<') big = false;
        if (*p == '>') big = true;
        p++;
    }
    const char kinds[] = "buif";
    const char *k = *p ? strchr(kinds, *p) : NULL;
    if (!k || !p[1] || p[2]) return -1;
    int size = p[1] - '0';
    h->kind = (clvae_dkind)(k - kinds);
    if (h->kind == CLVAE_DK_BOOL ? size != 1
        : h->kind == CLVAE_DK_FLOAT ? size != 2 && size != 4 && size != 8
                                    : size != 1 && size != 2 && size != 4 && size != 8)
        return -1;
    h->size = size;
    h->big_endian = size > 1 && big;
    snprintf(h->descr, sizeof h->descr, "%s", descr);
    return 0;
}

static int parse_header(const char *path, const char *hdr, clvae_array_header *h)
{
    char descr[32];
    const char *fortran = dict_value(hdr, "fortran_order");
    if (parse_descr(dict_value(hdr, "descr"), descr, sizeof descr))
        return clvae_error(CLVAE_ERR_DATA, "%s: NPY header has no readable 'descr': %.200s", path,
                           hdr);
    if (parse_dtype(descr, h))
        return clvae_error(CLVAE_ERR_DATA,
                           "%s: unsupported NPY dtype '%s'; supported: bool, uint8..uint64 and "
                           "int8..int64 (values 0..255), float16, float32, float64 (images: "
                           "values in [0, 1])",
                           path, descr);
    if (!fortran || (strncmp(fortran, "True", 4) != 0 && strncmp(fortran, "False", 5) != 0))
        return clvae_error(CLVAE_ERR_DATA, "%s: NPY header has no readable 'fortran_order'", path);
    h->fortran = strncmp(fortran, "True", 4) == 0;
    if (parse_shape(dict_value(hdr, "shape"), h))
        return clvae_error(CLVAE_ERR_DATA, "%s: NPY header has no readable 'shape': %.200s", path,
                           hdr);
    return CLVAE_OK;
}

int clvae_npy_read_header(gzFile gz, const char *path, const uint8_t magic[4],
                          clvae_array_header *h)
{
    uint8_t pre[8];
    char *hdr = NULL;
    int status;
    if (memcmp(magic, "\x93NUM", 4) != 0)
        return clvae_error(CLVAE_ERR_DATA,
                           "%s: not an NPY file: magic %02x %02x %02x %02x, expected \\x93NUMPY",
                           path, magic[0], magic[1], magic[2], magic[3]);
    if ((status = clvae_data_read(gz, path, pre, 4, "NPY header"))) return status;
    if (memcmp(pre, "PY", 2) != 0)
        return clvae_error(CLVAE_ERR_DATA, "%s: not an NPY file: magic is not \\x93NUMPY", path);
    if (pre[2] < 1 || pre[2] > 3)
        return clvae_error(CLVAE_ERR_DATA, "%s: unsupported NPY version %d.%d (1.0 to 3.0 are)",
                           path, pre[2], pre[3]);
    size_t len_bytes = pre[2] == 1 ? 2 : 4, len = 0;
    if ((status = clvae_data_read(gz, path, pre + 4, len_bytes, "NPY header"))) return status;
    for (size_t i = 0; i < len_bytes; i++)
        len |= (size_t)pre[4 + i] << (8 * i);
    if (len > NPY_HEADER_MAX)
        return clvae_error(CLVAE_ERR_DATA, "%s: NPY header of %zu bytes is implausibly long", path,
                           len);
    hdr = malloc(len + 1);
    if (!hdr) return clvae_error(CLVAE_ERR_NOMEM, "%s: out of memory", path);
    if ((status = clvae_data_read(gz, path, hdr, len, "NPY header"))) goto cleanup;
    hdr[len] = '\0';
    status = parse_header(path, hdr, h);
cleanup:
    free(hdr);
    return status;
}
