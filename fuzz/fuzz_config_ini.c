/* Fuzzes the INI config reader (clvae_config_load, libinih + clvae's key table): any file gives
 * CLVAE_OK or CLVAE_ERR_CONFIG naming the file; a file that loads round-trips through the writer.
 */
#include "clvae/config.h"
#include "clvae/status.h"
#include "fuzz_config_common.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("input.ini", data, size);
    clvae_config cfg;
    clvae_config_defaults(&cfg);
    int st = clvae_config_load(&cfg, path);
    if (st) {
        fuzz_check_error(st, CLVAE_ERR_CONFIG, path);
        return 0;
    }
    fuzz_config_roundtrip(&cfg);
    return 0;
}
