/* Fuzzes the label readers (IDX ubyte, NPY integer; raw or gzip): the input is the label file,
 * next to a fixed valid image file of 3 images (IDX, and NPY for the forced NPY format), so the
 * seeds (3 labels each) reach the label data and the fuzzer finds count mismatches on its own. */
#include <string.h>

#include "clvae/config.h"
#include "fuzz_data_common.h"
#include "fuzz_util.h"

#define N_IMAGES 3

static const char *idx_images(void)
{
    static const uint8_t idx[16 + N_IMAGES * 4] = {0, 0, 8, 3, 0, 0, 0, N_IMAGES, 0, 0, 0, 2,
                                                   0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8, 255};
    return fuzz_write("images.idx", idx, sizeof idx);
}

static const char *npy_images(void)
{
    char buf[128 + N_IMAGES * 4];
    const char *dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (3, 2, 2), }";
    size_t len = 118; /* 10 + 118 = 128: the header is padded to 64 bytes as numpy does */
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)len;
    buf[9] = 0;
    memset(buf + 10, ' ', len);
    memcpy(buf + 10, dict, strlen(dict));
    buf[10 + len - 1] = '\n';
    memset(buf + 128, 7, N_IMAGES * 4);
    return fuzz_write("images.npy", buf, sizeof buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *idx, *npy;
    if (!idx) {
        idx = idx_images();
        npy = npy_images();
    }
    const char *labels = fuzz_write("labels", data, size);
    fuzz_load_dataset(idx, labels, CLVAE_FORMAT_AUTO, 0);
    fuzz_load_dataset(idx, labels, CLVAE_FORMAT_IDX, 2);
    fuzz_load_dataset(npy, labels, CLVAE_FORMAT_NPY, 0);
    return 0;
}
