/* The converting array reader: bool, (u)int8..64 and float16/32/64 elements in either byte order
 * and either memory order, read in chunks straight into clvae's 8-bit or float32 storage (one
 * copy of the data in memory), every value range-checked. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clvae/status.h"
#include "reader.h"

#define CHUNK_ELEMS 65536

/* IEEE 754 binary16 -> binary32 (exact: every half is a float). */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1f, m = h & 0x3ff, bits;
    if (e == 0x1f) {
        bits = sign | 0x7f800000u | (m << 13); /* inf, nan */
    } else if (e != 0) {
        bits = sign | ((e + 112) << 23) | (m << 13);
    } else {
        float v = ldexpf((float)m, -24); /* zero or subnormal: m * 2^-24 */
        return sign ? -v : v;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* The element at b as an unsigned (is_u), signed or float value; bytes in file order. */
typedef struct value {
    uint64_t u;
    int64_t i;
    double f;
} value;

static void decode(const clvae_array_header *h, const uint8_t *b, value *v)
{
    uint64_t raw = 0;
    for (int k = 0; k < h->size; k++) {
        int byte = h->big_endian ? h->size - 1 - k : k; /* little-endian significance k */
        raw |= (uint64_t)b[byte] << (8 * k);
    }
    v->u = raw;
    if (h->kind == CLVAE_DK_INT) {
        int shift = 64 - 8 * h->size;
        v->i = shift ? (int64_t)(raw << shift) >> shift : (int64_t)raw;
    } else if (h->kind == CLVAE_DK_FLOAT) {
        if (h->size == 2) v->f = half_to_float((uint16_t)raw);
        if (h->size == 4) {
            uint32_t r32 = (uint32_t)raw;
            float f;
            memcpy(&f, &r32, sizeof f);
            v->f = f;
        }
        if (h->size == 8) memcpy(&v->f, &raw, sizeof v->f);
    }
}

void clvae_array_type_name(const clvae_array_header *h, char *buf, size_t size)
{
    static const char *const kinds[] = {"bool", "uint", "int", "float"};
    if (h->kind == CLVAE_DK_BOOL) snprintf(buf, size, "bool");
    else snprintf(buf, size, "%s%d", kinds[h->kind], 8 * h->size);
}

static int range_error(const clvae_array_read *r, const clvae_array_header *h, const value *v,
                       size_t sample, size_t feature)
{
    char val[64], name[16];
    clvae_array_type_name(h, name, sizeof name);
    if (h->kind == CLVAE_DK_FLOAT) snprintf(val, sizeof val, "%g", v->f);
    else if (h->kind == CLVAE_DK_INT) snprintf(val, sizeof val, "%lld", (long long)v->i);
    else snprintf(val, sizeof val, "%llu", (unsigned long long)v->u);
    if (r->dim == 1 && strcmp(r->what, "labels") == 0)
        return clvae_error(CLVAE_ERR_DATA, "%s: label %s at index %zu is outside 0..255", r->path,
                           val, sample);
    const char *valid = h->kind == CLVAE_DK_FLOAT ? "[0, 1]; scale float images to [0, 1]"
                        : h->kind == CLVAE_DK_BOOL ? "0/1 (a bool array)"
                                                   : "0..255; integer images hold 8-bit values";
    return clvae_error(CLVAE_ERR_DATA,
                       "%s: value %s at sample %zu, feature %zu (%s '%s') is outside %s",
                       r->path, val, sample, feature, name, h->descr, valid);
}

/* Stores one decoded element at dst index `at`; checks its range. */
static int store(const clvae_array_read *r, const clvae_array_header *h, const value *v,
                 size_t at)
{
    if (r->f32) {
        if (!(v->f >= 0.0 && v->f <= 1.0)) return -1;
        r->f32[at] = (float)v->f;
        return 0;
    }
    if (h->kind == CLVAE_DK_BOOL) {
        if (v->u > 1) return -1;
        r->u8[at] = v->u ? r->bool_one : 0;
    } else if (h->kind == CLVAE_DK_INT) {
        if (v->i < 0 || v->i > 255) return -1;
        r->u8[at] = (uint8_t)v->i;
    } else {
        if (v->u > 255) return -1;
        r->u8[at] = (uint8_t)v->u;
    }
    return 0;
}

/* Fortran order: for each feature position in file order, its C-order index (dim entries). */
static size_t *fortran_map(const clvae_array_header *h, size_t dim)
{
    size_t *map = malloc(dim * sizeof(size_t));
    int nd = h->ndim < CLVAE_ARRAY_MAX_DIMS ? h->ndim : CLVAE_ARRAY_MAX_DIMS;
    if (!map) return NULL;
    for (size_t r = 0; r < dim; r++) { /* r = j1 + d1 * (j2 + d2 * j3): j1 fastest */
        size_t rest = r, c = 0;
        size_t j[CLVAE_ARRAY_MAX_DIMS] = {0};
        for (int k = 1; k < nd; k++) {
            j[k] = rest % h->shape[k];
            rest /= h->shape[k];
        }
        for (int k = 1; k < nd; k++)
            c = c * h->shape[k] + j[k];
        map[r] = c;
    }
    return map;
}

/* Float32 in host order, C order: read straight into the destination, then check. */
static int read_direct(gzFile gz, const clvae_array_header *h, const clvae_array_read *r)
{
    size_t count = r->n_keep * r->dim;
    void *dst = r->u8 ? (void *)r->u8 : (void *)r->f32;
    int st = clvae_data_read(gz, r->path, dst, count * (size_t)h->size, r->what);
    for (size_t i = 0; !st && r->f32 && i < count; i++)
        if (!(r->f32[i] >= 0.0f && r->f32[i] <= 1.0f)) {
            value v = {.f = r->f32[i]};
            st = range_error(r, h, &v, i / r->dim, i % r->dim);
        }
    return st;
}

static int host_is_big_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 0;
}

int clvae_array_read_data(gzFile gz, const clvae_array_header *h, const clvae_array_read *r)
{
    size_t n_file = h->shape[0], dim = r->dim, es = (size_t)h->size;
    bool native = h->size == 1 || h->big_endian == (bool)host_is_big_endian();
    if (!h->fortran && native &&
        ((r->u8 && h->kind == CLVAE_DK_UINT && h->size == 1) ||
         (r->f32 && h->kind == CLVAE_DK_FLOAT && h->size == 4)))
        return read_direct(gz, h, r);
    /* C order: only the kept samples are read; Fortran order: the whole array is scanned. */
    size_t total = h->fortran ? n_file * dim : r->n_keep * dim, done = 0;
    size_t *map = h->fortran && dim > 1 ? fortran_map(h, dim) : NULL;
    uint8_t *chunk = malloc(CHUNK_ELEMS * es);
    int st = CLVAE_OK;
    if (!chunk || (h->fortran && dim > 1 && !map)) {
        st = clvae_error(CLVAE_ERR_NOMEM, "%s: out of memory", r->path);
        goto cleanup;
    }
    while (done < total && !st) {
        size_t m = total - done < CHUNK_ELEMS ? total - done : CHUNK_ELEMS, got;
        if ((st = clvae_data_read_some(gz, r->path, chunk, m * es, &got, r->what))) break;
        if (got < m * es) {
            st = clvae_error(CLVAE_ERR_DATA, "%s: truncated: expected %zu bytes of %s, got %zu",
                             r->path, total * es, r->what, done * es + got);
            break;
        }
        for (size_t e = 0; e < m; e++) {
            size_t p = done + e, sample = h->fortran ? p % n_file : p / dim;
            size_t feature = h->fortran ? (map ? map[p / n_file] : 0) : p % dim;
            value v = {0};
            if (sample >= r->n_keep) continue; /* Fortran order: a sample past the limit */
            decode(h, chunk + e * es, &v);
            if (store(r, h, &v, sample * dim + feature)) {
                st = range_error(r, h, &v, sample, feature);
                break;
            }
        }
        done += m;
    }
cleanup:
    free(map);
    free(chunk);
    return st;
}
