/* The directories clvae writes into: mkdir -p, and where the cache directory is. */
#ifndef CLVAE_CORE_FS_H
#define CLVAE_CORE_FS_H

#include <stdbool.h>
#include <stddef.h>

#include "clvae/config.h"

/* Creates a directory and its parents (like mkdir -p). CLVAE_ERR_IO with a message naming the
 * directory when one cannot be made or the path exists and is not a directory. */
int clvae_mkdir_p(const char *path);

/* The cache directory: [device] cache, else $XDG_CACHE_HOME/clvae (an absolute XDG_CACHE_HOME),
 * else $HOME/.cache/clvae; with `sub`, that folder inside it. Creates nothing. False (dir "")
 * when there is none or it does not fit in size. cfg may be NULL. */
bool clvae_cache_dir(const clvae_config *cfg, const char *sub, char *dir, size_t size);

#endif
