/* File formats in src/io: safetensors round trip/validation, atomic writes, PNG, NPY, SVG, JSONL.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clvae/status.h"
#include "io/jsonl.h"
#include "io/npy.h"
#include "io/png.h"
#include "io/safetensors.h"
#include "io/svg.h"
#include "testutil.h"

/* ------------------------------------------------------------------ helpers */

/* A scratch path (tu_tmp_path returns a static buffer; this copies it). */
static char *tmp(const char *leaf)
{
    static char bufs[16][4096];
    static int next = 0;
    char *b = bufs[next++ % 16];
    snprintf(b, 4096, "%s", tu_tmp_path(leaf));
    return b;
}

static unsigned char *slurp(const char *path, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf) buf[n] = 0;
    fclose(fp);
    *size = (size_t)n;
    return buf;
}

static void spit(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) return;
    fwrite(data, 1, n, fp);
    fclose(fp);
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static int count_substr(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static int have_python(const char *imports)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "python3 -c 'import %s' >/dev/null 2>&1", imports);
    return system(cmd) == 0;
}

/* Runs a python script (written to a scratch file) with arguments; returns its exit status. */
static int run_python(const char *script, const char *args)
{
    char *path = tmp("io_check.py");
    spit(path, script, strlen(script));
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "python3 %s %s", path, args);
    int rc = system(cmd);
    return rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* ------------------------------------------------------------------ safetensors */

static float w0[6] = {1, -2, 3.5f, 4, 5e-8f, -6e10f};
static float b0[3] = {0.1f, 0.2f, 0.3f};
static double d0[4] = {1.0 / 3, -2.5, 1e300, 0};
static int64_t step0 = 123456789012345LL;
static unsigned char u0[5] = {0, 1, 2, 254, 255};
static float after_u8[4] = {7, 8, 9, 10}; /* lands at an odd offset: must come back aligned */

static int write_sample(const char *path)
{
    clvae_st_writer *w = NULL;
    size_t s23[2] = {2, 3}, s3[1] = {3}, s22[2] = {2, 2}, s5[1] = {5}, s4[1] = {4}, s03[2] = {0, 3};
    int st = clvae_st_writer_new(&w);
    if (!st) st = clvae_st_writer_add(w, "encoder.0.weight", CLVAE_ST_F32, 2, s23, w0);
    if (!st) st = clvae_st_writer_add(w, "encoder.0.bias", CLVAE_ST_F32, 1, s3, b0);
    if (!st) st = clvae_st_writer_add(w, "adam.m", CLVAE_ST_F64, 2, s22, d0);
    if (!st) st = clvae_st_writer_add(w, "step", CLVAE_ST_I64, 0, NULL, &step0);
    if (!st) st = clvae_st_writer_add(w, "rng", CLVAE_ST_U8, 1, s5, u0);
    if (!st) st = clvae_st_writer_add(w, "after_u8", CLVAE_ST_F32, 1, s4, after_u8);
    if (!st) st = clvae_st_writer_add(w, "empty", CLVAE_ST_F32, 2, s03, NULL);
    if (!st) st = clvae_st_writer_set_meta(w, "format", "pt");
    if (!st) st = clvae_st_writer_set_meta(w, "config", "[model]\nlatent = 20 \"q\" \\ é");
    if (!st) st = clvae_st_writer_set_meta(w, "format", "pt2"); /* replaces */
    if (!st) st = clvae_st_write(w, path);
    clvae_st_writer_free(w);
    return st;
}

static void test_st_writer_errors(void)
{
    clvae_st_writer *w = NULL;
    size_t s1[1] = {1};
    float x = 0;
    CHECK(clvae_st_writer_new(&w) == CLVAE_OK, "new");
    CHECK(clvae_st_writer_add(w, "a", CLVAE_ST_F32, 1, s1, &x) == CLVAE_OK, "add");
    CHECK(clvae_st_writer_add(w, "a", CLVAE_ST_F32, 1, s1, &x) == CLVAE_ERR_INTERNAL, "dup");
    CHECK(clvae_st_writer_add(w, "", CLVAE_ST_F32, 1, s1, &x) == CLVAE_ERR_INTERNAL, "empty");
    CHECK(clvae_st_writer_add(w, "__metadata__", CLVAE_ST_F32, 1, s1, &x) == CLVAE_ERR_INTERNAL,
          "reserved");
    CHECK(clvae_st_writer_add(w, "b", CLVAE_ST_F32, 5, s1, &x) == CLVAE_ERR_INTERNAL, "ndim 5");
    CHECK(clvae_st_writer_add(w, "c", (clvae_st_dtype)9, 1, s1, &x) == CLVAE_ERR_INTERNAL, "dtype");
    clvae_st_writer_free(w);
}

/* Metadata and clvae_st_expect on the sample file. */
static void test_st_accessors(const clvae_st_file *f)
{
    CHECK(clvae_st_meta(f, "format") && !strcmp(clvae_st_meta(f, "format"), "pt2"), "meta");
    CHECK(clvae_st_meta(f, "config") &&
              !strcmp(clvae_st_meta(f, "config"), "[model]\nlatent = 20 \"q\" \\ é"),
          "meta escaping");
    CHECK(clvae_st_meta(f, "nope") == NULL, "absent meta");
    CHECK(clvae_st_meta_count(f) == 2, "meta count");
    const char *k = NULL, *v = NULL;
    clvae_st_meta_at(f, 0, &k, &v);
    CHECK(k && v && !strcmp(k, "format"), "meta_at");

    const void *data = NULL;
    size_t s23[2] = {2, 3}, s32[2] = {3, 2};
    CHECK(clvae_st_expect(f, "encoder.0.weight", CLVAE_ST_F32, 2, s23, &data) == CLVAE_OK &&
              data == clvae_st_find(f, "encoder.0.weight")->data,
          "expect ok");
    CHECK(clvae_st_expect(f, "encoder.0.weight", CLVAE_ST_F32, 2, s32, &data) ==
                  CLVAE_ERR_CHECKPOINT &&
              strstr(clvae_last_error(), "(2, 3)") && strstr(clvae_last_error(), "(3, 2)") &&
              strstr(clvae_last_error(), "io_rt.safetensors"),
          "expect shape: %s", clvae_last_error());
    CHECK(clvae_st_expect(f, "encoder.0.weight", CLVAE_ST_F64, 2, s23, &data) ==
              CLVAE_ERR_CHECKPOINT,
          "expect dtype");
    CHECK(clvae_st_expect(f, "missing", CLVAE_ST_F32, 2, s23, &data) == CLVAE_ERR_CHECKPOINT &&
              strstr(clvae_last_error(), "missing"),
          "expect missing");
}

static void test_st_roundtrip(void)
{
    const char *path = tmp("io_rt.safetensors");
    CHECK(write_sample(path) == CLVAE_OK, "write: %s", clvae_last_error());
    CHECK(!exists(tmp("io_rt.safetensors.tmp")), "tmp file left behind");
    clvae_st_file *f = NULL;
    int st = clvae_st_open(path, &f);
    CHECK(st == CLVAE_OK && f, "open: %s", clvae_last_error());
    if (!f) return;
    CHECK(clvae_st_count(f) == 7, "count %d", clvae_st_count(f));
    const char *order[7] = {"encoder.0.weight", "encoder.0.bias", "adam.m", "step", "rng",
                            "after_u8",         "empty"};
    for (int i = 0; i < 7 && i < clvae_st_count(f); i++) {
        const clvae_st_tensor *t = clvae_st_tensor_at(f, i);
        /* "empty" has zero bytes at the very end; it may sort anywhere at that offset. */
        if (strcmp(order[i], "empty") && strcmp(t->name, "empty"))
            CHECK(!strcmp(t->name, order[i]), "order %d: %s", i, t->name);
    }
    const clvae_st_tensor *t = clvae_st_find(f, "encoder.0.weight");
    CHECK(t && t->dtype == CLVAE_ST_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3,
          "weight info");
    CHECK(t && t->numel == 6 && t->nbytes == 24 && !memcmp(t->data, w0, 24), "weight data");
    t = clvae_st_find(f, "encoder.0.bias");
    CHECK(t && t->ndim == 1 && t->shape[0] == 3 && !memcmp(t->data, b0, 12), "bias");
    t = clvae_st_find(f, "adam.m");
    CHECK(t && t->dtype == CLVAE_ST_F64 && !memcmp(t->data, d0, 32), "f64");
    t = clvae_st_find(f, "step");
    CHECK(t && t->dtype == CLVAE_ST_I64 && t->ndim == 0 && t->numel == 1 &&
              *(const int64_t *)t->data == step0,
          "i64 scalar");
    t = clvae_st_find(f, "rng");
    CHECK(t && t->dtype == CLVAE_ST_U8 && t->nbytes == 5 && !memcmp(t->data, u0, 5), "u8");
    t = clvae_st_find(f, "after_u8");
    CHECK(t && (uintptr_t)t->data % 4 == 0 && !memcmp(t->data, after_u8, 16), "aligned f32");
    t = clvae_st_find(f, "empty");
    CHECK(t && t->numel == 0 && t->nbytes == 0 && t->ndim == 2 && t->shape[1] == 3, "empty");
    CHECK(clvae_st_find(f, "nope") == NULL, "absent tensor");
    test_st_accessors(f);
    clvae_st_close(f);
}

/* The layout the reference implementation writes: 8-byte LE length N (N % 8 == 0), JSON padded
 * with spaces, data_offsets contiguous from 0 in insertion order, data to the end of file. */
static void test_st_header_layout(void)
{
    const char *path = tmp("io_rt.safetensors");
    size_t size = 0;
    unsigned char *buf = slurp(path, &size);
    CHECK(buf && size > 8, "read back");
    if (!buf) return;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | buf[i];
    CHECK(n % 8 == 0 && n + 8 <= size, "header length %llu", (unsigned long long)n);
    CHECK(buf[8] == '{', "starts with {");
    size_t end = 8 + n;
    while (end > 8 && buf[end - 1] == ' ')
        end--;
    CHECK(buf[end - 1] == '}' && 8 + n - end < 8, "space padding");
    cJSON *root = cJSON_ParseWithLength((const char *)buf + 8, n);
    CHECK(root != NULL, "header parses");
    size_t pos = 0;
    int tensors = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, root)
    {
        if (!strcmp(item->string, "__metadata__")) {
            CHECK(cJSON_IsString(cJSON_GetObjectItem(item, "format")), "metadata strings");
            continue;
        }
        const cJSON *offs = cJSON_GetObjectItem(item, "data_offsets");
        CHECK(cJSON_GetArraySize(offs) == 2, "offsets");
        double b = cJSON_GetArrayItem(offs, 0)->valuedouble;
        double e = cJSON_GetArrayItem(offs, 1)->valuedouble;
        CHECK(b == (double)pos && e >= b, "%s: offsets [%g, %g] not contiguous at %zu",
              item->string, b, e, pos);
        CHECK(cJSON_IsString(cJSON_GetObjectItem(item, "dtype")), "dtype");
        CHECK(cJSON_IsArray(cJSON_GetObjectItem(item, "shape")), "shape");
        pos = (size_t)e;
        tensors++;
    }
    CHECK(tensors == 7 && pos == size - 8 - n, "data fills the file: %zu vs %zu", pos,
          (size_t)(size - 8 - n));
    cJSON_Delete(root);
    free(buf);
}

static const char *st_py_check =
    "import json, struct, sys\n"
    "sizes = {'F32': 4, 'F64': 8, 'I64': 8, 'U8': 1}\n"
    "data = open(sys.argv[1], 'rb').read()\n"
    "(n,) = struct.unpack('<Q', data[:8])\n"
    "assert n % 8 == 0, 'header length not a multiple of 8'\n"
    "raw = data[8:8 + n]\n"
    "assert raw[:1] == b'{' and raw.rstrip(b' ').endswith(b'}'), 'padding'\n"
    "hdr = json.loads(raw.decode('utf-8'))\n"
    "meta = hdr.pop('__metadata__', {})\n"
    "assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())\n"
    "assert meta['format'] == 'pt2'\n"
    "pos = 0\n"
    "for name, t in sorted(hdr.items(), key=lambda kv: tuple(kv[1]['data_offsets'])):\n"
    "    b, e = t['data_offsets']\n"
    "    assert type(b) is int and type(e) is int and b == pos, (name, b, pos)\n"
    "    numel = 1\n"
    "    for d in t['shape']:\n"
    "        assert type(d) is int and d >= 0\n"
    "        numel *= d\n"
    "    assert e - b == numel * sizes[t['dtype']], name\n"
    "    pos = e\n"
    "assert pos == len(data) - 8 - n, 'trailing bytes'\n"
    "w = hdr['encoder.0.weight']\n"
    "assert w['shape'] == [2, 3] and w['dtype'] == 'F32'\n"
    "vals = struct.unpack('<6f', data[8 + n + w['data_offsets'][0]:][:24])\n"
    "assert vals[2] == 3.5 and vals[1] == -2.0, vals\n"
    "(step,) = struct.unpack('<q', data[8 + n + hdr['step']['data_offsets'][0]:][:8])\n"
    "assert step == 123456789012345, step\n";

/* With the reference library installed: it loads our file, and we load one it wrote. */
static const char *st_lib_check =
    "import sys\n"
    "try:\n"
    "    import numpy as np\n"
    "    from safetensors import safe_open\n"
    "    from safetensors.numpy import load_file, save_file\n"
    "except ImportError:\n"
    "    sys.exit(3)\n"
    "t = load_file(sys.argv[1])\n"
    "w = t['encoder.0.weight']\n"
    "assert w.shape == (2, 3) and w.dtype == np.float32 and w[0, 2] == 3.5, w\n"
    "assert t['adam.m'].dtype == np.float64 and t['adam.m'][1, 0] == 1e300\n"
    "assert t['step'].shape == () and int(t['step']) == 123456789012345\n"
    "assert (t['rng'] == np.array([0, 1, 2, 254, 255], np.uint8)).all()\n"
    "assert (t['after_u8'] == np.array([7, 8, 9, 10], np.float32)).all()\n"
    "assert t['empty'].shape == (0, 3)\n"
    "with safe_open(sys.argv[1], 'np') as f:\n"
    "    assert f.metadata()['format'] == 'pt2'\n"
    "save_file({'w': np.arange(6, dtype=np.float32).reshape(2, 3),\n"
    "           'u': np.array([1, 2, 3], np.uint8), 'd': np.array([0.5], np.float64),\n"
    "           'i': np.array([-7], np.int64)}, sys.argv[2], metadata={'k': 'v'})\n";

static void test_st_reference_lib(void)
{
    char args[9000];
    char *theirs = tmp("io_theirs.safetensors");
    unlink(theirs);
    snprintf(args, sizeof args, "%s %s", tmp("io_rt.safetensors"), theirs);
    int rc = run_python(st_lib_check, args);
    if (rc == 3) {
        printf("note: python safetensors/numpy not available, skipping the library cross-check\n");
        return;
    }
    CHECK(rc == 0, "python safetensors cross-check: exit %d", rc);
    clvae_st_file *f = NULL;
    CHECK(clvae_st_open(theirs, &f) == CLVAE_OK, "open file written by safetensors: %s",
          clvae_last_error());
    if (!f) return;
    const void *d = NULL;
    size_t s23[2] = {2, 3}, s3[1] = {3}, s1[1] = {1};
    CHECK(clvae_st_expect(f, "w", CLVAE_ST_F32, 2, s23, &d) == CLVAE_OK &&
              ((const float *)d)[5] == 5.0f,
          "their w");
    CHECK(clvae_st_expect(f, "u", CLVAE_ST_U8, 1, s3, &d) == CLVAE_OK &&
              ((const unsigned char *)d)[2] == 3,
          "their u");
    CHECK(clvae_st_expect(f, "d", CLVAE_ST_F64, 1, s1, &d) == CLVAE_OK &&
              ((const double *)d)[0] == 0.5,
          "their d");
    CHECK(clvae_st_expect(f, "i", CLVAE_ST_I64, 1, s1, &d) == CLVAE_OK &&
              ((const int64_t *)d)[0] == -7,
          "their i");
    CHECK(clvae_st_meta(f, "k") && !strcmp(clvae_st_meta(f, "k"), "v"), "their metadata");
    clvae_st_close(f);
}

static void test_st_python(void)
{
    if (!have_python("json, struct")) {
        printf("note: python3 not available, skipping the python safetensors checks\n");
        return;
    }
    CHECK(run_python(st_py_check, tmp("io_rt.safetensors")) == 0, "python header check");
    test_st_reference_lib();
}

/* Writes "<len><header><data_len zero bytes>"; header_len < 0 uses strlen(header). */
static void write_raw_st(const char *path, long long header_len, const char *header,
                         size_t data_len)
{
    size_t hl = strlen(header);
    uint64_t n = header_len < 0 ? (uint64_t)hl : (uint64_t)header_len;
    unsigned char *buf = calloc(1, 8 + hl + data_len);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(n >> (8 * i));
    memcpy(buf + 8, header, hl);
    spit(path, buf, 8 + hl + data_len);
    free(buf);
}

static void expect_corrupt(const char *leaf, const char *why)
{
    clvae_st_file *f = (clvae_st_file *)1;
    int st = clvae_st_open(tmp(leaf), &f);
    CHECK(st == CLVAE_ERR_CHECKPOINT, "%s (%s): status %d", leaf, why, st);
    CHECK(f == NULL, "%s: file handle not cleared", leaf);
    CHECK(strstr(clvae_last_error(), leaf) != NULL, "%s: message does not name the file: %s", leaf,
          clvae_last_error());
    CHECK(strchr(clvae_last_error(), '\n') == NULL, "%s: message not one line", leaf);
    if (st == CLVAE_ERR_CHECKPOINT && getenv("CLVAE_TEST_VERBOSE"))
        printf("  %s: %s\n", why, clvae_last_error());
}

/* Damaged copies of the sample file. */
static void test_st_corrupt(void)
{
    size_t size = 0;
    unsigned char *good = slurp(tmp("io_rt.safetensors"), &size);
    CHECK(good != NULL, "good file");
    if (!good) return;
    spit(tmp("io_c_short.st"), good, 5);
    expect_corrupt("io_c_short.st", "shorter than 8 bytes");
    spit(tmp("io_c_empty.st"), good, 0);
    expect_corrupt("io_c_empty.st", "empty");
    spit(tmp("io_c_trunc.st"), good, size - 3);
    expect_corrupt("io_c_trunc.st", "truncated data");
    spit(tmp("io_c_trunchdr.st"), good, 40);
    expect_corrupt("io_c_trunchdr.st", "truncated header");
    unsigned char grown[4096];
    memcpy(grown, good, size < 4000 ? size : 4000);
    memset(grown + size, 0, 4);
    spit(tmp("io_c_trailing.st"), grown, size + 4);
    expect_corrupt("io_c_trailing.st", "trailing bytes");
    free(good);
}

/* Hand-made headers, one problem each: {file, header length (-1: its real length), header JSON,
 * data bytes, what is wrong}. */
typedef struct bad_header {
    const char *leaf;
    long long hlen;
    const char *json;
    size_t data;
    const char *why;
} bad_header;

#define ST_A(dtype, shape, offs)                                                                   \
    "{\"a\":{\"dtype\":\"" dtype "\",\"shape\":[" shape "],\"data_offsets\":[" offs "]}}"

static const bad_header bad_headers[] = {
    {"io_c_huge.st", 0x7fffffffffffLL, ST_A("F32", "2", "0,8"), 8, "header length huge"},
    {"io_c_hlen.st", 64, ST_A("F32", "2", "0,8"), 0, "header length beyond file"},
    {"io_c_json.st", -1, "{\"a\":{\"dtype\":\"F32\",", 8, "bad JSON"},
    {"io_c_notobj.st", -1, "[1, 2]", 0, "not an object"},
    {"io_c_dtype.st", -1, ST_A("F17", "2", "0,8"), 8, "wrong dtype"},
    {"io_c_nodtype.st", -1, "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "no dtype"},
    {"io_c_noshape.st", -1, "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "no shape"},
    {"io_c_negshape.st", -1, ST_A("U8", "-8", "0,8"), 8, "negative shape"},
    {"io_c_5d.st", -1, ST_A("U8", "1,1,1,1,8", "0,8"), 8, "5 dims"},
    {"io_c_nooffs.st", -1, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "no data_offsets"},
    {"io_c_fracoffs.st", -1, ST_A("U8", "8", "0,8.5"), 8, "fractional offset"},
    {"io_c_range.st", -1, ST_A("F32", "100", "0,400"), 16, "offsets out of range"},
    {"io_c_backw.st", -1, ST_A("F32", "0", "8,0"), 8, "begin > end"},
    {"io_c_size.st", -1, ST_A("F32", "2,3", "0,16"), 16, "shape/size mismatch"},
    {"io_c_overlap.st", -1,
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     12, "overlapping tensors"},
    {"io_c_gap.st", -1, ST_A("F32", "1", "4,8"), 8, "gap"},
    {"io_c_dup.st", -1,
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
     "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
     2, "duplicate name"},
    {"io_c_meta.st", -1, "{\"__metadata__\":{\"k\":3}}", 0, "non-string metadata"},
    {"io_c_junk.st", -1, "{}  x", 0, "junk after JSON"},
};

static void test_st_corrupt_headers(void)
{
    write_raw_st(tmp("io_c_ok.st"), -1, ST_A("F32", "2", "0,8"), 8);
    clvae_st_file *f = NULL;
    CHECK(clvae_st_open(tmp("io_c_ok.st"), &f) == CLVAE_OK, "hand-made file: %s",
          clvae_last_error());
    clvae_st_close(f);
    for (size_t i = 0; i < sizeof bad_headers / sizeof bad_headers[0]; i++) {
        const bad_header *b = &bad_headers[i];
        write_raw_st(tmp(b->leaf), b->hlen, b->json, b->data);
        expect_corrupt(b->leaf, b->why);
    }
    unlink(tmp("io_c_missing.st"));
    expect_corrupt("io_c_missing.st", "missing file");
}

/* A failed write must leave the destination (or any other file) untouched and no .tmp behind. */
static void test_atomic_failures(void)
{
    const char *path = tmp("io_atomic.safetensors");
    char tmp_path[4200], dir_path[4200];
    snprintf(tmp_path, sizeof tmp_path, "%s.tmp", path);
    rmdir(tmp_path);
    CHECK(write_sample(path) == CLVAE_OK, "first write: %s", clvae_last_error());
    size_t n0 = 0, n1 = 0;
    unsigned char *before = slurp(path, &n0);

    /* 1: the rename target is a directory -> rename fails after the data was written. */
    snprintf(dir_path, sizeof dir_path, "%s", tmp("io_atomic_dir.safetensors"));
    mkdir(dir_path, 0755);
    int st = write_sample(dir_path);
    CHECK(st == CLVAE_ERR_IO, "rename onto a directory: status %d", st);
    CHECK(strstr(clvae_last_error(), "io_atomic_dir.safetensors") != NULL, "message: %s",
          clvae_last_error());
    struct stat sb;
    CHECK(stat(dir_path, &sb) == 0 && S_ISDIR(sb.st_mode), "directory still there");
    char dir_tmp[4300];
    snprintf(dir_tmp, sizeof dir_tmp, "%s.tmp", dir_path);
    CHECK(!exists(dir_tmp), "tmp file removed after failed rename");
    rmdir(dir_path);

    /* 2: PATH.tmp cannot be created (it is a directory) -> PATH keeps its old content. */
    mkdir(tmp_path, 0755);
    static float other[2] = {42, 43};
    size_t s2[1] = {2};
    clvae_st_writer *w = NULL;
    clvae_st_writer_new(&w);
    clvae_st_writer_add(w, "other", CLVAE_ST_F32, 1, s2, other);
    CHECK(clvae_st_write(w, path) == CLVAE_ERR_IO, "write with blocked tmp must fail");
    rmdir(tmp_path);
    unsigned char *after = slurp(path, &n1);
    CHECK(before && after && n0 == n1 && !memcmp(before, after, n0), "old file unchanged");
    free(after);

    /* 3: a directory that does not exist. */
    CHECK(clvae_st_write(w, tmp("io_no_such_dir/x.safetensors")) == CLVAE_ERR_IO, "no dir");

    /* 4: a successful write replaces the old content. */
    CHECK(clvae_st_write(w, path) == CLVAE_OK, "overwrite: %s", clvae_last_error());
    CHECK(!exists(tmp_path), "no tmp after overwrite");
    clvae_st_file *f = NULL;
    CHECK(clvae_st_open(path, &f) == CLVAE_OK && clvae_st_count(f) == 1 &&
              clvae_st_find(f, "other"),
          "new content");
    clvae_st_close(f);
    clvae_st_writer_free(w);
    free(before);
}

/* ------------------------------------------------------------------ PNG */

static unsigned char expect_u8(float v)
{
    if (!(v > 0)) return 0;
    if (v >= 1) return 255;
    return (unsigned char)lrintf(v * 255.0f);
}

static void test_png(void)
{
    enum { N = 5, H = 3, W = 4, COLS = 3, PAD = 1 };
    float img[N * H * W];
    for (int i = 0; i < N * H * W; i++)
        img[i] = (float)i / (N * H * W - 1);
    img[0] = -0.5f, img[1] = 1.5f, img[2] = NAN;
    const char *path = tmp("io_grid.png");
    CHECK(clvae_png_write_grid(path, img, N, H, W, COLS, PAD) == CLVAE_OK, "png write: %s",
          clvae_last_error());
    int gw = 0, gh = 0;
    unsigned char *px = NULL;
    CHECK(clvae_png_read_gray(path, &gw, &gh, &px) == CLVAE_OK, "png read: %s", clvae_last_error());
    CHECK(gw == COLS * W + (COLS + 1) * PAD && gh == 2 * H + 3 * PAD, "size %dx%d", gw, gh);
    if (!px || gw != 16 || gh != 9) {
        free(px);
        return;
    }
    int bad = 0;
    for (int y = 0; y < gh; y++) {
        for (int x = 0; x < gw; x++) {
            int cy = (y - PAD) / (H + PAD), iy = (y - PAD) % (H + PAD);
            int cx = (x - PAD) / (W + PAD), ix = (x - PAD) % (W + PAD);
            int cell = cy * COLS + cx;
            int inside = y >= PAD && x >= PAD && iy < H && ix < W && cell < N;
            unsigned char want =
                inside ? expect_u8(img[(cell * H + iy) * W + ix]) : CLVAE_PNG_BORDER;
            if (px[y * gw + x] != want) bad++;
        }
    }
    CHECK(bad == 0, "%d pixels differ", bad);
    CHECK(px[PAD * gw + PAD] == 0 && px[PAD * gw + PAD + 1] == 255 && px[PAD * gw + PAD + 2] == 0,
          "clamping and NaN");
    free(px);

    CHECK(clvae_png_write_grid(path, img, N, H, W, 0, 2) == CLVAE_OK, "auto cols");
    CHECK(clvae_png_read_gray(path, &gw, &gh, &px) == CLVAE_OK, "read auto");
    CHECK(gw == 3 * W + 4 * 2 && gh == 2 * H + 3 * 2, "auto cols size %dx%d", gw, gh);
    free(px);
    CHECK(!exists(tmp("io_grid.png.tmp")), "no tmp");
    CHECK(clvae_png_write_grid(path, img, 0, H, W, 1, 0) == CLVAE_ERR_INTERNAL, "n=0");
    const char *notpng = tmp("io_notpng.png");
    spit(notpng, "hello world, not a png", 22);
    px = NULL;
    CHECK(clvae_png_read_gray(notpng, &gw, &gh, &px) == CLVAE_ERR_DATA && px == NULL, "not png");
}

/* ------------------------------------------------------------------ NPY */

/* Checks magic, version, 64-byte alignment and the exact dict text; returns the data offset. */
static size_t check_npy_header(const unsigned char *buf, size_t size, const char *dict)
{
    CHECK(size >= 10 && !memcmp(buf, "\x93NUMPY", 6), "npy magic");
    CHECK(buf[6] == 1 && buf[7] == 0, "npy version %d.%d", buf[6], buf[7]);
    size_t hlen = buf[8] | (size_t)buf[9] << 8;
    CHECK((10 + hlen) % 64 == 0 && 10 + hlen <= size, "npy header alignment: %zu", 10 + hlen);
    CHECK(!strncmp((const char *)buf + 10, dict, strlen(dict)), "npy dict: %.*s", (int)hlen,
          buf + 10);
    CHECK(buf[10 + hlen - 1] == '\n', "npy header ends with newline");
    for (size_t i = 10 + strlen(dict); i < 10 + hlen - 1; i++)
        if (buf[i] != ' ') {
            CHECK(0, "npy padding is not spaces at %zu", i);
            break;
        }
    return 10 + hlen;
}

static const char *npy_py_check =
    "import ast, sys\n"
    "for path, descr, shape in [(sys.argv[1], '<f4', (2, 3)), (sys.argv[2], '|u1', (7,)),\n"
    "                           (sys.argv[3], '<f4', ())]:\n"
    "    raw = open(path, 'rb').read()\n"
    "    n = raw[8] | raw[9] << 8\n"
    "    d = ast.literal_eval(raw[10:10 + n].decode('latin1'))\n"
    "    assert d == {'descr': descr, 'fortran_order': False, 'shape': shape}, d\n"
    "try:\n"
    "    import numpy as np\n"
    "except ImportError:\n"
    "    sys.exit(3)\n"
    "a = np.load(sys.argv[1])\n"
    "assert a.dtype == np.float32 and a.shape == (2, 3)\n"
    "assert (a == np.arange(6, dtype=np.float32).reshape(2, 3) * 0.25 - 1).all(), a\n"
    "b = np.load(sys.argv[2])\n"
    "assert b.dtype == np.uint8 and (b == np.array([0, 1, 2, 3, 4, 250, 255])).all(), b\n"
    "c = np.load(sys.argv[3])\n"
    "assert c.shape == () and c == np.float32(2.5), c\n";

static void test_npy(void)
{
    float f[6];
    for (int i = 0; i < 6; i++)
        f[i] = i * 0.25f - 1;
    unsigned char u[7] = {0, 1, 2, 3, 4, 250, 255};
    float scalar = 2.5f;
    size_t s23[2] = {2, 3}, s7[1] = {7};
    char *pf = tmp("io_a.npy"), *pu = tmp("io_b.npy"), *ps = tmp("io_c.npy");
    CHECK(clvae_npy_write_f32(pf, f, 2, s23) == CLVAE_OK, "npy f32: %s", clvae_last_error());
    CHECK(clvae_npy_write_u8(pu, u, 1, s7) == CLVAE_OK, "npy u8: %s", clvae_last_error());
    CHECK(clvae_npy_write_f32(ps, &scalar, 0, NULL) == CLVAE_OK, "npy scalar");
    CHECK(clvae_npy_write_f32(pf, f, 9, s23) == CLVAE_ERR_INTERNAL, "npy ndim 9");
    size_t size = 0;
    unsigned char *buf = slurp(pf, &size);
    if (buf) {
        size_t off = check_npy_header(
            buf, size, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }");
        CHECK(size == off + 24 && !memcmp(buf + off, f, 24), "npy f32 data");
        free(buf);
    }
    buf = slurp(pu, &size);
    if (buf) {
        size_t off = check_npy_header(buf, size,
                                      "{'descr': '|u1', 'fortran_order': False, 'shape': (7,), }");
        CHECK(size == off + 7 && !memcmp(buf + off, u, 7), "npy u8 data");
        free(buf);
    }
    buf = slurp(ps, &size);
    if (buf) {
        size_t off =
            check_npy_header(buf, size, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }");
        CHECK(size == off + 4, "npy scalar data");
        free(buf);
    }
    if (!have_python("ast")) {
        printf("note: python3 not available, skipping the python NPY checks\n");
        return;
    }
    char args[13000];
    snprintf(args, sizeof args, "%s %s %s", pf, pu, ps);
    int rc = run_python(npy_py_check, args);
    if (rc == 3) printf("note: numpy not available, skipped numpy.load (header checked)\n");
    CHECK(rc == 0 || rc == 3, "python NPY check: exit %d", rc);
}

/* ------------------------------------------------------------------ SVG */

static void test_svg(void)
{
    double a[5] = {10, 8, NAN, 5, 4}, b[5] = {12, 9, 7, 6, 5.5};
    double c[5] = {NAN, NAN, NAN, NAN, NAN}, xs[5] = {1, 2, 3, 4, 5};
    const double *ys[3] = {a, b, c};
    const char *names[3] = {"train <loss>", "test & loss", NULL};
    const char *path = tmp("io_plot.svg");
    CHECK(clvae_svg_line_plot(path, "Loss \"curve\"", "epoch", "nats", 3, names, ys, xs, 5) ==
              CLVAE_OK,
          "line plot: %s", clvae_last_error());
    size_t size = 0;
    char *text = (char *)slurp(path, &size);
    CHECK(text && strstr(text, "<svg") && strstr(text, "</svg>"), "svg element");
    if (text) {
        CHECK(count_substr(text, "<polyline") == 3, "3 polylines, got %d",
              count_substr(text, "<polyline"));
        CHECK(strstr(text, "train &lt;loss&gt;") && strstr(text, "test &amp; loss") &&
                  strstr(text, "series 2") && strstr(text, "Loss &quot;curve&quot;"),
              "escaped legend/title");
        CHECK(!strstr(text, "nan") && !strstr(text, "inf"), "no NaN/Inf in output");
        CHECK(strstr(text, "#1f77b4") && strstr(text, "#ff7f0e") && strstr(text, "#2ca02c"),
              "distinct colours");
        CHECK(strstr(text, ">epoch<") && strstr(text, ">nats<"), "axis labels");
        CHECK(count_substr(text, "<text") >= 10, "tick numbers");
    }
    free(text);

    double one[1] = {3.0};
    const double *ys1[1] = {one};
    CHECK(clvae_svg_line_plot(path, "one", "x", "y", 1, NULL, ys1, NULL, 1) == CLVAE_OK,
          "single point");
    text = (char *)slurp(path, &size);
    CHECK(text && count_substr(text, "<polyline") == 1 && count_substr(text, "<circle") == 1 &&
              !strstr(text, "nan") && !strstr(text, "inf"),
          "single point content");
    free(text);
    CHECK(clvae_svg_line_plot(path, "empty", "x", "y", 0, NULL, NULL, NULL, 0) == CLVAE_OK,
          "no series");

    float xy[12] = {0, 0, 1, 1, -1, 2, NAN, 0, 3, -2, 0.5f, 0.5f};
    unsigned char labels[6] = {0, 1, 2, 1, 7, 0};
    const char *sp = tmp("io_scatter.svg");
    CHECK(clvae_svg_scatter(sp, "latent", "z[0]", "z[1]", xy, labels, 6, 3) == CLVAE_OK, "scatter: %s",
          clvae_last_error());
    text = (char *)slurp(sp, &size);
    CHECK(text && strstr(text, "<svg") && count_substr(text, "<circle") == 5, "5 points");
    CHECK(text && strstr(text, "class 0") && strstr(text, "class 2") && strstr(text, "other"),
          "class legend");
    CHECK(text && !strstr(text, "nan"), "scatter skips NaN");
    free(text);
    CHECK(clvae_svg_scatter(sp, "latent", "z[0]", "z[1]", xy, NULL, 6, 0) == CLVAE_OK, "unlabelled scatter");
    text = (char *)slurp(sp, &size);
    CHECK(text && count_substr(text, "<circle") == 5 && !strstr(text, "class"), "unlabelled");
    free(text);
    CHECK(!exists(tmp("io_scatter.svg.tmp")) && !exists(tmp("io_plot.svg.tmp")), "no tmp");
}

/* ------------------------------------------------------------------ JSONL */

static void test_jsonl(void)
{
    const char *path = tmp("io_metrics.jsonl");
    unlink(path);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "epoch", 1);
    cJSON_AddNumberToObject(o, "train_loss", 123.5);
    cJSON_AddStringToObject(o, "device", "cpu \"x\"");
    CHECK(clvae_jsonl_append(path, o) == CLVAE_OK, "append: %s", clvae_last_error());
    cJSON_ReplaceItemInObject(o, "epoch", cJSON_CreateNumber(2));
    CHECK(clvae_jsonl_append_sync(path, o) == CLVAE_OK, "append sync");
    size_t size = 0;
    char *text = (char *)slurp(path, &size);
    CHECK(text && count_substr(text, "\n") == 2 && text[size - 1] == '\n', "two lines");
    if (text) {
        char *nl = strchr(text, '\n');
        cJSON *l1 = cJSON_ParseWithLength(text, (size_t)(nl - text));
        cJSON *l2 = cJSON_Parse(nl + 1);
        CHECK(l1 && cJSON_GetObjectItem(l1, "epoch")->valuedouble == 1, "line 1");
        CHECK(l2 && cJSON_GetObjectItem(l2, "epoch")->valuedouble == 2 &&
                  !strcmp(cJSON_GetObjectItem(l2, "device")->valuestring, "cpu \"x\""),
              "line 2");
        cJSON_Delete(l1);
        cJSON_Delete(l2);
    }
    free(text);
    CHECK(clvae_jsonl_append(tmp("io_no_such_dir/m.jsonl"), o) == CLVAE_ERR_IO &&
              strstr(clvae_last_error(), "m.jsonl"),
          "append into a missing dir");
    cJSON_Delete(o);
}

int main(void)
{
    test_st_writer_errors();
    test_st_roundtrip();
    test_st_header_layout();
    test_st_python();
    test_st_corrupt();
    test_st_corrupt_headers();
    test_atomic_failures();
    test_png();
    test_npy();
    test_svg();
    test_jsonl();
    return tu_finish("test_io");
}
