/* Write / read back / write again for the config harnesses. */
#include "fuzz_config_common.h"

#include <stdlib.h>
#include <string.h>

#include "clvae/status.h"
#include "fuzz_util.h"

void fuzz_config_roundtrip(const clvae_config *cfg)
{
    const char *first = fuzz_path("written.ini"), *second = fuzz_path("rewritten.ini");
    int st = clvae_config_validate(cfg);
    if (st) {
        fuzz_check(st == CLVAE_ERR_CONFIG, "validate: status is not CLVAE_ERR_CONFIG");
        return;
    }
    fuzz_check(clvae_config_write(cfg, first) == CLVAE_OK, "a valid config could not be written");
    clvae_config back;
    clvae_config_defaults(&back);
    fuzz_check(clvae_config_load(&back, first) == CLVAE_OK,
               "the config clvae wrote does not load back");
    fuzz_check(clvae_config_validate(&back) == CLVAE_OK,
               "the config clvae wrote loads back invalid");
    fuzz_check(clvae_config_write(&back, second) == CLVAE_OK, "the reloaded config cannot be written");
    size_t n1, n2;
    char *a = fuzz_slurp(first, &n1), *b = fuzz_slurp(second, &n2);
    fuzz_check(n1 == n2 && memcmp(a, b, n1) == 0,
               "written config read back and written again differs (a value does not round-trip)");
    free(a);
    free(b);
}
