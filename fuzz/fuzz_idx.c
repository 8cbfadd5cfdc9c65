/* Fuzzes the IDX image reader (raw and gzip: zlib detects gzip by its magic) through
 * clvae_dataset_load, with the format detected and forced, and with a row limit. */
#include "clvae/config.h"
#include "fuzz_data_common.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("images.idx", data, size);
    fuzz_load_dataset(path, NULL, CLVAE_FORMAT_AUTO, 0);
    fuzz_load_dataset(path, NULL, CLVAE_FORMAT_IDX, 2);
    return 0;
}
