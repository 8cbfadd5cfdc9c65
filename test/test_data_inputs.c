/* Inputs as users bring them: which label files a config names (labels follow the data), and
 * NPY files of every element type, byte order and memory order numpy writes, read exactly. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "clvae/config.h"
#include "clvae/data.h"
#include "clvae/status.h"
#include "testutil.h"
#include "test_bytes.h"

#define N 5
#define H 3
#define W 4
#define D (H * W)

static int same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void test_labels_follow_data(void)
{
    clvae_config c;
    clvae_config_defaults(&c);
    CHECK(same(clvae_data_labels_path(&c, false), CLVAE_BUILTIN_TRAIN_LABELS), "built-in train");
    CHECK(same(clvae_data_labels_path(&c, true), CLVAE_BUILTIN_TEST_LABELS), "built-in test");
    /* own images, labels left at auto: no labels for that set only */
    snprintf(c.data.train, sizeof c.data.train, "my_train.npy");
    CHECK(clvae_data_labels_path(&c, false) == NULL, "own train data gets no labels");
    CHECK(same(clvae_data_labels_path(&c, true), CLVAE_BUILTIN_TEST_LABELS), "test unchanged");
    snprintf(c.data.test, sizeof c.data.test, "my_test.npy");
    CHECK(clvae_data_labels_path(&c, true) == NULL, "own test data gets no labels");
    /* a given path is used as given (and checked by the loader); "" is none */
    snprintf(c.data.train_labels, sizeof c.data.train_labels, "my_labels.npy");
    CHECK(same(clvae_data_labels_path(&c, false), "my_labels.npy"), "explicit labels");
    clvae_config_defaults(&c);
    c.data.test_labels[0] = '\0';
    CHECK(clvae_data_labels_path(&c, true) == NULL, "\"\" = none, also with built-in data");
}

static unsigned pix(size_t i, size_t j)
{
    return (unsigned)((i * 37 + j * 11 + 3) & 0xff);
}

/* Element k of a (N, H, W) array in Fortran order sits at i + N * (h + H * w). */
static size_t fortran_at(size_t i, size_t j)
{
    return i + N * (j / W + H * (j % W));
}

/* pix as `size`-byte little- or big-endian unsigned integers, C or Fortran order. */
static bytes ints(int size, int big, int fortran)
{
    bytes b = {0};
    uint8_t *buf = calloc(N * D, (size_t)size);
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < D; j++) {
            size_t at = fortran ? fortran_at(i, j) : i * D + j;
            buf[at * size + (big ? size - 1 : 0)] = (uint8_t)pix(i, j);
        }
    put(&b, buf, N * D * (size_t)size);
    free(buf);
    return b;
}

static const char *npy_file(const char *leaf, const char *descr, const char *fortran,
                            const char *shape, bytes data)
{
    bytes f = npy(1, descr, fortran, shape, data.p, data.n);
    const char *p = save(leaf, f.p, f.n, 0, 0);
    free(f.p);
    free(data.p);
    return p;
}

static void check_pixels(const char *what, const char *path, long limit, int rows, int cols)
{
    clvae_dataset ds;
    int rc = clvae_dataset_load(&ds, path, NULL, CLVAE_FORMAT_AUTO, limit);
    size_t n = limit ? (size_t)limit : N, bad = 0;
    CHECK(rc == CLVAE_OK, "%s: %s", what, clvae_last_error());
    CHECK(ds.n == n && ds.dim == D && ds.rows == rows && ds.cols == cols && ds.u8,
          "%s: n %zu dim %zu %dx%d u8 %p", what, ds.n, ds.dim, ds.rows, ds.cols, (void *)ds.u8);
    for (size_t i = 0; ds.u8 && i < n; i++)
        for (size_t j = 0; j < D; j++)
            bad += ds.u8[i * D + j] != pix(i, j);
    CHECK(bad == 0, "%s: %zu of %zu pixels differ", what, bad, n * D);
    clvae_dataset_free(&ds);
}

/* Every integer width and byte order, C and Fortran order, and the image shapes. */
static void test_integer_images(void)
{
    check_pixels("<i2", npy_file("i2.npy", "<i2", "False", "(5, 3, 4)", ints(2, 0, 0)), 0, H, W);
    check_pixels(">u2", npy_file("u2be.npy", ">u2", "False", "(5, 3, 4)", ints(2, 1, 0)), 0, H, W);
    check_pixels("<u4", npy_file("u4.npy", "<u4", "False", "(5, 12)", ints(4, 0, 0)), 0, 1, D);
    check_pixels(">i8", npy_file("i8be.npy", ">i8", "False", "(5, 3, 4, 1)", ints(8, 1, 0)), 0, H,
                 W);
    check_pixels("<u8 (n,1,h,w)", npy_file("u8.npy", "<u8", "False", "(5, 1, 3, 4)", ints(8, 0, 0)),
                 0, H, W);
    check_pixels("|u1 Fortran", npy_file("u1f.npy", "|u1", "True", "(5, 3, 4)", ints(1, 0, 1)), 0, H,
                 W);
    check_pixels("<i4 Fortran, limit 2",
                 npy_file("i4f.npy", "<i4", "True", "(5, 3, 4)", ints(4, 0, 1)), 2, H, W);
    check_pixels("<i8 Fortran (n,h,w,1)",
                 npy_file("i8f.npy", "<i8", "True", "(5, 3, 4, 1)", ints(8, 0, 1)), 0, H, W);
}

/* float64, float16 (both orders) become float32 equal to (float) of the file's value. */
static void test_float_images(void)
{
    double f8[N * D];
    uint16_t f2[N * D];
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < D; j++) {
            f8[fortran_at(i, j)] = pix(i, j) / 255.0;
            /* pix/256 in binary16: exponent and 10-bit mantissa of a value in [0, 1) */
            double v = pix(i, j) / 256.0;
            int e;
            double m = frexp(v, &e); /* v = m * 2^e, m in [0.5, 1) */
            f2[i * D + j] = v == 0 ? 0 : (uint16_t)((e - 1 + 15) << 10 | (uint16_t)((m * 2 - 1) * 1024));
        }
    bytes b8 = {0}, b2 = {0};
    put(&b8, f8, sizeof f8);
    put(&b2, f2, sizeof f2);
    const char *paths[2] = {npy_file("f8f.npy", "<f8", "True", "(5, 3, 4)", b8),
                            npy_file("f2.npy", "<f2", "False", "(5, 12)", b2)};
    for (int k = 0; k < 2; k++) {
        clvae_dataset ds;
        int rc = clvae_dataset_load(&ds, paths[k], NULL, CLVAE_FORMAT_AUTO, 0);
        size_t bad = 0;
        CHECK(rc == CLVAE_OK && ds.f32 && !ds.u8 && ds.n == N && ds.dim == D, "%s: %s", paths[k],
              clvae_last_error());
        for (size_t i = 0; ds.f32 && i < N; i++)
            for (size_t j = 0; j < D; j++) {
                float want = k == 0 ? (float)(pix(i, j) / 255.0) : (float)(pix(i, j) / 256.0);
                bad += ds.f32[i * D + j] != want; /* exact: one rounding, as numpy's astype */
            }
        CHECK(bad == 0, "%s: %zu values differ", paths[k], bad);
        clvae_dataset_free(&ds);
    }
}

/* bool images gather as 0 and 1; bool and any-width labels are read; ranges are checked. */
static void test_bool_and_labels(void)
{
    bytes b = {0}, l = {0};
    for (size_t k = 0; k < N * D; k++) {
        uint8_t v = (uint8_t)(k % 3 == 0);
        put(&b, &v, 1);
    }
    int16_t lab[N] = {3, 0, 9, 255, 1};
    for (int i = 0; i < N; i++) { /* big-endian int16 */
        uint8_t be[2] = {(uint8_t)((uint16_t)lab[i] >> 8), (uint8_t)lab[i]};
        put(&l, be, 2);
    }
    const char *img = npy_file("bool.npy", "|b1", "False", "(5, 3, 4)", b);
    const char *lp = npy_file("labels_i2be.npy", ">i2", "False", "(5,)", l);
    clvae_dataset ds;
    int rc = clvae_dataset_load(&ds, img, lp, CLVAE_FORMAT_AUTO, 0);
    CHECK(rc == CLVAE_OK, "bool + >i2 labels: %s", clvae_last_error());
    uint32_t idx[1] = {1};
    float out[D];
    if (rc == CLVAE_OK) {
        clvae_dataset_gather(&ds, idx, 1, out);
        /* row 1 holds k = 12..23: true where k % 3 == 0, i.e. at j = 0, 3, 6, 9 */
        CHECK(out[0] == 1.0f && out[1] == 0.0f && out[3] == 1.0f && out[11] == 0.0f,
              "bool gathers %g %g %g %g", out[0], out[1], out[3], out[11]);
        CHECK(ds.labels[0] == 3 && ds.labels[3] == 255 && ds.n_classes == 256, "labels");
    }
    clvae_dataset_free(&ds);
}

/* Expects CLVAE_ERR_DATA with a one-line message containing `part`. */
static void expect_error(const char *images, const char *labels, const char *part)
{
    clvae_dataset ds;
    int rc = clvae_dataset_load(&ds, images, labels, CLVAE_FORMAT_AUTO, 0);
    const char *msg = clvae_last_error();
    CHECK(rc == CLVAE_ERR_DATA && strstr(msg, part) && !strchr(msg, '\n'),
          "rc %d, message lacks '%s': %s", rc, part, msg);
    CHECK(!ds.u8 && !ds.f32 && !ds.labels, "nothing left allocated");
}

static bytes one_value(const void *v, size_t size, size_t count)
{
    bytes b = {0};
    uint8_t zero[8] = {0};
    for (size_t k = 0; k < count; k++)
        put(&b, k == 7 ? v : zero, size);
    return b;
}

static void test_refused(void)
{
    double d = 1.5;
    int8_t neg = -1;
    uint8_t two = 2;
    uint16_t nan16 = 0x7e00;
    uint64_t big = 300;
    expect_error(npy_file("r_f8.npy", "<f8", "False", "(5, 12)", one_value(&d, 8, N * D)), NULL,
                 "value 1.5 at sample 0, feature 7 (float64 '<f8') is outside [0, 1]");
    expect_error(npy_file("r_f2.npy", "<f2", "False", "(5, 12)", one_value(&nan16, 2, N * D)),
                 NULL, "value nan at sample 0, feature 7 (float16 '<f2') is outside [0, 1]");
    expect_error(npy_file("r_i1.npy", "|i1", "False", "(5, 12)", one_value(&neg, 1, N * D)), NULL,
                 "value -1 at sample 0, feature 7 (int8 '|i1') is outside 0..255");
    expect_error(npy_file("r_b1.npy", "|b1", "False", "(5, 12)", one_value(&two, 1, N * D)), NULL,
                 "value 2 at sample 0, feature 7 (bool '|b1') is outside 0/1");
    const char *img = npy_file("r_img.npy", "|u1", "False", "(8, 12)", one_value(&two, 1, 8 * D));
    expect_error(img, npy_file("r_lab.npy", "<u8", "False", "(8,)", one_value(&big, 8, 8)),
                 "label 300 at index 7 is outside 0..255");
    expect_error(img, npy_file("r_labf.npy", "<f4", "False", "(8,)", one_value(&d, 4, 8)),
                 "unsupported label dtype <f4");
    expect_error(npy_file("r_rgb.npy", "|u1", "False", "(1, 5, 6, 7)", one_value(&two, 1, 210)),
                 NULL, "no channel dimension of 1..4");
    expect_error(npy_file("r_c16.npy", "<c16", "False", "(5, 12)", one_value(&two, 1, 60)), NULL,
                 "unsupported NPY dtype '<c16'");
    expect_error(npy_file("r_str.npy", "<U3", "False", "(5, 12)", one_value(&two, 1, 60)), NULL,
                 "unsupported NPY dtype '<U3'");
    /* A header that claims 10^9 x 784 bytes over a 60-byte body: refused before allocating. */
    expect_error(npy_file("r_huge.npy", "|u1", "False", "(1000000000, 784)",
                          one_value(&two, 1, 60)),
                 NULL, "truncated: expected 784000000000 bytes of image data, got 60");
    /* The same claim (x 1000) in a gzip file, whose size says nothing: more than any machine's
     * memory (784 TB as bytes), refused before allocating. */
    bytes hz = npy(1, "|u1", "False", "(1000000000000, 784)", "\0\0\0\0", 4);
    const char *pz = save("r_huge.npy.gz", hz.p, hz.n, 1, 0);
    free(hz.p);
    expect_error(pz, NULL, "refused before allocating");
}

int main(void)
{
    test_labels_follow_data();
    test_integer_images();
    test_float_images();
    test_bool_and_labels();
    test_refused();
    return tu_finish("test_data_inputs");
}
