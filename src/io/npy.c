/* NPY v1.0 writer: 64-byte aligned header dict, C-order data, atomic write. */
#include "io/npy.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "clvae/status.h"
#include "io/atomic.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the NPY writer declares '<f4' data; this code assumes a little-endian host"
#endif

#define NPY_PREAMBLE 10 /* magic (6) + version (2) + header length (2) */

/* Builds the full padded header (preamble included) into buf; returns its length or 0. */
static size_t build_header(char *buf, size_t size, const char *descr, int ndim, const size_t *shape)
{
    char dims[CLVAE_NPY_MAX_DIMS * 24 + 4];
    int n = 0;
    for (int d = 0; d < ndim; d++)
        n += snprintf(dims + n, sizeof dims - (size_t)n, "%zu, ", shape[d]);
    if (ndim == 1)
        n -= 1; /* "(7,)" */
    else if (ndim > 1)
        n -= 2; /* "(2, 3)" */
    dims[n > 0 ? n : 0] = '\0';
    int len = snprintf(buf + NPY_PREAMBLE, size - NPY_PREAMBLE,
                       "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, dims);
    if (len < 0 || (size_t)len + NPY_PREAMBLE + 1 > size) return 0;
    size_t total = ((size_t)len + NPY_PREAMBLE + 1 + 63) / 64 * 64;
    if (total > size || total - NPY_PREAMBLE > 65535) return 0;
    memset(buf + NPY_PREAMBLE + len, ' ', total - NPY_PREAMBLE - (size_t)len - 1);
    buf[total - 1] = '\n';
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)((total - NPY_PREAMBLE) & 0xff);
    buf[9] = (char)((total - NPY_PREAMBLE) >> 8);
    return total;
}

static int write_npy(const char *path, const char *descr, size_t elem, const void *data, int ndim,
                     const size_t *shape)
{
    char header[512];
    size_t count = 1;
    if (ndim < 0 || ndim > CLVAE_NPY_MAX_DIMS)
        return clvae_error(CLVAE_ERR_INTERNAL, "%s: NPY ndim %d out of range 0..%d", path, ndim,
                           CLVAE_NPY_MAX_DIMS);
    for (int d = 0; d < ndim; d++) {
        if (shape[d] != 0 && count > SIZE_MAX / elem / shape[d])
            return clvae_error(CLVAE_ERR_INTERNAL, "%s: NPY array is too large", path);
        count *= shape[d];
    }
    size_t hlen = build_header(header, sizeof header, descr, ndim, shape);
    if (hlen == 0) return clvae_error(CLVAE_ERR_INTERNAL, "%s: NPY header too long", path);
    clvae_atomic_file af = {0};
    int st = clvae_atomic_open(&af, path);
    if (st) return st;
    st = clvae_atomic_write(&af, header, hlen);
    if (!st) st = clvae_atomic_write(&af, data, count * elem);
    if (st) {
        clvae_atomic_abort(&af);
        return st;
    }
    return clvae_atomic_finish(&af);
}

int clvae_npy_write_f32(const char *path, const float *data, int ndim, const size_t *shape)
{
    return write_npy(path, "<f4", sizeof(float), data, ndim, shape);
}

int clvae_npy_write_u8(const char *path, const unsigned char *data, int ndim, const size_t *shape)
{
    return write_npy(path, "|u1", 1, data, ndim, shape);
}
