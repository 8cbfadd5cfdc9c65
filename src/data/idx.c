/* IDX headers (the MNIST format): a magic number, then big-endian u32 dimensions; ubyte data only.
 */
#include "reader.h"

#include <stdio.h>

#include "clvae/status.h"

static uint32_t be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/* Why a magic number is not the one expected, as a short phrase for the message. */
static const char *magic_hint(uint32_t got, int labels)
{
    if (labels && got == 0x00000803u) return "; this is an IDX image file, not labels";
    if (!labels && got == 0x00000801u) return "; this is an IDX label file, not images";
    if ((got >> 16) == 0 && ((got >> 8) & 0xff) != 0x08)
        return "; only unsigned byte data (type 0x08) is supported";
    return "";
}

int clvae_idx_read_header(gzFile gz, const char *path, const uint8_t magic[4], int labels,
                          clvae_array_header *h)
{
    uint32_t want = labels ? 0x00000801u : 0x00000803u;
    uint32_t got = be32(magic);
    if (got != want)
        return clvae_error(CLVAE_ERR_DATA, "%s: wrong IDX magic 0x%08x, expected 0x%08x (%s)%s",
                           path, got, want,
                           labels ? "ubyte labels, 1 dimension" : "ubyte images, 3 dimensions",
                           magic_hint(got, labels));
    uint8_t dims[12];
    int ndim = labels ? 1 : 3;
    int status = clvae_data_read(gz, path, dims, 4 * (size_t)ndim, "IDX header");
    if (status) return status;
    h->kind = CLVAE_DK_UINT;
    h->size = 1;
    h->big_endian = h->fortran = false;
    snprintf(h->descr, sizeof h->descr, "IDX ubyte");
    h->ndim = ndim;
    for (int i = 0; i < CLVAE_ARRAY_MAX_DIMS; i++)
        h->shape[i] = i < ndim ? be32(dims + 4 * i) : 1;
    return CLVAE_OK;
}
