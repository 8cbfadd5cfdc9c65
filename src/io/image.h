/* PNG and JPEG decoding from memory (libpng, libjpeg-turbo) to 8-bit grey or RGB pixels, for
 * image folders. Safe to call from several threads at once: errors come back in a caller's
 * buffer, never through clvae_error, and no decoder error escapes (libpng's longjmp and
 * libjpeg's error_exit land in the decoder's own setjmp). */
#ifndef CLVAE_IO_IMAGE_H
#define CLVAE_IO_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/* Default cap on width * height (64 Mpixel): larger headers are refused before allocating. */
#define CLVAE_IMAGE_MAX_PIXELS ((size_t)1 << 26)

typedef struct clvae_image {
    int w, h;
    int c;        /* 1 (grey) or 3 (RGB) */
    int colour;   /* the file holds colour: RGB(A) or palette PNG, colour or CMYK JPEG */
    uint8_t *px;  /* (h, w, c) interleaved */
} clvae_image;

/* Decodes a PNG or a JPEG (told apart by their magic bytes) held in buf[0..len). Every PNG
 * colour type and bit depth: 16-bit samples are scaled to 8 bits (nearest, v / 257), 1/2/4-bit
 * grey expanded, a palette expanded to RGB, alpha (and tRNS transparency) dropped as Pillow's
 * convert("RGB") drops it; interlaced PNGs too. JPEG: baseline and progressive, grey, YCbCr/RGB,
 * CMYK and YCCK (Adobe-inverted or not; converted to RGB as Pillow does); EXIF orientation is
 * ignored. `want_c`: 0 = the file's own (1 for grey files, else 3), 1 = grey (colour converted
 * with Pillow's "L" weights, (19595 R + 38470 G + 7471 B + 32768) >> 16), 3 = RGB (grey
 * replicated). `max_pixels` (0 = CLVAE_IMAGE_MAX_PIXELS) caps w * h.
 * Returns 0, -1 with the reason in err (not a PNG or JPEG, the decoder's message for a corrupt or
 * truncated file, too large), or -2 when out of memory. On failure *out holds nothing. */
int clvae_image_decode(const uint8_t *buf, size_t len, int want_c, size_t max_pixels,
                       clvae_image *out, char *err, size_t errlen);

void clvae_image_free(clvae_image *im);

/* Pillow's "L" conversion of one RGB pixel. */
static inline uint8_t clvae_image_luma(uint8_t r, uint8_t g, uint8_t b)
{
    return (uint8_t)((19595u * r + 38470u * g + 7471u * b + 0x8000u) >> 16);
}

#endif
