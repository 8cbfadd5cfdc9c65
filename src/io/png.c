/* PNG grid writer (grey or RGB) and grayscale reader on libpng (setjmp error handling kept in small helpers). */
#include "io/png.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "clvae/status.h"
#include "io/atomic.h"

/* Largest image side we write or read (libpng's own default limit is 1,000,000). */
#define PNG_MAX_SIDE 65535

static unsigned char to_u8(float v)
{
    if (!(v > 0.0f)) return 0; /* also NaN */
    if (v >= 1.0f) return 255;
    return (unsigned char)lrintf(v * 255.0f);
}

/* Fills the grid canvas (border everywhere, then each image into its cell): images are
 * (n, ch, h, w) planes, the canvas (gh, gw, ch) interleaved. */
static void fill_grid(unsigned char *canvas, int gw, const float *images, int n, int ch, int h,
                      int w, int cols, int pad)
{
    size_t hw = (size_t)h * (size_t)w;
    for (int i = 0; i < n; i++) {
        int r = i / cols, c = i % cols;
        const float *img = images + (size_t)i * ch * hw;
        size_t y0 = (size_t)pad + (size_t)r * (size_t)(h + pad);
        size_t x0 = (size_t)pad + (size_t)c * (size_t)(w + pad);
        for (int y = 0; y < h; y++) {
            unsigned char *row = canvas + ((y0 + (size_t)y) * (size_t)gw + x0) * ch;
            for (int x = 0; x < w; x++)
                for (int k = 0; k < ch; k++)
                    row[(size_t)x * ch + k] = to_u8(img[k * hw + (size_t)y * (size_t)w + x]);
        }
    }
}

/* Encodes gw x gh 8-bit gray (ch 1) or RGB (ch 3) rows to `fp`; 0 on success, -1 on a libpng
 * error. */
static int encode_grid(FILE *fp, unsigned char *canvas, int gw, int gh, int ch, png_bytep *rows)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    for (int y = 0; y < gh; y++)
        rows[y] = canvas + (size_t)y * (size_t)gw * ch;
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)gw, (png_uint_32)gh, 8,
                 ch == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

int clvae_png_write_grid(const char *path, const float *images, int n, int h, int w, int cols,
                         int pad)
{
    return clvae_png_write_grid_c(path, images, n, 1, h, w, cols, pad);
}

int clvae_png_write_grid_c(const char *path, const float *images, int n, int ch, int h, int w,
                           int cols, int pad)
{
    if (n <= 0 || h <= 0 || w <= 0 || pad < 0 || !images || (ch != 1 && ch != 3))
        return clvae_error(CLVAE_ERR_INTERNAL,
                           "%s: bad PNG grid arguments n=%d c=%d h=%d w=%d pad=%d", path, n, ch,
                           h, w, pad);
    if (cols <= 0) cols = (int)ceil(sqrt((double)n));
    if (cols > n) cols = n;
    int rows_n = (n + cols - 1) / cols;
    long long gw = (long long)cols * w + (long long)(cols + 1) * pad;
    long long gh = (long long)rows_n * h + (long long)(rows_n + 1) * pad;
    if (gw > PNG_MAX_SIDE || gh > PNG_MAX_SIDE)
        return clvae_error(CLVAE_ERR_INTERNAL, "%s: PNG grid %lldx%lld is too large", path, gw, gh);
    clvae_atomic_file af = {0};
    unsigned char *canvas = malloc((size_t)gw * (size_t)gh * ch);
    png_bytep *rows = malloc((size_t)gh * sizeof *rows);
    int st = CLVAE_OK;
    if (!canvas || !rows) {
        st = clvae_error(CLVAE_ERR_NOMEM, "%s: out of memory for a %lldx%lld grid", path, gw, gh);
        goto cleanup;
    }
    memset(canvas, CLVAE_PNG_BORDER, (size_t)gw * (size_t)gh * ch);
    fill_grid(canvas, (int)gw, images, n, ch, h, w, cols, pad);
    st = clvae_atomic_open(&af, path);
    if (st) goto cleanup;
    if (encode_grid(af.fp, canvas, (int)gw, (int)gh, ch, rows) != 0) {
        clvae_atomic_abort(&af);
        st = clvae_error(CLVAE_ERR_IO, "%s: PNG encoding failed", path);
        goto cleanup;
    }
    st = clvae_atomic_finish(&af);
cleanup:
    free(rows);
    free(canvas);
    return st;
}

/* Sets transforms that turn any PNG into 8-bit gray without alpha; returns the row size. */
static size_t set_gray_transforms(png_structp png, png_infop info)
{
    int color = png_get_color_type(png, info);
    if (png_get_bit_depth(png, info) == 16) png_set_strip_16(png);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (color & PNG_COLOR_MASK_ALPHA || png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_strip_alpha(png);
    if (color & PNG_COLOR_MASK_COLOR || color == PNG_COLOR_TYPE_PALETTE)
        png_set_rgb_to_gray_fixed(png, 1, -1, -1);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    return png_get_rowbytes(png, info);
}

/* Decodes `fp` into *out (w*h); 0 ok, -1 libpng error, -2 out of memory, -3 too large. */
static int decode_gray(FILE *fp, int *w, int *h, unsigned char **out)
{
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    unsigned char *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return -2;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(pixels);
        free(rows);
        return -1;
    }
    png_init_io(png, fp);
    png_read_info(png, info);
    png_uint_32 pw = png_get_image_width(png, info), ph = png_get_image_height(png, info);
    int rc = pw > PNG_MAX_SIDE || ph > PNG_MAX_SIDE ? -3 : 0;
    size_t rowbytes = rc ? 0 : set_gray_transforms(png, info);
    if (!rc && rowbytes != pw) rc = -1;
    if (!rc) {
        pixels = malloc((size_t)pw * ph);
        rows = malloc((size_t)ph * sizeof *rows);
        rc = pixels && rows ? 0 : -2;
    }
    if (!rc) {
        for (png_uint_32 y = 0; y < ph; y++)
            rows[y] = pixels + (size_t)y * pw;
        png_read_image(png, rows);
        png_read_end(png, NULL);
        *w = (int)pw, *h = (int)ph, *out = pixels;
        pixels = NULL;
    }
    png_destroy_read_struct(&png, &info, NULL);
    free(pixels);
    free(rows);
    return rc;
}

int clvae_png_read_gray(const char *path, int *w, int *h, unsigned char **pixels)
{
    unsigned char sig[8];
    *pixels = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return clvae_error(CLVAE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    int st = CLVAE_OK;
    if (fread(sig, 1, 8, fp) != 8 || png_sig_cmp(sig, 0, 8) != 0) {
        st = clvae_error(CLVAE_ERR_DATA, "%s: not a PNG file", path);
        goto cleanup;
    }
    rewind(fp);
    int rc = decode_gray(fp, w, h, pixels);
    if (rc == -2) st = clvae_error(CLVAE_ERR_NOMEM, "%s: out of memory decoding PNG", path);
    if (rc == -1) st = clvae_error(CLVAE_ERR_DATA, "%s: corrupt or unsupported PNG", path);
    if (rc == -3)
        st =
            clvae_error(CLVAE_ERR_DATA, "%s: PNG larger than %d pixels a side", path, PNG_MAX_SIDE);
cleanup:
    fclose(fp);
    return st;
}
