/* Image folders and channels: a folder written by test/folder_ref.py from Fashion-MNIST (PNG of
 * every colour type, 1-16 bits, Adam7-interlaced too, and JPEG grey/RGB/progressive/CMYK, several
 * sizes, two classes) loads equal to its Pillow/numpy reference; labels follow the folder names; the decode cache is reused and
 * rebuilt when a file changes; bad files, empty folders and crops are exit-2 errors; NPY
 * (n, h, w, c) and (n, c, h, w) load as NCHW; image_shape HxWxC; the decoders reject truncated
 * and foreign files. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clvae/config.h"
#include "clvae/data.h"
#include "clvae/status.h"
#include "io/image.h"
#include "io/npy.h"
#include "testutil.h"

#define PY "/usr/bin/python3" /* Debian's python: python3-numpy, python3-pil */

static char g_dir[512], g_images[600], g_cache[600], g_cache2[600];

static void set(clvae_config *c, const char *kv)
{
    int st = clvae_config_set(c, kv);
    CHECK(st == CLVAE_OK, "--set %s: %s", kv, clvae_last_error());
}

/* A config reading g_images (train and test: no split) with the case's keys. */
static void folder_config(clvae_config *c, const char *size, const char *crop, const char *ch)
{
    char kv[800];
    clvae_config_defaults(c);
    snprintf(kv, sizeof kv, "data.train=%s", g_images);
    set(c, kv);
    snprintf(kv, sizeof kv, "data.test=%s", g_images);
    set(c, kv);
    snprintf(kv, sizeof kv, "device.cache=%s", g_cache);
    set(c, kv);
    snprintf(kv, sizeof kv, "data.image_size=%s", size);
    set(c, kv);
    snprintf(kv, sizeof kv, "data.center_crop=%s", crop);
    set(c, kv);
    snprintf(kv, sizeof kv, "data.channels=%s", ch);
    set(c, kv);
}

/* Loaded array vs the reference NPY (n, C, H, W). The decoders are the libraries Pillow links
 * (libpng, libjpeg-turbo), so decoded pixels agree exactly; the resize is exact up to the last
 * bits of double sums taken in another order than numpy's matmul. So a value may differ only
 * by 1, and only where the reference's unrounded value lies within 1e-9 of k + 0.5 (tie_<case>.npy
 * marks those: there either rounding is right); everywhere else it must be equal. */
static void compare_ref(const clvae_dataset *ds, const char *name)
{
    char path[700], tpath[700];
    clvae_dataset ref, tie;
    snprintf(path, sizeof path, "%s/ref_%s.npy", g_dir, name);
    snprintf(tpath, sizeof tpath, "%s/tie_%s.npy", g_dir, name);
    int st = clvae_dataset_load(&ref, path, NULL, CLVAE_FORMAT_AUTO, 0);
    if (!st && (st = clvae_dataset_load(&tie, tpath, NULL, CLVAE_FORMAT_AUTO, 0)))
        clvae_dataset_free(&ref);
    CHECK(st == CLVAE_OK, "%s: %s", path, clvae_last_error());
    if (st) return;
    CHECK(ds->n == ref.n && ds->dim == ref.dim && ds->channels == ref.channels &&
              ds->rows == ref.rows && ds->cols == ref.cols,
          "%s: loaded %zu x %dx%dx%d, reference %zu x %dx%dx%d", name, ds->n, ds->channels,
          ds->rows, ds->cols, ref.n, ref.channels, ref.rows, ref.cols);
    if (ds->n == ref.n && ds->dim == ref.dim && tie.dim == ref.dim) {
        size_t bad = 0, bad_at = 0, ties = 0;
        for (size_t i = 0; i < ds->n * ds->dim; i++) {
            int d = abs((int)ds->u8[i] - (int)ref.u8[i]);
            ties += d != 0;
            if (d > 1 || (d == 1 && !tie.u8[i])) bad_at = bad++ ? bad_at : i;
        }
        CHECK(bad == 0, "%s: %zu values differ beyond a rounding tie, the first %zu (image %zu): "
              "%d vs %d", name, bad, bad_at, bad_at / ds->dim, ds->u8[bad_at], ref.u8[bad_at]);
        printf("%s: %zu values, %zu differ by 1 at rounding ties\n", name, ds->n * ds->dim, ties);
    }
    clvae_dataset_free(&ref);
    clvae_dataset_free(&tie);
}

static void check_labels(const clvae_dataset *ds)
{
    static const uint8_t want[12] = {0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1}; /* bag: 7, coat: 5 */
    CHECK(ds->labels && ds->n == 12 && ds->n_classes == 2, "labels %p n %zu classes %d",
          (void *)ds->labels, ds->n, ds->n_classes);
    if (ds->labels && ds->n == 12) CHECK(memcmp(ds->labels, want, 12) == 0, "labels differ");
}

static void test_cases(void)
{
    static const char *const cases[][4] = {{"auto20", "20x20", "", "auto"},
                                           {"grey_crop", "16x12", "24x24", "1"},
                                           {"rgb_up", "40x36", "26x22", "3"}};
    for (int k = 0; k < 3; k++) {
        clvae_config c;
        clvae_dataset ds;
        folder_config(&c, cases[k][1], cases[k][2], cases[k][3]);
        int st = clvae_dataset_load_cfg(&ds, &c, false, true);
        CHECK(st == CLVAE_OK, "%s: %s", cases[k][0], clvae_last_error());
        if (st) continue;
        compare_ref(&ds, cases[k][0]);
        check_labels(&ds);
        int C, H, W;
        CHECK(clvae_data_image_chw(&c, &ds, &C, &H, &W) == 1 && C == ds.channels &&
                  H == ds.rows && W == ds.cols, "image_chw %d %d %d", C, H, W);
        clvae_dataset_free(&ds);
    }
}

static int count_cache_files(void)
{
    char cmd[800];
    snprintf(cmd, sizeof cmd, "ls %s/images/*.img 2>/dev/null | wc -l", g_cache2);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1) n = -1;
        pclose(p);
    }
    return n;
}

/* Overwrites `path` with garbage of the same size; keeps its mtime when `keep_time`. */
static void spoil(const char *path, bool keep_time)
{
    struct stat sb;
    CHECK(stat(path, &sb) == 0, "stat %s", path);
    FILE *f = fopen(path, "r+b");
    if (!f) return;
    for (long i = 0; i < sb.st_size; i++) fputc('x', f);
    fclose(f);
    struct timespec t[2] = {sb.st_atim, sb.st_mtim};
    if (!keep_time) t[1].tv_sec += 5;
    CHECK(utimensat(AT_FDCWD, path, t, 0) == 0, "utimensat %s", path);
}

static void test_cache_and_bad_files(void)
{
    clvae_config c;
    clvae_dataset a, b;
    char victim[800], kv[700];
    folder_config(&c, "20x20", "", "auto");
    snprintf(kv, sizeof kv, "device.cache=%s", g_cache2); /* counted: a cache of its own */
    set(&c, kv);
    int st = clvae_dataset_load_cfg(&a, &c, false, true);
    CHECK(st == CLVAE_OK && count_cache_files() == 1, "first load %d, %d cache files", st,
          count_cache_files());
    snprintf(victim, sizeof victim, "%s/bag/a_grey8.png", g_images);
    spoil(victim, true); /* same name, size and mtime: the cache is still trusted */
    st = clvae_dataset_load_cfg(&b, &c, false, true);
    CHECK(st == CLVAE_OK, "cached load: %s", clvae_last_error());
    if (!st && !a.u8) st = -1;
    if (!st) CHECK(b.n == a.n && b.dim == a.dim && memcmp(a.u8, b.u8, a.n * a.dim) == 0 &&
                       memcmp(a.labels, b.labels, a.n) == 0, "cached load differs");
    clvae_dataset_free(&b);
    spoil(victim, false); /* a new mtime: decoded again, and the file is bad now */
    st = clvae_dataset_load_cfg(&b, &c, false, true);
    CHECK(st == CLVAE_ERR_DATA && strstr(clvae_last_error(), "a_grey8.png") &&
              strstr(clvae_last_error(), "not a PNG or JPEG"),
          "spoiled file: %d %s", st, clvae_last_error());
    set(&c, "data.on_bad_image=skip");
    st = clvae_dataset_load_cfg(&b, &c, false, true);
    CHECK(st == CLVAE_OK && b.n == a.n - 1 && b.labels && b.labels[0] == 0,
          "skip: %d n %zu: %s", st, b.n, clvae_last_error());
    if (!st) CHECK(memcmp(b.u8, a.u8 + a.dim, b.n * b.dim) == 0, "skip: rows shifted wrongly");
    clvae_dataset_free(&a);
    clvae_dataset_free(&b);
    CHECK(count_cache_files() == 2, "%d cache files (one per listing and option set)",
          count_cache_files());
}

/* A config on `dir` whose load must fail with CLVAE_ERR_DATA mentioning `want`. */
static void expect_error(const char *dir, const char *size, const char *crop, const char *want)
{
    clvae_config c;
    clvae_dataset ds;
    char kv[800];
    folder_config(&c, size, crop, "auto");
    snprintf(kv, sizeof kv, "data.train=%s", dir);
    set(&c, kv);
    int st = clvae_dataset_load_cfg(&ds, &c, false, true);
    CHECK(st == CLVAE_ERR_DATA && strstr(clvae_last_error(), want), "%s: %d '%s', want '%s'", dir,
          st, clvae_last_error(), want);
    if (!st) clvae_dataset_free(&ds);
}

static void test_folder_errors(void)
{
    char empty[700], cls[700], cmd[8192];
    snprintf(empty, sizeof empty, "%s/empty", g_dir);
    snprintf(cls, sizeof cls, "%s/emptyclass", g_dir);
    snprintf(cmd, sizeof cmd, "rm -rf %s %s && mkdir -p %s %s/a %s/b && cp %s/coat/b_grey.jpg %s/a/",
             empty, cls, empty, cls, cls, g_images, cls);
    CHECK(system(cmd) == 0, "%s", cmd);
    expect_error(empty, "20x20", "", "empty image folder");
    expect_error(cls, "20x20", "", "class folder 'b' holds no");
    expect_error(g_images, "20x20", "30x30", "smaller than data.center_crop");
    expect_error(g_images, "", "", "set data.image_size");
    clvae_config c;
    clvae_dataset ds;
    folder_config(&c, "20", "", "auto"); /* not HxW: a config error naming the key */
    int st = clvae_dataset_load_cfg(&ds, &c, false, true);
    CHECK(st == CLVAE_ERR_CONFIG && strstr(clvae_last_error(), "image_size = 20"), "%d %s", st,
          clvae_last_error());
    CHECK(clvae_config_set(&c, "data.channels=2") == CLVAE_ERR_CONFIG, "channels = 2 accepted");
}

/* NPY (n, h, w, 3) is transposed to NCHW rows; (n, 3, h, w) is kept; image_shape resolves. */
static void test_npy_channels(void)
{
    enum { N = 2, H = 3, W = 5, C = 3 };
    uint8_t nhwc[N * H * W * C], nchw[N * C * H * W];
    for (int i = 0; i < N; i++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int c = 0; c < C; c++) {
                    uint8_t v = (uint8_t)(i * 100 + c * 30 + y * W + x);
                    nhwc[((i * H + y) * W + x) * C + c] = v;
                    nchw[((i * C + c) * H + y) * W + x] = v;
                }
    const char *p1 = tu_tmp_path("folder_nhwc.npy"), *p1s;
    size_t s1[4] = {N, H, W, C}, s2[4] = {N, C, H, W};
    char a[700], b[700];
    snprintf(a, sizeof a, "%s", p1);
    p1s = tu_tmp_path("folder_nchw.npy");
    snprintf(b, sizeof b, "%s", p1s);
    CHECK(clvae_npy_write_u8(a, nhwc, 4, s1) == 0 && clvae_npy_write_u8(b, nchw, 4, s2) == 0,
          "write NPY");
    for (int k = 0; k < 2; k++) {
        clvae_dataset ds;
        int st = clvae_dataset_load(&ds, k ? b : a, NULL, CLVAE_FORMAT_AUTO, 0);
        CHECK(st == CLVAE_OK, "%s", clvae_last_error());
        if (st) continue;
        CHECK(ds.channels == C && ds.rows == H && ds.cols == W && ds.dim == C * H * W,
              "shape %d %d %d", ds.channels, ds.rows, ds.cols);
        CHECK(memcmp(ds.u8, nchw, sizeof nchw) == 0, "%s rows are not NCHW", k ? "nchw" : "nhwc");
        clvae_config c;
        int cc, h, w;
        clvae_config_defaults(&c);
        CHECK(clvae_data_image_chw(&c, &ds, &cc, &h, &w) == 1 && cc == C && h == H && w == W,
              "auto chw");
        set(&c, "data.image_shape=5x3x3");
        CHECK(clvae_data_image_chw(&c, &ds, &cc, &h, &w) == 1 && cc == 3 && h == 5 && w == 3,
              "HxWxC");
        set(&c, "data.image_shape=15x3");
        CHECK(clvae_data_image_chw(&c, &ds, &cc, &h, &w) == CLVAE_ERR_CONFIG, "HxW on RGB data");
        set(&c, "data.image_shape=3x5x2");
        CHECK(clvae_data_image_chw(&c, &ds, &cc, &h, &w) == CLVAE_ERR_CONFIG &&
                  strstr(clvae_last_error(), "image_shape"), "wrong product");
        set(&c, "data.image_shape=none");
        CHECK(clvae_data_image_chw(&c, &ds, &cc, &h, &w) == 0, "none");
        clvae_dataset_free(&ds);
    }
}

/* The decoders on truncated, foreign and empty input: -1 with a message, nothing allocated. */
static void test_decoder_rejects(void)
{
    char path[800], err[256];
    const char *files[] = {"bag/e_rgb.png", "coat/c_rgb.jpeg", "coat/d_progressive.JPG"};
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s/%s", g_images, files[k]);
        FILE *f = fopen(path, "rb");
        uint8_t buf[65536];
        size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
        if (f) fclose(f);
        clvae_image im;
        CHECK(n > 100 && clvae_image_decode(buf, n, 0, 0, &im, err, sizeof err) == 0, "%s", err);
        clvae_image_free(&im);
        for (size_t cut = 10; cut < n; cut += n / 7) {
            int rc = clvae_image_decode(buf, cut, 0, 0, &im, err, sizeof err);
            CHECK(rc == -1 && im.px == NULL && err[0], "%s cut at %zu: rc %d", files[k], cut, rc);
        }
        CHECK(clvae_image_decode(buf, n, 0, 100, &im, err, sizeof err) == -1 &&
                  strstr(err, "larger than"), "max_pixels: %s", err);
    }
    clvae_image im;
    CHECK(clvae_image_decode((const uint8_t *)"GIF89a", 6, 0, 0, &im, err, sizeof err) == -1 &&
              strstr(err, "not a PNG or JPEG"), "foreign: %s", err);
}

int main(void)
{
    char cmd[4096];
    snprintf(g_dir, sizeof g_dir, "%s", tu_tmp_path("folder"));
    snprintf(g_images, sizeof g_images, "%s/images", g_dir);
    snprintf(g_cache, sizeof g_cache, "%s/cache", g_dir);
    snprintf(g_cache2, sizeof g_cache2, "%s/cache2", g_dir);
    if (system(PY " -c 'import numpy, PIL' >/dev/null 2>&1") != 0) {
        printf("SKIP: %s lacks numpy or PIL (apt-get install python3-numpy python3-pil)\n", PY);
        return TU_SKIP;
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s && " PY " %s/test/folder_ref.py %s", g_dir,
             g_dir, getenv("CLVAE_SRC") ? getenv("CLVAE_SRC") : "..", g_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "FAIL: %s\n", cmd);
        return 1;
    }
    test_cases();
    test_npy_channels();
    test_decoder_rejects();
    test_folder_errors();
    test_cache_and_bad_files(); /* spoils a file: last */
    return tu_finish("test_folder");
}
