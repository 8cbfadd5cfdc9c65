/* Fuzzes the kernel-cache entry reader (clvae_ocl_cache_read_file + clvae_ocl_cache_check_entry,
 * what clvae_ocl_cache_load runs before handing a payload to the driver). The key is taken from
 * the input's own header field, as if the file were named after it, so the fuzzer reaches the
 * size and checksum checks; an entry that passes has a non-empty payload inside the file. */
#include <stdlib.h>
#include <string.h>

#include "backend/opencl/ocl_cache.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("entry.bin", data, size);
    uint64_t key = 0;
    if (size >= 24) memcpy(&key, data + 16, sizeof key);
    size_t n = 0;
    unsigned char *bytes = clvae_ocl_cache_read_file(path, &n);
    fuzz_check(bytes != NULL && n == size, "cache entry not read whole");
    const char *why = clvae_ocl_cache_check_entry(bytes, n, key);
    if (!why) {
        uint64_t payload, checksum;
        memcpy(&payload, bytes + 24, sizeof payload);
        memcpy(&checksum, bytes + 32, sizeof checksum);
        fuzz_check(n > CLVAE_OCL_CACHE_HEADER && payload == n - CLVAE_OCL_CACHE_HEADER &&
                       clvae_fnv1a64(CLVAE_FNV64_INIT, bytes + CLVAE_OCL_CACHE_HEADER,
                                     n - CLVAE_OCL_CACHE_HEADER) == checksum,
                   "an entry with a bad size or checksum was accepted");
        fuzz_check(clvae_ocl_cache_check_entry(bytes, n, ~key) != NULL,
                   "an entry was accepted under another key");
    } else {
        fuzz_check(strlen(why) > 0, "empty reason");
    }
    free(bytes);
    return 0;
}
