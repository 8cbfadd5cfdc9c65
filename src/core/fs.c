/* The directories clvae writes into: mkdir -p (run directories, the run lock, the kernel, tuning
 * and image caches) and where the cache directory is, in one place. */
#include "core/fs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clvae/status.h"

static int mkdir_one(const char *dir)
{
    struct stat sb;
    if (mkdir(dir, 0755) == 0) return CLVAE_OK;
    int err = errno;
    if (err == EEXIST && stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode)) return CLVAE_OK;
    return clvae_error(CLVAE_ERR_IO, "cannot create directory %s: %s", dir,
                       strerror(err == EEXIST ? ENOTDIR : err));
}

int clvae_mkdir_p(const char *path)
{
    char buf[CLVAE_PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return clvae_error(CLVAE_ERR_IO, "cannot create directory \"%s\": %s", path,
                           strerror(n ? ENAMETOOLONG : ENOENT));
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        int st = mkdir_one(buf);
        if (st) return st;
        *p = '/';
    }
    return mkdir_one(buf);
}

bool clvae_cache_dir(const clvae_config *cfg, const char *sub, char *dir, size_t size)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    const char *sep = sub ? "/" : "", *s = sub ? sub : "";
    int n = cfg && cfg->device.cache[0] ? snprintf(dir, size, "%s%s%s", cfg->device.cache, sep, s)
            : xdg && xdg[0] == '/'      ? snprintf(dir, size, "%s/clvae%s%s", xdg, sep, s)
            : home && home[0]           ? snprintf(dir, size, "%s/.cache/clvae%s%s", home, sep, s)
                                        : 0;
    if (n <= 0 || (size_t)n >= size) {
        if (size) dir[0] = '\0';
        return false;
    }
    return true;
}
