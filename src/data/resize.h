/* Internal to src/data: the image folders' crop + area-averaging resize. */
#ifndef CLVAE_DATA_RESIZE_H
#define CLVAE_DATA_RESIZE_H

#include <stdint.h>

/* The region (y0, x0, ch, cw) of src (sh rows, sw columns, c interleaved channels) resized to
 * dh x dw. */
typedef struct clvae_resize {
    const uint8_t *src;
    int sw, c;
    int y0, x0, ch, cw;
    int dh, dw;
} clvae_resize;

/* Writes dst (c, dh, dw) planes (NCHW): each output pixel the area average of the region part it
 * covers, weights (overlap / (S / D)) per axis in double precision, floor(v + 0.5) clamped to
 * 0..255. Returns 0, or -2 when out of memory. */
int clvae_resize_area(const clvae_resize *r, uint8_t *dst);

#endif
