/* Byte buffers for data-reader tests: growing buffers, scratch files (raw, gzip, truncated) and
 * NPY files with any header, shared by test_data.c and test_data_inputs.c. */
#ifndef CLVAE_TEST_BYTES_H
#define CLVAE_TEST_BYTES_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "testutil.h"

typedef struct {
    uint8_t *p;
    size_t n, cap;
} bytes;

static inline void put(bytes *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) exit(1);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static inline void put_be32(bytes *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put(b, x, 4);
}

/* Writes `n` bytes of `data` to a scratch file, gzip-compressed when `gz`, cut to `keep` bytes
 * of the file when keep > 0. Returns the path in one of 8 rotating static buffers. */
static inline const char *save(const char *leaf, const void *data, size_t n, int gz, size_t keep)
{
    static char path[8][4096];
    static int slot;
    char *p = path[slot++ % 8];
    snprintf(p, 4096, "%s", tu_tmp_path(leaf));
    if (gz) {
        gzFile f = gzopen(p, "wb");
        gzwrite(f, data, (unsigned)n);
        gzclose(f);
    } else {
        FILE *f = fopen(p, "wb");
        fwrite(data, 1, n, f);
        fclose(f);
    }
    if (keep > 0 && truncate(p, (off_t)keep) != 0) exit(1);
    return p;
}

/* An NPY file: header dict padded to 64 bytes, then `data`. */
static inline bytes npy(int version, const char *descr, const char *fortran, const char *shape,
                 const void *data, size_t n)
{
    bytes b = {0};
    char dict[256];
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }",
                       descr, fortran, shape);
    size_t pre = version == 1 ? 10 : 12, total = (pre + (size_t)len + 1 + 63) / 64 * 64;
    size_t hlen = total - pre;
    put(&b, "\x93NUMPY", 6);
    uint8_t ver[2] = {(uint8_t)version, 0};
    put(&b, ver, 2);
    uint8_t hl[4] = {(uint8_t)hlen, (uint8_t)(hlen >> 8), 0, 0};
    put(&b, hl, version == 1 ? 2 : 4);
    put(&b, dict, (size_t)len);
    for (size_t i = (size_t)len; i + 1 < hlen; i++)
        put(&b, " ", 1);
    put(&b, "\n", 1);
    put(&b, data, n);
    return b;
}

#endif
