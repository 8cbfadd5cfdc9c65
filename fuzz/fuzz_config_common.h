/* The check both config harnesses end with: a config that loaded and validated is written,
 * read back, and written again; the two texts must be identical (config.ini of a run is what
 * --resume reads, so it has to mean what was loaded). */
#ifndef CLVAE_FUZZ_CONFIG_COMMON_H
#define CLVAE_FUZZ_CONFIG_COMMON_H

#include "clvae/config.h"

void fuzz_config_roundtrip(const clvae_config *cfg);

#endif
