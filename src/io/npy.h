/* NPY v1.0 writers (float32 '<f4' and uint8 '|u1', C order); reading lives in src/data. */
#ifndef CLVAE_IO_NPY_H
#define CLVAE_IO_NPY_H

#include <stddef.h>

/* Largest ndim the writers accept. */
#define CLVAE_NPY_MAX_DIMS 8

/* Writes prod(shape) elements as an NPY v1.0 file whose header (magic, version, length, dict,
 * space padding, '\n') is 64-byte aligned. ndim 0 writes a scalar. Atomic (PATH.tmp + rename).
 * Errors: CLVAE_ERR_INTERNAL (bad ndim), CLVAE_ERR_IO, CLVAE_ERR_NOMEM. */
int clvae_npy_write_f32(const char *path, const float *data, int ndim, const size_t *shape);
int clvae_npy_write_u8(const char *path, const unsigned char *data, int ndim, const size_t *shape);

#endif
