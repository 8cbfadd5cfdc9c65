/* PNG image grids (8-bit grey or RGB, libpng): sample/reconstruction sheets, and a test decoder. */
#ifndef CLVAE_IO_PNG_H
#define CLVAE_IO_PNG_H

/* Gray level of the border and of empty grid cells. */
#define CLVAE_PNG_BORDER 224

/* Writes `n` images (row-major (n, h*w) floats in [0,1]; values are clamped, NaN -> 0) as a grid
 * of `cols` columns (cols <= 0: ceil(sqrt(n)); at most n) with `pad` pixels of light border
 * around and between cells. Size: (cols*w + (cols+1)*pad) x (rows*h + (rows+1)*pad).
 * Atomic (PATH.tmp + rename). Errors: CLVAE_ERR_INTERNAL (bad arguments), CLVAE_ERR_IO,
 * CLVAE_ERR_NOMEM. */
int clvae_png_write_grid(const char *path, const float *images, int n, int h, int w, int cols,
                         int pad);

/* The same for `ch`-channel images (n, ch, h, w) in NCHW planes: ch = 1 writes 8-bit grey
 * (colour type 0), ch = 3 8-bit RGB (colour type 2). */
int clvae_png_write_grid_c(const char *path, const float *images, int n, int ch, int h, int w,
                           int cols, int pad);

/* Decodes any PNG to 8-bit grayscale; *pixels (w*h bytes, row-major) is malloc'd by the call.
 * Errors: CLVAE_ERR_IO (cannot open), CLVAE_ERR_DATA (not a valid PNG), CLVAE_ERR_NOMEM. */
int clvae_png_read_gray(const char *path, int *w, int *h, unsigned char **pixels);

#endif
