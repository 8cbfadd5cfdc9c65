/* GEMM tuning and the kernel binary cache: tuning files round-trip; files for another device or
 * CLBlast version and corrupt files are reported and ignored; corrupt binary-cache entries are
 * rebuilt and rewritten; a tiny tune writes a file whose GEMMs still match the reference
 * (nmse <= 1e-8) at the default model's shapes, also with per-shape parameter sets switched
 * per call. Skips (77) without an OpenCL device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#ifdef CLVAE_HAVE_OPENCL
#include <dirent.h>

#include "backend/opencl/ocl_cache.h"
#include "backend/opencl/ocl_internal.h"
#include "backend/opencl/gemm/space.h"
#include "backend/opencl/gemm/tune.h"
#include "backend/ref/ref_math.h"
#include "model/vae.h"
#include "train/autotune.h"

static char cache_dir[CLVAE_PATH_MAX];

static void write_text(const char *path, const char *text, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(text, 1, n, f);
    fclose(f);
}

static long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

/* A fresh, empty cache directory under CLVAE_TMP. */
static void fresh_cache(const char *leaf)
{
    snprintf(cache_dir, sizeof cache_dir, "%.1000s", tu_tmp_path(leaf));
    char cmd[CLVAE_PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not clear %s\n", cache_dir);
}

static clvae_config device_config(void)
{
    clvae_config cfg;
    clvae_config_defaults(&cfg);
    cfg.device.backend = CLVAE_BACKEND_OPENCL;
    memcpy(cfg.device.cache, cache_dir, sizeof cache_dir);
    return cfg;
}

static clvae_tuning sample_tuning(void)
{
    clvae_tuning t;
    memset(&t, 0, sizeof t);
    snprintf(t.platform, sizeof t.platform, "Some Platform");
    snprintf(t.device, sizeof t.device, "Some \"Device\" 9000");
    snprintf(t.driver, sizeof t.driver, "1.2.3");
    snprintf(t.clblast, sizeof t.clblast, "%s", clvae_clblast_version());
    size_t x[CLVAE_XGEMM_NP] = {0, 1, 32, 8, 4, 4, 128, 4, 4, 16, 0, 0, 1, 1, 16, 4};
    size_t d[CLVAE_XGEMMD_NP] = {32, 8, 8, 8, 8, 2, 4, 4, 0, 1};
    memcpy(t.p.x, x, sizeof x);
    memcpy(t.p.d, d, sizeof d);
    t.p.min_indirect = 64;
    t.p.has_helpers = true; /* copy/pad/transpose parameters of the main set */
    size_t h[CLVAE_HELPER_NP] = {16, 8, 8, 2, 16, 8, 2, 2, 16, 1, 0, 2, 1, 16, 2};
    memcpy(t.p.h, h, sizeof h);
    t.default_ms = 80.5;
    t.tuned_ms = 9.25;
    t.n_shapes = 2;
    t.shapes[0] = (clvae_gemm_shape){false, true, 128, 400, 784, 1};
    t.shapes[1] = (clvae_gemm_shape){true, false, 400, 784, 128, 2};
    t.shape_default_ms[1] = 3.5;
    t.shape_tuned_ms[1] = 0.75;
    t.n_extra = 1; /* the second shape has a set of its own */
    t.extra[0] = t.p;
    t.extra[0].x[6] = 64; /* MWG */
    t.extra[0].min_indirect = 0;
    t.extra[0].has_helpers = false; /* CLBlast's own helper parameters */
    memset(t.extra[0].h, 0, sizeof t.extra[0].h);
    t.shape_set[1] = 1;
    t.shape_tiled[0] = (clvae_tiled){CLVAE_TILED_DOT, 6, 4, 16, 1, 1, 0}; /* NT: the dot form fits */
    t.shape_tiled[1] = (clvae_tiled){CLVAE_TILED_OUTER, 8, 1, 16, 1, 0, 8}; /* TN split in 8 */
    return t;
}

static void test_roundtrip(void)
{
    const char *path = tu_tmp_path("tune_roundtrip.json");
    clvae_tuning t = sample_tuning(), u;
    CHECK(clvae_tuning_write(path, &t) == 0, "write: %s", clvae_last_error());
    CHECK(clvae_tuning_read(path, &u) == 0, "read: %s", clvae_last_error());
    CHECK(!strcmp(u.device, t.device) && !strcmp(u.platform, t.platform) &&
              !strcmp(u.driver, t.driver) && !strcmp(u.clblast, t.clblast),
          "identity differs after the round trip: %s", u.device);
    CHECK(!memcmp(&u.p, &t.p, sizeof t.p), "parameters differ after the round trip");
    CHECK(u.n_shapes == 2 && u.shapes[1].ta && !u.shapes[1].tb && u.shapes[1].calls == 2 &&
              u.shapes[0].k == 784,
          "shapes differ after the round trip");
    CHECK(u.shape_tuned_ms[1] == 0.75 && u.default_ms == 80.5 && !u.use_defaults,
          "timings differ after the round trip");
    CHECK(u.n_extra == 1 && !memcmp(&u.extra[0], &t.extra[0], sizeof t.extra[0]) &&
              u.shape_set[0] == 0 && u.shape_set[1] == 1,
          "per-shape sets differ after the round trip (%d extra)", u.n_extra);
    CHECK(!memcmp(&u.shape_tiled[0], &t.shape_tiled[0], sizeof t.shape_tiled[0]) &&
              !memcmp(&u.shape_tiled[1], &t.shape_tiled[1], sizeof t.shape_tiled[1]),
          "tiled kernel choices differ after the round trip (form %d mr %d, ks %d)",
          u.shape_tiled[0].form, u.shape_tiled[0].mr, u.shape_tiled[1].ks);
    char why[1200];
    CHECK(clvae_tuning_matches(&u, &t, why, sizeof why), "matches itself: %s", why);
    clvae_tuning other = t;
    snprintf(other.clblast, sizeof other.clblast, "0.0.1");
    CHECK(!clvae_tuning_matches(&u, &other, why, sizeof why) && strstr(why, "CLBlast"),
          "another CLBlast version must not match (%s)", why);
    other = t;
    snprintf(other.device, sizeof other.device, "Another device");
    CHECK(!clvae_tuning_matches(&u, &other, why, sizeof why), "another device must not match");
    /* defaults-only files round-trip too */
    t.use_defaults = true;
    CHECK(clvae_tuning_write(path, &t) == 0 && clvae_tuning_read(path, &u) == 0 && u.use_defaults,
          "use_defaults round trip: %s", clvae_last_error());
}

/* A file with more shapes than this build holds (written by a build with a larger
 * CLVAE_TUNE_MAX_SHAPES) is read, its first CLVAE_TUNE_MAX_SHAPES shapes kept; it used to be
 * refused as malformed and then overwritten by the next tune, losing every other model's. */
static void test_too_many_shapes(void)
{
    const char *path = tu_tmp_path("tune_many.json");
    clvae_tuning t = sample_tuning(), u;
    t.n_extra = 0;
    t.n_shapes = CLVAE_TUNE_MAX_SHAPES;
    for (int i = 0; i < t.n_shapes; i++) {
        t.shapes[i] = (clvae_gemm_shape){false, true, 128, 8 + i, 784, 1};
        t.shape_set[i] = 0;
        t.shape_tiled[i] = (clvae_tiled){CLVAE_TILED_NONE, 0, 0, 0, 0, 0, 0};
    }
    CHECK(clvae_tuning_write(path, &t) == 0, "write: %s", clvae_last_error());
    FILE *f = fopen(path, "rb");
    static char text[1 << 20], more[(1 << 20) + 256];
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f) fclose(f);
    text[n] = 0;
    /* one more shape in front: n = 7, which no shape above has */
    char *arr = strstr(text, "\"shapes\""), *open = arr ? strchr(arr, '[') : NULL;
    CHECK(open != NULL, "no shapes array in the written file");
    if (!open) return;
    size_t head = (size_t)(open + 1 - text);
    snprintf(more, sizeof more, "%.*s{\"op\": \"NT\", \"m\": 128, \"n\": 7, \"k\": 784, "
             "\"calls\": 1},%s", (int)head, text, open + 1);
    write_text(path, more, strlen(more));
    CHECK(clvae_tuning_read(path, &u) == 0, "a file with %d shapes: %s", CLVAE_TUNE_MAX_SHAPES + 1,
          clvae_last_error());
    CHECK(u.n_shapes == CLVAE_TUNE_MAX_SHAPES && u.shapes[0].n == 7 &&
              u.shapes[CLVAE_TUNE_MAX_SHAPES - 1].n == 8 + CLVAE_TUNE_MAX_SHAPES - 2,
          "kept %d shapes (first n %d), expected the first %d", u.n_shapes, u.shapes[0].n,
          CLVAE_TUNE_MAX_SHAPES);
}

/* Contents that must be reported as corrupt (CLVAE_ERR_DATA), never crash. */
static void test_corrupt_reads(void)
{
    const char *path = tu_tmp_path("tune_corrupt.json");
    clvae_tuning t = sample_tuning(), u;
    clvae_tuning_write(path, &t);
    long n = file_size(path);
    char *good = malloc((size_t)n + 1);
    FILE *f = fopen(path, "rb");
    CHECK(f && good && fread(good, 1, (size_t)n, f) == (size_t)n, "reading back %s", path);
    if (f) fclose(f);
    const char *bad[] = {"",
                         "{",
                         "[1,2,3]",
                         "{\"format\": \"clvae-gemm-tuning\"}",
                         "\x01\x02\xff",
                         "{\"format\": \"clvae-gemm-tuning\", \"version\": 1, \"platform\": 3}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        write_text(path, bad[i], strlen(bad[i]));
        CHECK(clvae_tuning_read(path, &u) == CLVAE_ERR_DATA, "case %zu accepted", i);
        CHECK(strstr(clvae_last_error(), path) != NULL, "message must name the file: %s",
              clvae_last_error());
    }
    for (long cut = 1; good && cut < n; cut += n / 7 + 1) { /* truncated files */
        write_text(path, good, (size_t)cut);
        CHECK(clvae_tuning_read(path, &u) == CLVAE_ERR_DATA, "truncated at %ld accepted", cut);
    }
    if (good) { /* a shape naming a set the file does not have */
        char *p = strstr(good, "\"set\":");
        if (p) p = strchr(p, '1');
        if (p) *p = '3';
        write_text(path, good, (size_t)n);
        CHECK(p && clvae_tuning_read(path, &u) == CLVAE_ERR_DATA, "a shape's set 3 was accepted");
        if (p) *p = '1';
    }
    if (good) { /* helper kernels given in part: "Pad" missing while the others are there */
        char *p = strstr(good, "\"Pad\":");
        if (p) p[2] = 'x';
        write_text(path, good, (size_t)n);
        CHECK(p && clvae_tuning_read(path, &u) == CLVAE_ERR_DATA &&
                  strstr(clvae_last_error(), "parameter Pad"),
              "a file without \"Pad\" beside the other helper kernels: %s", clvae_last_error());
        if (p) p[2] = 'a';
    }
    if (good) { /* a tiled kernel with 0 rows, then the dot form on a TN shape */
        char *p = strstr(good, "\"mr\":");
        char *q = p ? strchr(p, '6') : NULL;
        if (q) *q = '0';
        write_text(path, good, (size_t)n);
        CHECK(q && clvae_tuning_read(path, &u) == CLVAE_ERR_DATA, "a kernel with 0 rows was"
              " accepted");
        if (q) *q = '6';
        clvae_tuning w = sample_tuning();
        w.shape_tiled[1] = w.shape_tiled[0];
        CHECK(clvae_tuning_write(path, &w) == 0 && clvae_tuning_read(path, &u) == CLVAE_ERR_DATA,
              "the dot form for a TN shape was accepted");
        w = sample_tuning(); /* k slices on the packb form, which does not split */
        w.shape_tiled[1].form = CLVAE_TILED_PACKB;
        CHECK(clvae_tuning_write(path, &w) == 0 && clvae_tuning_read(path, &u) == CLVAE_ERR_DATA,
              "k slices on the packb form were accepted");
    }
    if (good) { /* 65 k slices: past CLVAE_TILED_MAX_KS */
        char *p = strstr(good, "\"ks\":");
        char *q = p ? strchr(p, '8') : NULL;
        if (q) memcpy(q - 1, "65", 2);
        write_text(path, good, (size_t)n);
        CHECK(q && clvae_tuning_read(path, &u) == CLVAE_ERR_DATA, "65 k slices were accepted");
        if (q) memcpy(q - 1, " 8", 2);
    }
    if (good) { /* a parameter of the wrong type */
        char *p = strstr(good, "\"MWG\":");
        if (p) memcpy(p + 6, "\"x\"", 3 <= n - (p + 6 - good) ? 3 : 0);
        write_text(path, good, (size_t)n);
        CHECK(clvae_tuning_read(path, &u) == CLVAE_ERR_DATA, "a string MWG was accepted");
    }
    free(good);
    CHECK(clvae_tuning_read(tu_tmp_path("no_such_tuning.json"), &u) == CLVAE_ERR_IO,
          "a missing file is CLVAE_ERR_IO");
}

/* Opens the device with the test cache; returns its tuning state (or -1 on failure). */
static int open_state(clvae_backend *be)
{
    clvae_config cfg = device_config();
    int st = clvae_opencl_backend_create(&cfg, be);
    CHECK(st == 0, "backend: %s", clvae_last_error());
    return st ? -1 : (int)clvae_opencl_tuning_state(be);
}

static void check_ignored(const char *what, const char *text)
{
    clvae_backend be = {0};
    char path[4200];
    if (open_state(&be) < 0) return;
    clvae_opencl_tuning_file(&be, path, sizeof path);
    clvae_backend_free(&be);
    write_text(path, text, strlen(text));
    int state = open_state(&be);
    CHECK(state == CLVAE_TUNING_IGNORED, "%s: state %d, expected ignored", what, state);
    clvae_backend_free(&be);
    unlink(path);
}

/* The only <hash>.bin entry in the cache directory (path into `out`); false if not exactly one. */
static bool find_entry(char *out, size_t size)
{
    DIR *d = opendir(cache_dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strlen(e->d_name) == 20 && !strcmp(e->d_name + 16, ".bin")) {
            snprintf(out, size, "%s/%s", cache_dir, e->d_name);
            n++;
        }
    if (d) closedir(d);
    return n == 1;
}

/* Whether an entry's header agrees with its payload (the format of ocl_cache.c). */
static bool entry_valid(const char *path)
{
    long n = file_size(path);
    unsigned char *buf = n > 48 ? malloc((size_t)n) : NULL;
    FILE *f = buf ? fopen(path, "rb") : NULL;
    bool ok = f && fread(buf, 1, (size_t)n, f) == (size_t)n && !memcmp(buf, "CLVAEBIN", 8);
    if (f) fclose(f);
    uint64_t size = 0, sum = 0;
    if (ok) {
        memcpy(&size, buf + 24, 8);
        memcpy(&sum, buf + 32, 8);
        ok = size == (uint64_t)(n - 48) &&
             clvae_fnv1a64(CLVAE_FNV64_INIT, buf + 48, (size_t)size) == sum;
    }
    free(buf);
    return ok;
}

/* The backend works: fill + download. */
static void check_usable(clvae_backend *be, const char *what)
{
    clvae_buffer *b = NULL;
    float got[8] = {0};
    int st = be->ops->buffer_alloc(be->ctx, sizeof got, &b);
    if (!st) st = be->ops->fill(be->ctx, (clvae_view){b, 0}, 8, 2.5f);
    if (!st) st = be->ops->download(be->ctx, (clvae_view){b, 0}, got, sizeof got);
    CHECK(st == 0 && got[0] == 2.5f && got[7] == 2.5f, "%s: backend unusable: %s", what,
          clvae_last_error());
    if (b) be->ops->buffer_free(be->ctx, b);
}

/* Damages the entry in one of several ways. */
static void damage(const char *path, int how)
{
    long n = file_size(path);
    FILE *f = fopen(path, how == 1 ? "wb" : "r+b");
    if (!f) return;
    if (how == 0) { /* flip a payload byte */
        fseek(f, n / 2, SEEK_SET);
        int c = fgetc(f);
        fseek(f, n / 2, SEEK_SET);
        fputc(c ^ 0x5a, f);
    } else if (how == 1) { /* truncated */
        fwrite("CLVAEBIN\x01", 1, 9, f);
    } else if (how == 2) { /* the header says the payload is longer */
        uint64_t big = (uint64_t)n;
        fseek(f, 24, SEEK_SET);
        fwrite(&big, 8, 1, f);
    } else { /* consistent header, but a payload the driver cannot load */
        unsigned char junk[256];
        for (int i = 0; i < 256; i++)
            junk[i] = (unsigned char)(i * 37 + 11);
        uint64_t size = sizeof junk, sum = clvae_fnv1a64(CLVAE_FNV64_INIT, junk, sizeof junk);
        fseek(f, 24, SEEK_SET);
        fwrite(&size, 8, 1, f);
        fwrite(&sum, 8, 1, f);
        fseek(f, 48, SEEK_SET);
        fwrite(junk, 1, sizeof junk, f);
        fflush(f);
        if (ftruncate(fileno(f), 48 + (off_t)sizeof junk) != 0) fprintf(stderr, "ftruncate\n");
    }
    fclose(f);
}

static void test_binary_cache(void)
{
    clvae_backend be = {0};
    char entry[4200];
    fresh_cache("tune_bincache");
    if (open_state(&be) < 0) return;
    check_usable(&be, "first build");
    clvae_backend_free(&be);
    CHECK(find_entry(entry, sizeof entry) && entry_valid(entry), "no valid cache entry in %s",
          cache_dir);
    for (int how = 0; how < 4; how++) {
        damage(entry, how);
        CHECK(!entry_valid(entry) || how == 3, "damage %d left a valid entry", how);
        if (open_state(&be) < 0) continue;
        check_usable(&be, "after a damaged cache entry");
        clvae_backend_free(&be);
        CHECK(entry_valid(entry), "damage %d: the entry was not rewritten", how);
    }
    if (open_state(&be) >= 0) { /* from the cache */
        check_usable(&be, "from the cache");
        clvae_backend_free(&be);
    }
    fresh_cache("tune_nocache");
    setenv("CLVAE_NO_CACHE", "1", 1);
    if (open_state(&be) >= 0) clvae_backend_free(&be);
    unsetenv("CLVAE_NO_CACHE");
    CHECK(!find_entry(entry, sizeof entry), "CLVAE_NO_CACHE=1 still wrote %s", entry);
}

static void test_ignored_files(void)
{
    fresh_cache("tune_ignored");
    check_ignored("invalid JSON", "{\"format\": \"clvae-gemm-tuning\", ");
    check_ignored("binary junk", "\x7f"
                                 "ELF\x02\x01\x01");
    check_ignored("wrong format", "{\"format\": \"something-else\", \"version\": 1}");
}

/* GEMMs at the model's shapes on the backend as it is configured, vs the reference. */
static void check_gemms(clvae_backend *be, const clvae_gemm_shape *s, int n)
{
    const clvae_backend_ops *o = be->ops;
    for (int i = 0; i < n; i++) {
        size_t na = (size_t)s[i].m * s[i].k, nb = (size_t)s[i].k * s[i].n;
        size_t nc = (size_t)s[i].m * s[i].n;
        float *a = malloc(na * 4), *b = malloc(nb * 4), *ref = malloc(nc * 4);
        float *got = malloc(nc * 4), *tmp = malloc((na + nb) * 4);
        clvae_buffer *da = NULL, *db = NULL, *dc = NULL;
        for (size_t j = 0; j < na; j++)
            a[j] = (float)((j * 7919) % 1000) / 500.0f - 1.0f;
        for (size_t j = 0; j < nb; j++)
            b[j] = (float)((j * 104729 + 3) % 1000) / 500.0f - 1.0f;
        int lda = s[i].ta ? s[i].m : s[i].k, ldb = s[i].tb ? s[i].k : s[i].n;
        clvae_ref_gemm(s[i].ta, s[i].tb, s[i].m, s[i].n, s[i].k, 1.0f, a, lda, b, ldb, 0.0f, ref,
                       s[i].n, tmp);
        int st = o->buffer_alloc(be->ctx, na * 4, &da);
        if (!st) st = o->buffer_alloc(be->ctx, nb * 4, &db);
        if (!st) st = o->buffer_alloc(be->ctx, nc * 4, &dc);
        if (!st) st = o->upload(be->ctx, (clvae_view){da, 0}, a, na * 4);
        if (!st) st = o->upload(be->ctx, (clvae_view){db, 0}, b, nb * 4);
        if (!st)
            st = o->gemm(be->ctx, s[i].ta, s[i].tb, s[i].m, s[i].n, s[i].k, 1.0f,
                         (clvae_view){da, 0}, lda, (clvae_view){db, 0}, ldb, 0.0f,
                         (clvae_view){dc, 0}, s[i].n);
        if (!st) st = o->download(be->ctx, (clvae_view){dc, 0}, got, nc * 4);
        double e = st ? 1.0 : tu_nmse(ref, got, nc);
        CHECK(st == 0 && e <= 1e-8, "tuned gemm %c%c %dx%dx%d: nmse %.3g (%s)", s[i].ta ? 'T' : 'N',
              s[i].tb ? 'T' : 'N', s[i].m, s[i].n, s[i].k, e, st ? clvae_last_error() : "ok");
        o->buffer_free(be->ctx, da);
        o->buffer_free(be->ctx, db);
        o->buffer_free(be->ctx, dc);
        free(a), free(b), free(ref), free(got), free(tmp);
    }
}

/* Rewrites the tuning file at `path` with one identity field changed; expects it ignored. */
static void check_foreign(const char *path, const clvae_tuning *good, int field)
{
    clvae_tuning t = *good;
    clvae_backend be = {0};
    if (field == 0) snprintf(t.clblast, sizeof t.clblast, "1.0.0-other");
    if (field == 1) snprintf(t.device, sizeof t.device, "%.200s (another)", good->device);
    if (field == 2) snprintf(t.driver, sizeof t.driver, "0.0-other");
    CHECK(clvae_tuning_write(path, &t) == 0, "write: %s", clvae_last_error());
    int state = open_state(&be);
    CHECK(state == CLVAE_TUNING_IGNORED, "a file with another %s: state %d, expected ignored",
          field == 0   ? "CLBlast version"
          : field == 1 ? "device"
                       : "driver",
          state);
    if (state >= 0) clvae_backend_free(&be);
}

/* A file giving every other shape a second parameter set: GEMMs switch sets per call (the
 * temporary buffer sized for the set that runs) and still match the reference. */
static void check_sets(const char *path, const clvae_tuning *good, const clvae_gemm_shape *s,
                       int n)
{
    clvae_tuning t = *good;
    clvae_backend be = {0};
    clvae_tune_limits lim;
    if (open_state(&be) < 0) return;
    clvae_tune_limits_query(((ocl_ctx *)be.ctx)->dev.id, &lim);
    clvae_backend_free(&be);
    t.use_defaults = false;
    t.n_extra = 1;
    CHECK(clvae_tune_curated(&lim, 0, &t.p) && clvae_tune_curated(&lim, 1, &t.extra[0]),
          "two curated configurations");
    t.n_shapes = n;
    for (int i = 0; i < n; i++) {
        t.shapes[i] = s[i];
        t.shape_set[i] = i % 2;
        t.shape_tiled[i].form = CLVAE_TILED_NONE; /* every shape on CLBlast */
    }
    CHECK(clvae_tuning_write(path, &t) == 0, "write: %s", clvae_last_error());
    int state = open_state(&be);
    CHECK(state == CLVAE_TUNING_APPLIED, "two sets: state %d, expected applied", state);
    if (state < 0) return;
    check_gemms(&be, s, n);
    int last = clvae_ocl_gemm_sets_applied(be.ctx);
    check_gemms(&be, &s[1], 1);
    CHECK(last == (n - 1) % 2 && clvae_ocl_gemm_sets_applied(be.ctx) == 1,
          "the set applied after shapes %d and 1: %d and %d, expected %d and 1", n, last,
          clvae_ocl_gemm_sets_applied(be.ctx), (n - 1) % 2);
    clvae_gemm_shape near = s[1]; /* not tuned: takes the set of the nearest tuned shape */
    near.m += 3;
    check_gemms(&be, &s[0], 1);
    last = clvae_ocl_gemm_sets_applied(be.ctx);
    check_gemms(&be, &near, 1);
    CHECK(last == 0 && clvae_ocl_gemm_sets_applied(be.ctx) == 1,
          "an untuned shape next to shape 2 ran with set %d, expected 1 (after %d)",
          clvae_ocl_gemm_sets_applied(be.ctx), last);
    clvae_backend_free(&be);
}

/* A file giving every shape a tiled kernel (the device's first candidate for its transposes):
 * applied, every GEMM matches the reference, and an untuned shape next to a tuned one runs. */
static void check_tiled(const char *path, const clvae_tuning *good, const clvae_gemm_shape *s,
                        int n)
{
    clvae_tuning t = *good;
    clvae_backend be = {0};
    clvae_tune_limits lim;
    if (open_state(&be) < 0) return;
    clvae_tune_limits_query(((ocl_ctx *)be.ctx)->dev.id, &lim);
    unsigned vw = ((ocl_ctx *)be.ctx)->vw;
    clvae_backend_free(&be);
    for (int i = 0; i < n; i++)
        CHECK(clvae_tune_tiled_candidate(&lim, vw, s[i].ta, s[i].tb, i % 3, &t.shape_tiled[i]),
              "a tiled candidate for shape %d", i);
    CHECK(clvae_tuning_write(path, &t) == 0, "write: %s", clvae_last_error());
    int state = open_state(&be);
    CHECK(state == CLVAE_TUNING_APPLIED, "tiled kernels: state %d, expected applied", state);
    if (state < 0) return;
    clvae_gemm_shape got[CLVAE_TUNE_MAX_SHAPES];
    clvae_tiled v[CLVAE_TUNE_MAX_SHAPES];
    int k = clvae_opencl_tiled_choices(&be, got, v, CLVAE_TUNE_MAX_SHAPES);
    CHECK(k == n, "%d tiled choices installed, expected %d", k, n);
    check_gemms(&be, s, n);
    clvae_gemm_shape near = s[1];
    near.m += 3;
    check_gemms(&be, &near, 1);
    clvae_backend_free(&be);
}

/* A previous tuning file of this device holding another model's shapes: one with a kernel of
 * clvae's (kept by the next search) and one on CLBlast (dropped with its parameter set). */
static const clvae_gemm_shape other_model[2] = {{true, false, 3, 288, 262144, 1},
                                                {false, true, 65536, 32, 27, 1}};

static void write_other_model(const clvae_backend *be)
{
    const ocl_ctx *c = be->ctx;
    char path[CLVAE_PATH_MAX + 64];
    clvae_tuning t;
    memset(&t, 0, sizeof t);
    clvae_tuning_identify(&t, c->dev.platform, c->dev.id);
    t.use_defaults = true;
    t.n_shapes = 2;
    for (int i = 0; i < 2; i++) {
        t.shapes[i] = other_model[i];
        t.shape_default_ms[i] = t.shape_tuned_ms[i] = 1.5;
    }
    t.shape_tiled[0] = (clvae_tiled){CLVAE_TILED_OUTER, 8, 2, 16, 1, 0, 4};
    mkdir(c->cache_dir, 0755);
    clvae_tuning_path(c->cache_dir, c->dev.platform, c->dev.id, path, sizeof path);
    CHECK(clvae_tuning_write(path, &t) == 0, "writing the other model's file: %s",
          clvae_last_error());
}

static void check_other_model(const clvae_tuning *t, int n)
{
    const clvae_gemm_shape *s = &t->shapes[n], *o = &other_model[0];
    CHECK(t->n_shapes == n + 1 && s->ta == o->ta && s->tb == o->tb && s->m == o->m &&
              s->n == o->n && s->k == o->k && t->shape_tiled[n].form == CLVAE_TILED_OUTER &&
              t->shape_tiled[n].ks == 4,
          "the other model's tuned shape must be kept after this model's %d (%d shapes)", n,
          t->n_shapes);
}

static void test_tiny_tune(void)
{
    clvae_config cfg;
    clvae_model m;
    clvae_gemm_shape shapes[CLVAE_TUNE_MAX_SHAPES];
    clvae_backend be = {0};
    clvae_tuning result, back;
    char path[4200];
    fresh_cache("tune_tiny");
    cfg = device_config();
    memset(&m, 0, sizeof m);
    CHECK(clvae_model_layout(&m, &cfg, 784) == 0, "layout: %s", clvae_last_error());
    int n = clvae_model_gemm_shapes(&m, cfg.train.batch, cfg.train.samples, shapes,
                                    CLVAE_TUNE_MAX_SHAPES);
    CHECK(n == 11, "the default model runs 11 distinct GEMMs per step, not %d", n);
    if (clvae_opencl_backend_create_untuned(&cfg, &be)) {
        CHECK(0, "untuned backend: %s", clvae_last_error());
        return;
    }
    write_other_model(&be);
    /* cold_bytes 1: the model's TN shapes (weight gradients) take the cold timing path, each
     * call after an eviction write, which a default model's small shapes would not reach */
    clvae_tune_options o = {
        .seconds = 2, .max_candidates = 1, .progress = true, .seed = 3, .cold_bytes = 1};
    int st = clvae_opencl_tune(&be, shapes, n, &o, &result, path, sizeof path);
    clvae_backend_free(&be);
    CHECK(st == 0, "tune: %s", clvae_last_error());
    if (st) return;
    CHECK(path[0] && file_size(path) > 0, "no tuning file written (%s)", path);
    CHECK(result.evaluated + result.rejected == 1,
          "one candidate: %d timed, %d rejected", result.evaluated, result.rejected);
    check_other_model(&result, n);
    CHECK(clvae_tuning_read(path, &back) == 0, "read back: %s", clvae_last_error());
    check_other_model(&back, n);
    back.n_shapes = n; /* the checks below are about this model's shapes */
    for (int f = 0; f < 3; f++)
        check_foreign(path, &back, f);
    clvae_tuning bad = back; /* this device, but parameters CLBlast's constraints forbid */
    bad.use_defaults = false;
    bad.p.x[6] = 3; /* MWG */
    CHECK(clvae_tuning_write(path, &bad) == 0, "write: %s", clvae_last_error());
    int st_bad = open_state(&be);
    CHECK(st_bad == CLVAE_TUNING_IGNORED, "illegal parameters: state %d, expected ignored", st_bad);
    if (st_bad >= 0) clvae_backend_free(&be);
    CHECK(clvae_tuning_write(path, &back) == 0, "restore: %s", clvae_last_error());
    int state = open_state(&be);
    CHECK(state == CLVAE_TUNING_APPLIED, "the tuned file: state %d, expected applied", state);
    if (state < 0) return;
    check_gemms(&be, shapes, n);
    clvae_backend_free(&be);
    check_sets(path, &back, shapes, n);
    check_tiled(path, &back, shapes, n);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_roundtrip();
    test_too_many_shapes();
    test_corrupt_reads();
    clvae_backend be = {0};
    clvae_config cfg;
    fresh_cache("tune_probe");
    cfg = device_config();
    if (clvae_opencl_backend_create(&cfg, &be) != 0) {
        printf("SKIP: no usable OpenCL device (%s)\n", clvae_last_error());
        return tu_failures ? tu_finish("test_tune") : TU_SKIP;
    }
    printf("device: %s\n", be.ops->device_name(be.ctx));
    clvae_backend_free(&be);
    test_binary_cache();
    test_ignored_files();
    test_tiny_tune();
    return tu_finish("test_tune");
}

#else
int main(void)
{
    printf("SKIP: built without OpenCL\n");
    return TU_SKIP;
}
#endif
