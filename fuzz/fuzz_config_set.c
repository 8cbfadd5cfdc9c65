/* Fuzzes --set parsing (clvae_config_set): each input line is one SECTION.KEY=VALUE argument,
 * applied in order as the CLI does. Every failure is CLVAE_ERR_CONFIG quoting the argument; a
 * failed --set changes nothing; the result round-trips through the config writer. */
#include <stdlib.h>
#include <string.h>

#include "clvae/config.h"
#include "clvae/status.h"
#include "fuzz_config_common.h"
#include "fuzz_util.h"

#define MAX_SETS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    fuzz_check(text != NULL, "out of memory");
    memcpy(text, data, size);
    text[size] = '\0';
    clvae_config cfg, before;
    clvae_config_defaults(&cfg);
    char *save = NULL;
    int n = 0;
    for (char *arg = strtok_r(text, "\n", &save); arg && n < MAX_SETS;
         arg = strtok_r(NULL, "\n", &save), n++) {
        before = cfg;
        int st = clvae_config_set(&cfg, arg);
        if (st) {
            fuzz_check(st == CLVAE_ERR_CONFIG, "--set: status is not CLVAE_ERR_CONFIG");
            fuzz_check(strncmp(clvae_last_error(), "--set ", 6) == 0,
                       "--set error does not start with \"--set \"");
            fuzz_check(memcmp(&before, &cfg, sizeof cfg) == 0, "a failed --set changed the config");
        }
    }
    free(text);
    fuzz_config_roundtrip(&cfg);
    return 0;
}
