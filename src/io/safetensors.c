/* safetensors writer (atomic, Python-compatible header) and strict validating reader. */
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clvae/status.h"
#include "io/atomic.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this code assumes a little-endian host"
#endif

/* Largest integer a JSON number (a double) holds exactly. */
#define ST_MAX_INT 9007199254740992.0

typedef struct st_entry {
    char *name;
    clvae_st_dtype dtype;
    int ndim;
    size_t shape[CLVAE_ST_MAX_DIMS];
    size_t nbytes;
    const void *data;
} st_entry;

typedef struct st_kv {
    char *key;
    char *value;
} st_kv;

struct clvae_st_writer {
    st_entry *tensors;
    int n_tensors, cap_tensors;
    st_kv *meta;
    int n_meta, cap_meta;
};

struct clvae_st_file {
    char *path;
    unsigned char *buf; /* the whole file */
    size_t size;
    cJSON *root; /* parsed header; names and metadata strings point into it */
    clvae_st_tensor *tensors;
    void **copies; /* per tensor: an aligned copy when the in-file data is misaligned */
    int n_tensors;
    const char **meta_keys, **meta_values;
    int n_meta;
};

static const char *const dtype_names[] = {"F32", "F64", "I64", "U8"};
static const size_t dtype_sizes[] = {4, 8, 8, 1};

const char *clvae_st_dtype_name(clvae_st_dtype dtype)
{
    return (unsigned)dtype < 4 ? dtype_names[dtype] : NULL;
}

size_t clvae_st_dtype_size(clvae_st_dtype dtype)
{
    return (unsigned)dtype < 4 ? dtype_sizes[dtype] : 0;
}

static int dtype_from_name(const char *s, clvae_st_dtype *out)
{
    for (int i = 0; i < 4; i++) {
        if (!strcmp(s, dtype_names[i])) {
            *out = (clvae_st_dtype)i;
            return 1;
        }
    }
    return 0;
}

/* *out = a * b; 0 on overflow. */
static int mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

/* Grows a dynamic array so that it holds at least n+1 elements. */
static int grow(void **arr, int *cap, int n, size_t elem)
{
    if (n < *cap) return CLVAE_OK;
    int ncap = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, (size_t)ncap * elem);
    if (!p) return clvae_error(CLVAE_ERR_NOMEM, "safetensors: out of memory");
    *arr = p;
    *cap = ncap;
    return CLVAE_OK;
}

/* ------------------------------------------------------------------ writer */

int clvae_st_writer_new(clvae_st_writer **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? CLVAE_OK : clvae_error(CLVAE_ERR_NOMEM, "safetensors: out of memory");
}

void clvae_st_writer_free(clvae_st_writer *w)
{
    if (!w) return;
    for (int i = 0; i < w->n_tensors; i++)
        free(w->tensors[i].name);
    for (int i = 0; i < w->n_meta; i++) {
        free(w->meta[i].key);
        free(w->meta[i].value);
    }
    free(w->tensors);
    free(w->meta);
    free(w);
}

static int check_new_tensor(const clvae_st_writer *w, const char *name, clvae_st_dtype dtype,
                            int ndim, const size_t *shape, size_t *nbytes)
{
    if (!name || !*name || !strcmp(name, "__metadata__"))
        return clvae_error(CLVAE_ERR_INTERNAL, "safetensors: invalid tensor name '%s'",
                           name ? name : "(null)");
    if (!clvae_st_dtype_name(dtype) || ndim < 0 || ndim > CLVAE_ST_MAX_DIMS)
        return clvae_error(CLVAE_ERR_INTERNAL, "safetensors: tensor %s: bad dtype or ndim %d", name,
                           ndim);
    for (int i = 0; i < w->n_tensors; i++)
        if (!strcmp(w->tensors[i].name, name))
            return clvae_error(CLVAE_ERR_INTERNAL, "safetensors: duplicate tensor %s", name);
    size_t n = clvae_st_dtype_size(dtype);
    for (int d = 0; d < ndim; d++)
        if (!mul_size(n, shape[d], &n) || (double)n > ST_MAX_INT)
            return clvae_error(CLVAE_ERR_INTERNAL, "safetensors: tensor %s is too large", name);
    *nbytes = n;
    return CLVAE_OK;
}

int clvae_st_writer_add(clvae_st_writer *w, const char *name, clvae_st_dtype dtype, int ndim,
                        const size_t *shape, const void *data)
{
    size_t nbytes = 0;
    int st = check_new_tensor(w, name, dtype, ndim, shape, &nbytes);
    if (st) return st;
    if (nbytes > 0 && !data)
        return clvae_error(CLVAE_ERR_INTERNAL, "safetensors: tensor %s has no data", name);
    st = grow((void **)&w->tensors, &w->cap_tensors, w->n_tensors, sizeof *w->tensors);
    if (st) return st;
    st_entry *e = &w->tensors[w->n_tensors];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    if (!e->name) return clvae_error(CLVAE_ERR_NOMEM, "safetensors: out of memory");
    e->dtype = dtype;
    e->ndim = ndim;
    for (int d = 0; d < ndim; d++)
        e->shape[d] = shape[d];
    e->nbytes = nbytes;
    e->data = data;
    w->n_tensors++;
    return CLVAE_OK;
}

int clvae_st_writer_set_meta(clvae_st_writer *w, const char *key, const char *value)
{
    if (!key || !value)
        return clvae_error(CLVAE_ERR_INTERNAL, "safetensors: NULL metadata key or value");
    char *v = strdup(value);
    if (!v) return clvae_error(CLVAE_ERR_NOMEM, "safetensors: out of memory");
    for (int i = 0; i < w->n_meta; i++) {
        if (!strcmp(w->meta[i].key, key)) {
            free(w->meta[i].value);
            w->meta[i].value = v;
            return CLVAE_OK;
        }
    }
    int st = grow((void **)&w->meta, &w->cap_meta, w->n_meta, sizeof *w->meta);
    char *k = st ? NULL : strdup(key);
    if (!k) {
        free(v);
        return st ? st : clvae_error(CLVAE_ERR_NOMEM, "safetensors: out of memory");
    }
    w->meta[w->n_meta].key = k;
    w->meta[w->n_meta].value = v;
    w->n_meta++;
    return CLVAE_OK;
}

/* {"dtype": .., "shape": [..], "data_offsets": [begin, end]} */
static cJSON *tensor_json(const st_entry *e, size_t begin)
{
    cJSON *t = cJSON_CreateObject();
    cJSON *shape = cJSON_CreateArray();
    cJSON *offs = cJSON_CreateArray();
    int ok = t && shape && offs;
    for (int d = 0; ok && d < e->ndim; d++)
        ok = cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)e->shape[d]));
    ok = ok && cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)begin));
    ok = ok && cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(begin + e->nbytes)));
    ok = ok && cJSON_AddStringToObject(t, "dtype", clvae_st_dtype_name(e->dtype));
    ok = ok && cJSON_AddItemToObject(t, "shape", shape);
    if (ok) shape = NULL;
    ok = ok && cJSON_AddItemToObject(t, "data_offsets", offs);
    if (ok) return t;
    cJSON_Delete(shape);
    cJSON_Delete(offs);
    cJSON_Delete(t);
    return NULL;
}

/* The header JSON text (unpadded, malloc'd), or NULL when out of memory. */
static char *header_text(const clvae_st_writer *w)
{
    cJSON *root = cJSON_CreateObject();
    char *text = NULL;
    if (!root) return NULL;
    if (w->n_meta > 0) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        if (!meta) goto cleanup;
        for (int i = 0; i < w->n_meta; i++)
            if (!cJSON_AddStringToObject(meta, w->meta[i].key, w->meta[i].value)) goto cleanup;
    }
    size_t offset = 0;
    for (int i = 0; i < w->n_tensors; i++) {
        cJSON *t = tensor_json(&w->tensors[i], offset);
        if (!t) goto cleanup;
        if (!cJSON_AddItemToObject(root, w->tensors[i].name, t)) {
            cJSON_Delete(t);
            goto cleanup;
        }
        offset += w->tensors[i].nbytes;
    }
    text = cJSON_PrintUnformatted(root);
cleanup:
    cJSON_Delete(root);
    return text;
}

int clvae_st_write(const clvae_st_writer *w, const char *path)
{
    clvae_atomic_file af = {0};
    unsigned char len_bytes[8];
    char *text = header_text(w);
    if (!text) return clvae_error(CLVAE_ERR_NOMEM, "%s: out of memory building header", path);
    size_t len = strlen(text);
    size_t padded = (len + 7) / 8 * 8;
    for (int i = 0; i < 8; i++)
        len_bytes[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    int st = clvae_atomic_open(&af, path);
    if (st) goto cleanup;
    st = clvae_atomic_write(&af, len_bytes, 8);
    if (!st) st = clvae_atomic_write(&af, text, len);
    if (!st) st = clvae_atomic_write(&af, "        ", padded - len);
    for (int i = 0; !st && i < w->n_tensors; i++)
        st = clvae_atomic_write(&af, w->tensors[i].data, w->tensors[i].nbytes);
    if (st) {
        clvae_atomic_abort(&af);
        goto cleanup;
    }
    st = clvae_atomic_finish(&af);
cleanup:
    free(text);
    return st;
}

/* ------------------------------------------------------------------ reader */

static int bad(const char *path, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* CLVAE_ERR_CHECKPOINT with "PATH: bad safetensors file: <problem>". */
static int bad(const char *path, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return clvae_error(CLVAE_ERR_CHECKPOINT, "%s: bad safetensors file: %s", path, msg);
}

static int read_whole(clvae_st_file *f)
{
    struct stat sb;
    int st = CLVAE_OK;
    FILE *fp = fopen(f->path, "rb");
    if (!fp)
        return clvae_error(CLVAE_ERR_CHECKPOINT, "%s: cannot open checkpoint: %s", f->path,
                           strerror(errno));
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = clvae_error(CLVAE_ERR_CHECKPOINT, "%s: not a regular file", f->path);
        goto cleanup;
    }
    f->size = (size_t)sb.st_size;
    f->buf = malloc(f->size ? f->size : 1);
    if (!f->buf) {
        st = clvae_error(CLVAE_ERR_NOMEM, "%s: out of memory reading %zu bytes", f->path, f->size);
        goto cleanup;
    }
    if (fread(f->buf, 1, f->size, fp) != f->size)
        st = clvae_error(CLVAE_ERR_IO, "%s: read failed: %s", f->path,
                         ferror(fp) ? strerror(errno) : "file shrank while reading");
cleanup:
    fclose(fp);
    return st;
}

/* A JSON number that is a non-negative integer below 2^53. */
static int json_uint(const cJSON *item, size_t *out)
{
    if (!cJSON_IsNumber(item)) return 0;
    double v = item->valuedouble;
    if (!(v >= 0 && v < ST_MAX_INT) || v != (double)(uint64_t)v) return 0;
    *out = (size_t)v;
    return 1;
}

static int parse_offsets(clvae_st_file *f, const cJSON *t, size_t data_size, size_t *begin,
                         size_t *end)
{
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 ||
        !json_uint(cJSON_GetArrayItem(offs, 0), begin) ||
        !json_uint(cJSON_GetArrayItem(offs, 1), end))
        return bad(f->path, "tensor %s: missing or invalid data_offsets (want [begin, end])",
                   t->string);
    if (*begin > *end || *end > data_size)
        return bad(f->path, "tensor %s: data_offsets [%zu, %zu] out of range (data is %zu bytes)",
                   t->string, *begin, *end, data_size);
    return CLVAE_OK;
}

static int parse_tensor(clvae_st_file *f, const cJSON *t, size_t data_size, size_t *begin,
                        clvae_st_tensor *out)
{
    const char *name = t->string;
    size_t end = 0;
    if (!cJSON_IsObject(t)) return bad(f->path, "entry %s is not an object", name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype");
    if (!cJSON_IsString(dt)) return bad(f->path, "tensor %s: missing dtype", name);
    if (!dtype_from_name(dt->valuestring, &out->dtype))
        return bad(f->path, "tensor %s: unsupported dtype \"%s\" (valid: F32 F64 I64 U8)", name,
                   dt->valuestring);
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
    if (!cJSON_IsArray(shape) || cJSON_GetArraySize(shape) > CLVAE_ST_MAX_DIMS)
        return bad(f->path, "tensor %s: missing shape or more than %d dims", name,
                   CLVAE_ST_MAX_DIMS);
    out->name = name;
    out->ndim = cJSON_GetArraySize(shape);
    out->numel = 1;
    for (int d = 0; d < out->ndim; d++) {
        if (!json_uint(cJSON_GetArrayItem(shape, d), &out->shape[d]) ||
            !mul_size(out->numel, out->shape[d], &out->numel))
            return bad(f->path, "tensor %s: invalid shape entry %d", name, d);
    }
    int st = parse_offsets(f, t, data_size, begin, &end);
    if (st) return st;
    if (!mul_size(out->numel, clvae_st_dtype_size(out->dtype), &out->nbytes) ||
        out->nbytes != end - *begin)
        return bad(f->path, "tensor %s: %zu bytes in data_offsets but shape*dtype needs %zu", name,
                   end - *begin, out->nbytes);
    return CLVAE_OK;
}

static int parse_meta(clvae_st_file *f, const cJSON *meta)
{
    if (!cJSON_IsObject(meta)) return bad(f->path, "__metadata__ is not an object");
    int n = cJSON_GetArraySize(meta);
    f->meta_keys = calloc((size_t)n + 1, sizeof *f->meta_keys);
    f->meta_values = calloc((size_t)n + 1, sizeof *f->meta_values);
    if (!f->meta_keys || !f->meta_values)
        return clvae_error(CLVAE_ERR_NOMEM, "%s: out of memory", f->path);
    const cJSON *kv;
    cJSON_ArrayForEach(kv, meta)
    {
        if (!cJSON_IsString(kv))
            return bad(f->path, "__metadata__ value of %s is not a string", kv->string);
        f->meta_keys[f->n_meta] = kv->string;
        f->meta_values[f->n_meta++] = kv->valuestring;
    }
    return CLVAE_OK;
}

static int cmp_offset(const void *a, const void *b)
{
    const size_t *x = a, *y = b; /* (begin, end, index) triples */
    for (int i = 0; i < 3; i++)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    return 0;
}

/* Orders tensors by offset and requires them to tile [0, data_size) exactly (no overlap, gap or
 * trailing bytes), like the reference implementation. `keys` holds (begin, end, index). */
static int check_layout(clvae_st_file *f, size_t *keys, size_t data_size)
{
    int st = CLVAE_OK;
    size_t pos = 0;
    clvae_st_tensor *sorted = malloc(((size_t)f->n_tensors + 1) * sizeof *sorted);
    if (!sorted) return clvae_error(CLVAE_ERR_NOMEM, "%s: out of memory", f->path);
    qsort(keys, (size_t)f->n_tensors, 3 * sizeof *keys, cmp_offset);
    for (int i = 0; i < f->n_tensors; i++) {
        const size_t *k = &keys[3 * i];
        const clvae_st_tensor *t = &f->tensors[k[2]];
        if (k[0] != pos) {
            st = bad(f->path, "tensor %s: data starts at %zu, expected %zu (%s)", t->name, k[0],
                     pos, k[0] < pos ? "overlaps the previous tensor" : "gap before it");
            goto cleanup;
        }
        pos += t->nbytes;
        sorted[i] = *t;
    }
    if (pos != data_size) {
        st = bad(f->path, "%zu bytes of data after the last tensor", data_size - pos);
        goto cleanup;
    }
    memcpy(f->tensors, sorted, (size_t)f->n_tensors * sizeof *sorted);
cleanup:
    free(sorted);
    return st;
}

/* Points each tensor at its data, copying it when misaligned for its element type. */
static int bind_data(clvae_st_file *f, const unsigned char *data, const size_t *begins)
{
    f->copies = calloc((size_t)f->n_tensors + 1, sizeof *f->copies);
    if (!f->copies) return clvae_error(CLVAE_ERR_NOMEM, "%s: out of memory", f->path);
    for (int i = 0; i < f->n_tensors; i++) {
        clvae_st_tensor *t = &f->tensors[i];
        const unsigned char *p = data + begins[i];
        if ((uintptr_t)p % clvae_st_dtype_size(t->dtype) != 0) {
            f->copies[i] = malloc(t->nbytes);
            if (!f->copies[i]) return clvae_error(CLVAE_ERR_NOMEM, "%s: out of memory", f->path);
            memcpy(f->copies[i], p, t->nbytes);
            p = f->copies[i];
        }
        t->data = p;
    }
    return CLVAE_OK;
}

static int parse_entries(clvae_st_file *f, size_t data_size, const unsigned char *data)
{
    int n = cJSON_GetArraySize(f->root), st = CLVAE_OK;
    f->tensors = calloc((size_t)n + 1, sizeof *f->tensors);
    size_t *keys = calloc(3 * (size_t)n + 3, sizeof *keys);
    size_t *begins = calloc((size_t)n + 1, sizeof *begins);
    if (!f->tensors || !keys || !begins) {
        st = clvae_error(CLVAE_ERR_NOMEM, "%s: out of memory", f->path);
        goto cleanup;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, f->root)
    {
        if (!strcmp(item->string, "__metadata__")) {
            st = f->meta_keys ? bad(f->path, "two __metadata__ entries") : parse_meta(f, item);
        } else if (clvae_st_find(f, item->string)) {
            st = bad(f->path, "tensor %s appears twice", item->string);
        } else {
            size_t *k = &keys[3 * f->n_tensors];
            clvae_st_tensor *t = &f->tensors[f->n_tensors];
            st = parse_tensor(f, item, data_size, &k[0], t);
            k[1] = k[0] + t->nbytes;
            k[2] = (size_t)f->n_tensors;
            if (!st) f->n_tensors++;
        }
        if (st) goto cleanup;
    }
    st = check_layout(f, keys, data_size);
    for (int i = 0; !st && i < f->n_tensors; i++)
        begins[i] = keys[3 * i];
    if (!st) st = bind_data(f, data, begins);
cleanup:
    free(keys);
    free(begins);
    return st;
}

static int parse_file(clvae_st_file *f)
{
    if (f->size < 8)
        return bad(f->path,
                   "file is %zu bytes, shorter than the 8-byte header "
                   "length",
                   f->size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | f->buf[i];
    if (n > f->size - 8)
        return bad(f->path, "header length %llu runs past the end of the file (%zu bytes)",
                   (unsigned long long)n, f->size);
    const char *hdr = (const char *)f->buf + 8;
    const char *end = NULL;
    if (n == 0 || hdr[0] != '{') return bad(f->path, "header does not start with '{'");
    f->root = cJSON_ParseWithLengthOpts(hdr, (size_t)n, &end, 0);
    if (!f->root || !cJSON_IsObject(f->root))
        return bad(f->path, "header is not a valid JSON object (near byte %zu)",
                   (size_t)((end ? end : cJSON_GetErrorPtr()) - hdr) + 8);
    for (; end < hdr + n; end++)
        if (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\r')
            return bad(f->path, "junk after the header JSON at byte %zu", (size_t)(end - hdr) + 8);
    return parse_entries(f, f->size - 8 - (size_t)n, f->buf + 8 + n);
}

int clvae_st_open(const char *path, clvae_st_file **out)
{
    *out = NULL;
    clvae_st_file *f = calloc(1, sizeof *f);
    int st = CLVAE_OK;
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return clvae_error(CLVAE_ERR_NOMEM, "%s: out of memory", path);
    }
    st = read_whole(f);
    if (!st) st = parse_file(f);
    if (st) {
        clvae_st_close(f);
        return st;
    }
    *out = f;
    return CLVAE_OK;
}

void clvae_st_close(clvae_st_file *f)
{
    if (!f) return;
    for (int i = 0; f->copies && i < f->n_tensors; i++)
        free(f->copies[i]);
    free(f->copies);
    free(f->tensors);
    free(f->meta_keys);
    free(f->meta_values);
    cJSON_Delete(f->root);
    free(f->buf);
    free(f->path);
    free(f);
}

/* ------------------------------------------------------------------ reader accessors */

const clvae_st_tensor *clvae_st_find(const clvae_st_file *f, const char *name)
{
    for (int i = 0; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

static void format_shape(char *buf, size_t size, int ndim, const size_t *shape)
{
    int n = snprintf(buf, size, "(");
    for (int d = 0; d < ndim && n > 0 && (size_t)n < size; d++)
        n += snprintf(buf + n, size - (size_t)n, d ? ", %zu" : "%zu", shape[d]);
    if (n > 0 && (size_t)n < size) snprintf(buf + n, size - (size_t)n, ")");
}

int clvae_st_expect(const clvae_st_file *f, const char *name, clvae_st_dtype dtype, int ndim,
                    const size_t *shape, const void **data)
{
    char got[128], want[128];
    const clvae_st_tensor *t = clvae_st_find(f, name);
    if (!t) return clvae_error(CLVAE_ERR_CHECKPOINT, "%s: tensor %s is missing", f->path, name);
    if (t->dtype != dtype)
        return clvae_error(CLVAE_ERR_CHECKPOINT, "%s: tensor %s has dtype %s, expected %s", f->path,
                           name, clvae_st_dtype_name(t->dtype), clvae_st_dtype_name(dtype));
    int same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = t->shape[d] == shape[d];
    if (!same) {
        format_shape(got, sizeof got, t->ndim, t->shape);
        format_shape(want, sizeof want, ndim, shape);
        return clvae_error(CLVAE_ERR_CHECKPOINT, "%s: tensor %s has shape %s, expected %s", f->path,
                           name, got, want);
    }
    *data = t->data;
    return CLVAE_OK;
}

int clvae_st_count(const clvae_st_file *f)
{
    return f->n_tensors;
}

const clvae_st_tensor *clvae_st_tensor_at(const clvae_st_file *f, int i)
{
    return i >= 0 && i < f->n_tensors ? &f->tensors[i] : NULL;
}

const char *clvae_st_meta(const clvae_st_file *f, const char *key)
{
    for (int i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta_keys[i], key)) return f->meta_values[i];
    return NULL;
}

int clvae_st_meta_count(const clvae_st_file *f)
{
    return f->n_meta;
}

void clvae_st_meta_at(const clvae_st_file *f, int i, const char **key, const char **value)
{
    int ok = i >= 0 && i < f->n_meta;
    *key = ok ? f->meta_keys[i] : NULL;
    *value = ok ? f->meta_values[i] : NULL;
}

const char *clvae_st_path(const clvae_st_file *f)
{
    return f->path;
}
