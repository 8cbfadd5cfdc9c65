/* Data readers: IDX and NPY (raw and gzip) round-trips, corrupt inputs, and the real Fashion-MNIST.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "clvae/data.h"
#include "clvae/status.h"
#include "testutil.h"
#include "test_bytes.h"

#define N 5
#define ROWS 3
#define COLS 4
#define DIM (ROWS * COLS)

static uint8_t pixel(size_t i, size_t j)
{
    return (uint8_t)((i * 37 + j * 11 + 3) & 0xff);
}

static bytes idx_images(uint32_t magic)
{
    bytes b = {0};
    put_be32(&b, magic);
    put_be32(&b, N), put_be32(&b, ROWS), put_be32(&b, COLS);
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < DIM; j++) {
            uint8_t v = pixel(i, j);
            put(&b, &v, 1);
        }
    return b;
}

static bytes idx_labels(uint32_t count)
{
    bytes b = {0};
    put_be32(&b, 0x00000801);
    put_be32(&b, count);
    for (uint32_t i = 0; i < count; i++) {
        uint8_t v = (uint8_t)(i * 3 % 10);
        put(&b, &v, 1);
    }
    return b;
}

static int has(const char *s, const char *part)
{
    return strstr(s, part) != NULL;
}

static void check_u8_set(const clvae_dataset *ds, size_t n, int rows, int cols, const char *what)
{
    CHECK(ds->n == n && ds->dim == DIM && ds->rows == rows && ds->cols == cols,
          "%s: shape n=%zu dim=%zu %dx%d", what, ds->n, ds->dim, ds->rows, ds->cols);
    CHECK(ds->u8 && !ds->f32, "%s: u8 storage", what);
    int bad = 0;
    for (size_t i = 0; ds->u8 && i < ds->n; i++)
        for (size_t j = 0; j < DIM; j++)
            bad += ds->u8[i * DIM + j] != pixel(i, j);
    CHECK(bad == 0, "%s: %d pixels differ", what, bad);
}

static void test_idx(void)
{
    bytes img = idx_images(0x00000803), lab = idx_labels(N);
    clvae_dataset ds;
    for (int gz = 0; gz < 2; gz++) {
        const char *ip = save(gz ? "t_img.idx.gz" : "t_img.idx", img.p, img.n, gz, 0);
        const char *lp = save(gz ? "t_lab.idx.gz" : "t_lab.idx", lab.p, lab.n, gz, 0);
        int rc = clvae_dataset_load(&ds, ip, lp, CLVAE_FORMAT_AUTO, 0);
        CHECK(rc == CLVAE_OK, "load idx gz=%d: %s", gz, clvae_last_error());
        check_u8_set(&ds, N, ROWS, COLS, gz ? "idx.gz" : "idx");
        int bad = 0;
        for (size_t i = 0; ds.labels && i < N; i++)
            bad += ds.labels[i] != i * 3 % 10;
        CHECK(ds.labels && bad == 0 && ds.n_classes == 10, "labels, n_classes %d", ds.n_classes);
        clvae_dataset_free(&ds);
        CHECK(!ds.u8 && !ds.labels && ds.n == 0, "free clears");
        rc = clvae_dataset_load(&ds, ip, NULL, CLVAE_FORMAT_IDX, 2);
        CHECK(rc == CLVAE_OK && ds.n == 2 && !ds.labels, "limit 2, no labels: %s",
              clvae_last_error());
        check_u8_set(&ds, 2, ROWS, COLS, "idx limit");
        clvae_dataset_free(&ds);
    }
    const char *ip = save("t_img.idx", img.p, img.n, 0, 0);
    const char *lp = save("t_lab.idx", lab.p, lab.n, 0, 0);
    clvae_dataset_load(&ds, ip, lp, CLVAE_FORMAT_AUTO, 0);
    uint32_t idx[3] = {4, 0, 4};
    float out[3 * DIM];
    clvae_dataset_gather(&ds, idx, 3, out);
    int bad = 0;
    for (size_t b = 0; b < 3; b++)
        for (size_t j = 0; j < DIM; j++)
            bad += out[b * DIM + j] != (float)pixel(idx[b], j) / 255.0f;
    CHECK(bad == 0, "gather: %d values differ", bad);
    clvae_dataset_free(&ds);
    free(img.p);
    free(lab.p);
}

static void test_npy(void)
{
    uint8_t u8[N * DIM];
    float f32[N * DIM];
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < DIM; j++) {
            u8[i * DIM + j] = pixel(i, j);
            f32[i * DIM + j] = (float)pixel(i, j) / 256.0f + 1.0f / 1024.0f;
        }
    int64_t lab64[N];
    int32_t lab32[N];
    for (int i = 0; i < N; i++)
        lab64[i] = lab32[i] = 200 + i;
    clvae_dataset ds;
    bytes b2 = npy(1, "|u1", "False", "(5, 12)", u8, sizeof u8);
    bytes b3 = npy(2, "|u1", "False", "(5, 3, 4)", u8, sizeof u8);
    bytes l64 = npy(1, "<i8", "False", "(5,)", lab64, sizeof lab64);
    bytes l32 = npy(1, "<i4", "False", "(5,)", lab32, sizeof lab32);
    const char *p2 = save("t_u1_2d.npy", b2.p, b2.n, 0, 0);
    const char *pl = save("t_l64.npy", l64.p, l64.n, 0, 0);
    int rc = clvae_dataset_load(&ds, p2, pl, CLVAE_FORMAT_AUTO, 0);
    CHECK(rc == CLVAE_OK, "npy u1 2-D: %s", clvae_last_error());
    check_u8_set(&ds, N, 1, DIM, "npy u1 2-D");
    CHECK(ds.labels && ds.labels[4] == 204 && ds.n_classes == 205, "i8 labels");
    clvae_dataset_free(&ds);
    const char *p3 = save("t_u1_3d.npy.gz", b3.p, b3.n, 1, 0);
    pl = save("t_l32.npy", l32.p, l32.n, 0, 0);
    rc = clvae_dataset_load(&ds, p3, pl, CLVAE_FORMAT_NPY, 3);
    CHECK(rc == CLVAE_OK, "npy.gz u1 3-D v2: %s", clvae_last_error());
    check_u8_set(&ds, 3, ROWS, COLS, "npy.gz u1 3-D");
    CHECK(ds.labels && ds.labels[2] == 202, "i4 labels");
    clvae_dataset_free(&ds);

    bytes f = npy(1, "<f4", "False", "(5, 3, 4)", f32, sizeof f32);
    const char *pf = save("t_f4.npy", f.p, f.n, 0, 0);
    rc = clvae_dataset_load(&ds, pf, NULL, CLVAE_FORMAT_AUTO, 0);
    CHECK(rc == CLVAE_OK && ds.f32 && !ds.u8, "npy f4: %s", clvae_last_error());
    CHECK(ds.n == N && ds.rows == ROWS && ds.cols == COLS, "f4 shape");
    CHECK(ds.f32 && memcmp(ds.f32, f32, sizeof f32) == 0, "f4 values exact");
    uint32_t idx[2] = {3, 1};
    float out[2 * DIM];
    clvae_dataset_gather(&ds, idx, 2, out);
    CHECK(memcmp(out, f32 + 3 * DIM, DIM * 4) == 0 && memcmp(out + DIM, f32 + DIM, DIM * 4) == 0,
          "f4 gather copies");
    clvae_dataset_free(&ds);
    free(b2.p), free(b3.p), free(l64.p), free(l32.p), free(f.p);
}

/* Expects CLVAE_ERR_DATA naming `named` and containing `part`. */
static void expect_error(const char *images, const char *labels, clvae_data_format fmt,
                         const char *named, const char *part)
{
    clvae_dataset ds;
    int rc = clvae_dataset_load(&ds, images, labels, fmt, 0);
    const char *msg = clvae_last_error();
    CHECK(rc == CLVAE_ERR_DATA, "rc %d (%s)", rc, msg);
    CHECK(has(msg, named), "message names %s: %s", named, msg);
    CHECK(has(msg, part), "message says '%s': %s", part, msg);
    CHECK(!strchr(msg, '\n'), "one-line message: %s", msg);
    CHECK(!ds.u8 && !ds.f32 && !ds.labels && ds.n == 0, "nothing left allocated");
}

static void test_errors(void)
{
    bytes img = idx_images(0x00000803), lab = idx_labels(N), lab4 = idx_labels(N - 1);
    char ip[4096];
    snprintf(ip, sizeof ip, "%s", save("e_img.idx", img.p, img.n, 0, 0));
    const char *p;
    p = save("e_missing.idx", "", 0, 0, 0);
    unlink(p);
    expect_error(p, NULL, CLVAE_FORMAT_AUTO, p, "No such file");
    expect_error(ip, p, CLVAE_FORMAT_AUTO, p, "No such file");
    p = save("e_labels_as_images.idx", lab.p, lab.n, 0, 0);
    expect_error(p, NULL, CLVAE_FORMAT_AUTO, p, "expected 0x00000803");
    expect_error(ip, ip, CLVAE_FORMAT_AUTO, ip, "expected 0x00000801");
    p = save("e_garbage.bin", "GIF89a....", 10, 0, 0);
    expect_error(p, NULL, CLVAE_FORMAT_AUTO, p, "magic");
    p = save("e_float_idx.idx", "\0\0\x0d\x03", 4, 0, 0);
    expect_error(p, NULL, CLVAE_FORMAT_AUTO, p, "unsigned byte");
    p = save("e_trunc.idx", img.p, img.n, 0, img.n - 7);
    expect_error(p, NULL, CLVAE_FORMAT_AUTO, p,
                 "truncated: expected 60 bytes of image data, got 53");
    p = save("e_trunc_hdr.idx", img.p, img.n, 0, 10);
    expect_error(p, NULL, CLVAE_FORMAT_AUTO, p, "truncated");
    p = save("e_empty.idx", "", 0, 0, 0);
    expect_error(p, NULL, CLVAE_FORMAT_AUTO, p, "truncated");
    p = save("e_trunc.idx.gz", img.p, img.n, 1, 30);
    expect_error(p, NULL, CLVAE_FORMAT_AUTO, p, "truncated");
    p = save("e_lab4.idx", lab4.p, lab4.n, 0, 0);
    expect_error(ip, p, CLVAE_FORMAT_AUTO, p, "4 labels, but");
    expect_error(ip, NULL, CLVAE_FORMAT_NPY, ip, "not an NPY file");

    uint8_t u8[N * DIM] = {0};
    float f32[N * DIM] = {0};
    int64_t l64[N] = {1, 2, 300, 4, 5};
    bytes b;
    /* Fortran order, float64 and int64 images are converted (test_data_inputs); what stays
     * refused is a dtype that holds no pixel values, and integers outside 0..255. */
    b = npy(1, "<c8", "False", "(5, 12)", u8, sizeof u8);
    p = save("e_c8.npy", b.p, b.n, 0, 0), free(b.p);
    expect_error(p, NULL, CLVAE_FORMAT_AUTO, p, "dtype '<c8'");
    int64_t big[N * DIM] = {0};
    big[13] = 256;
    b = npy(1, "<i8", "False", "(5, 12)", big, sizeof big);
    p = save("e_i8img.npy", b.p, b.n, 0, 0), free(b.p);
    expect_error(p, NULL, CLVAE_FORMAT_AUTO, p, "value 256 at sample 1, feature 1 (int64 '<i8') is outside 0..255");
    b = npy(1, "|u1", "False", "(60,)", u8, sizeof u8);
    p = save("e_1d.npy", b.p, b.n, 0, 0), free(b.p);
    expect_error(p, NULL, CLVAE_FORMAT_AUTO, p, "shape");
    b = npy(1, "|u1", "False", "(5, 12)", u8, sizeof u8 - 1);
    p = save("e_trunc.npy", b.p, b.n, 0, 0), free(b.p);
    expect_error(p, NULL, CLVAE_FORMAT_AUTO, p, "expected 60 bytes of image data, got 59");
    f32[17] = 1.5f;
    b = npy(1, "<f4", "False", "(5, 12)", f32, sizeof f32);
    p = save("e_range.npy", b.p, b.n, 0, 0), free(b.p);
    expect_error(p, NULL, CLVAE_FORMAT_AUTO, p, "outside [0, 1]");
    b = npy(1, "<i8", "False", "(5,)", l64, sizeof l64);
    p = save("e_label300.npy", b.p, b.n, 0, 0), free(b.p);
    expect_error(ip, p, CLVAE_FORMAT_AUTO, p, "label 300 at index 2");
    b = npy(1, "<i8", "False", "(5,)", l64, sizeof l64 - 3);
    p = save("e_label_trunc.npy", b.p, b.n, 0, 0), free(b.p);
    expect_error(ip, p, CLVAE_FORMAT_AUTO, p, "expected 40 bytes of labels, got 37");
    free(img.p), free(lab.p), free(lab4.p);
}

static void test_fashion_mnist(void)
{
    const char *img = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
    const char *lab = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
    if (access(img, R_OK) != 0 || access(lab, R_OK) != 0) {
        printf("SKIP part: %s not installed (Debian package dataset-fashion-mnist)\n", img);
        return;
    }
    clvae_dataset ds;
    int rc = clvae_dataset_load(&ds, img, lab, CLVAE_FORMAT_AUTO, 100);
    CHECK(rc == CLVAE_OK, "fashion-mnist: %s", clvae_last_error());
    CHECK(ds.n == 100 && ds.dim == 784 && ds.rows == 28 && ds.cols == 28, "shape");
    int bad = 0, nonzero = 0;
    for (size_t i = 0; ds.labels && i < ds.n; i++)
        bad += ds.labels[i] > 9;
    for (size_t i = 0; ds.u8 && i < ds.n * ds.dim; i++)
        nonzero += ds.u8[i] != 0;
    CHECK(ds.labels && bad == 0 && ds.n_classes <= 10, "labels in 0..9");
    CHECK(nonzero > 1000, "images are not blank (%d nonzero pixels)", nonzero);
    clvae_dataset_free(&ds);
}

int main(void)
{
    test_idx();
    test_npy();
    test_errors();
    test_fashion_mnist();
    return tu_finish("test_data");
}
