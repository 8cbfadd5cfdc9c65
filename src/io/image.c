/* PNG (libpng) and JPEG (libjpeg-turbo) decoding from memory to 8-bit grey or RGB, with each
 * library's error path caught by its own setjmp (see image.h for what is converted how). */
#include "io/image.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

/* Largest side either decoder accepts (libpng's own default is 1,000,000; JPEG's is 65500). */
#define IMAGE_MAX_SIDE 65535

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int too_large(size_t w, size_t h, size_t max_pixels, char *err, size_t errlen)
{
    if (w == 0 || h == 0 || w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE || w * h > max_pixels) {
        set_err(err, errlen, "image of %zu x %zu pixels is empty or larger than %zu pixels", w, h,
                max_pixels);
        return 1;
    }
    return 0;
}

/* ---- PNG ---- */

typedef struct png_src {
    const uint8_t *buf;
    size_t len, at;
    char *err;
    size_t errlen;
} png_src;

static void png_read_mem(png_structp png, png_bytep dst, png_size_t n)
{
    png_src *s = png_get_io_ptr(png);
    if (n > s->len - s->at) png_error(png, "truncated file (read past the end of the data)");
    memcpy(dst, s->buf + s->at, n);
    s->at += n;
}

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_src *s = png_get_error_ptr(png);
    set_err(s->err, s->errlen, "PNG: %s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png, (void)msg; /* ancillary-chunk trouble: the pixels are still good */
}

/* Transforms that give 8-bit grey (c 1) or RGB (c 3) without alpha; returns c. */
static int png_transforms(png_structp png, png_infop info, int *colour)
{
    int type = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    *colour = (type & PNG_COLOR_MASK_COLOR) != 0;
    if (depth == 16) png_set_scale_16(png);
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (type & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    return *colour ? 3 : 1;
}

/* Decodes into *out (its own channels); 0, -1 (err set) or -2. */
static int png_decode(png_src *src, size_t max_pixels, clvae_image *out)
{
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, src, png_on_error,
                                             png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    uint8_t *volatile px = NULL;
    png_bytep *volatile rows = NULL;
    volatile int rc = 0;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return -2;
    }
    if (setjmp(png_jmpbuf(png))) {
        rc = -1;
        goto done;
    }
    png_set_read_fn(png, src, png_read_mem);
    png_set_user_limits(png, IMAGE_MAX_SIDE, IMAGE_MAX_SIDE);
    png_read_info(png, info);
    size_t w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if (too_large(w, h, max_pixels, src->err, src->errlen)) {
        rc = -1;
        goto done;
    }
    int colour, c = png_transforms(png, info, &colour);
    if (png_get_rowbytes(png, info) != w * (size_t)c) {
        set_err(src->err, src->errlen, "PNG: unexpected row size after conversion");
        rc = -1;
        goto done;
    }
    px = malloc(w * h * (size_t)c);
    rows = malloc(h * sizeof *rows);
    if (!px || !rows) {
        rc = -2;
        goto done;
    }
    for (size_t y = 0; y < h; y++) rows[y] = px + y * w * (size_t)c;
    png_read_image(png, rows);
    *out = (clvae_image){.w = (int)w, .h = (int)h, .c = c, .colour = colour, .px = px};
    px = NULL;
done:
    png_destroy_read_struct(&png, &info, NULL);
    free(px);
    free(rows);
    return rc;
}

/* ---- JPEG ---- */

typedef struct jpeg_err {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    int truncated; /* libjpeg's "premature end of data" warning: refused, as Pillow does */
} jpeg_err;

static void jpeg_on_error(j_common_ptr cinfo)
{
    jpeg_err *e = (jpeg_err *)cinfo->err;
    longjmp(e->jump, 1);
}

static void jpeg_on_message(j_common_ptr cinfo, int level)
{
    jpeg_err *e = (jpeg_err *)cinfo->err;
    if (level < 0 && e->mgr.msg_code == JWRN_JPEG_EOF) e->truncated = 1;
    if (level < 0) e->mgr.num_warnings++;
}

/* CMYK rows (Adobe-inverted, as libjpeg writes them and Pillow reads them) -> RGB:
 * Pillow's cmyk2rgb, nk - c * nk / 255 with nk = 255 - k. */
static void cmyk_row_to_rgb(const uint8_t *in, uint8_t *out, size_t w)
{
    for (size_t x = 0; x < w; x++) {
        unsigned nk = in[4 * x + 3]; /* inverted k = 255 - k */
        for (int k = 0; k < 3; k++) {
            unsigned c = 255u - in[4 * x + k], t = c * nk + 128u;
            out[3 * x + k] = (uint8_t)(nk - (((t >> 8) + t) >> 8));
        }
    }
}

/* Reads the scanlines into px (h, w, c); cmyk rows go through `row` first. */
static void jpeg_rows(struct jpeg_decompress_struct *ci, uint8_t *px, uint8_t *row, int c)
{
    size_t w = ci->output_width;
    while (ci->output_scanline < ci->output_height) {
        uint8_t *dst = px + (size_t)ci->output_scanline * w * (size_t)c;
        JSAMPROW r = row ? row : dst;
        if (jpeg_read_scanlines(ci, &r, 1) != 1) break;
        if (row) cmyk_row_to_rgb(row, dst, w);
    }
}

static int jpeg_decode(const uint8_t *buf, size_t len, size_t max_pixels, clvae_image *out,
                       char *err, size_t errlen)
{
    struct jpeg_decompress_struct ci;
    jpeg_err je;
    uint8_t *volatile px = NULL, *volatile row = NULL;
    volatile int rc = 0;
    memset(&ci, 0, sizeof ci);
    ci.err = jpeg_std_error(&je.mgr);
    je.mgr.error_exit = jpeg_on_error;
    je.mgr.emit_message = jpeg_on_message;
    je.truncated = 0;
    if (setjmp(je.jump)) {
        char msg[JMSG_LENGTH_MAX];
        je.mgr.format_message((j_common_ptr)&ci, msg);
        set_err(err, errlen, "JPEG: %s", msg);
        rc = -1;
        goto done;
    }
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, buf, (unsigned long)len);
    jpeg_read_header(&ci, TRUE);
    int cmyk = ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK;
    int colour = ci.num_components > 1, c = colour ? 3 : 1;
    ci.out_color_space = cmyk ? JCS_CMYK : colour ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_calc_output_dimensions(&ci);
    if (too_large(ci.output_width, ci.output_height, max_pixels, err, errlen)) {
        rc = -1;
        goto done;
    }
    jpeg_start_decompress(&ci);
    if (ci.output_components != (cmyk ? 4 : c)) {
        set_err(err, errlen, "JPEG: unsupported colour layout (%d components)", ci.num_components);
        rc = -1;
        goto done;
    }
    size_t w = ci.output_width, h = ci.output_height;
    px = malloc(w * h * (size_t)c);
    row = cmyk ? malloc(w * 4) : NULL;
    if (!px || (cmyk && !row)) {
        rc = -2;
        goto done;
    }
    jpeg_rows(&ci, px, row, c);
    if (je.truncated || ci.output_scanline < ci.output_height) {
        set_err(err, errlen, "JPEG: truncated file (premature end of data)");
        rc = -1;
        goto done;
    }
    jpeg_finish_decompress(&ci);
    *out = (clvae_image){.w = (int)w, .h = (int)h, .c = c, .colour = colour, .px = px};
    px = NULL;
done:
    jpeg_destroy_decompress(&ci);
    free(px);
    free(row);
    return rc;
}

/* ---- both ---- */

/* px (h, w, from) -> (h, w, to) for from != to (1 <-> 3), in a new buffer. */
static int convert_channels(clvae_image *im, int to)
{
    size_t n = (size_t)im->w * (size_t)im->h;
    uint8_t *d = malloc(n * (size_t)to), *s = im->px;
    if (!d) return -2;
    for (size_t i = 0; i < n; i++) {
        if (to == 1)
            d[i] = clvae_image_luma(s[3 * i], s[3 * i + 1], s[3 * i + 2]);
        else
            d[3 * i] = d[3 * i + 1] = d[3 * i + 2] = s[i];
    }
    free(im->px);
    im->px = d;
    im->c = to;
    return 0;
}

int clvae_image_decode(const uint8_t *buf, size_t len, int want_c, size_t max_pixels,
                       clvae_image *out, char *err, size_t errlen)
{
    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memset(out, 0, sizeof *out);
    if (!max_pixels) max_pixels = CLVAE_IMAGE_MAX_PIXELS;
    int rc;
    if (len >= 8 && memcmp(buf, png_magic, 8) == 0) {
        png_src src = {.buf = buf, .len = len, .err = err, .errlen = errlen};
        rc = png_decode(&src, max_pixels, out);
    } else if (len >= 3 && buf[0] == 0xff && buf[1] == 0xd8 && buf[2] == 0xff) {
        rc = jpeg_decode(buf, len, max_pixels, out, err, errlen);
    } else {
        set_err(err, errlen, "not a PNG or JPEG file (unknown magic bytes)");
        return -1;
    }
    if (rc == -2) set_err(err, errlen, "out of memory decoding the image");
    if (rc == 0 && want_c && want_c != out->c && (rc = convert_channels(out, want_c)) != 0) {
        set_err(err, errlen, "out of memory decoding the image");
        clvae_image_free(out);
    }
    return rc;
}

void clvae_image_free(clvae_image *im)
{
    if (!im) return;
    free(im->px);
    memset(im, 0, sizeof *im);
}
