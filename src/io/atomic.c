/* Atomic file writes shared by every writer in src/io (tmp file, fsync, rename, dir fsync). */
#include "io/atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clvae/status.h"
#include "core/log.h"

static void release(clvae_atomic_file *af)
{
    free(af->path);
    free(af->tmp_path);
    af->path = NULL;
    af->tmp_path = NULL;
    af->fp = NULL;
}

int clvae_atomic_open(clvae_atomic_file *af, const char *path)
{
    size_t len = strlen(path);
    af->fp = NULL;
    af->written = 0;
    af->path = malloc(len + 1);
    af->tmp_path = malloc(len + 5);
    if (!af->path || !af->tmp_path) {
        release(af);
        return clvae_error(CLVAE_ERR_NOMEM, "%s: out of memory opening for write", path);
    }
    memcpy(af->path, path, len + 1);
    memcpy(af->tmp_path, path, len);
    memcpy(af->tmp_path + len, ".tmp", 5);
    af->fp = fopen(af->tmp_path, "wb");
    if (!af->fp) {
        int err = errno;
        int st = clvae_error(CLVAE_ERR_IO, "%s: cannot create %s: %s", path, af->tmp_path,
                             strerror(err));
        release(af);
        return st;
    }
    return CLVAE_OK;
}

/* Test hook: CLVAE_TEST_KILL_AFTER_BYTES=N kills the process (SIGKILL, no cleanup) once N
 * bytes of a file have been written, so tests can show that a crash mid-write leaves the
 * previous file intact. */
static void crash_hook(clvae_atomic_file *af)
{
    const char *s = getenv("CLVAE_TEST_KILL_AFTER_BYTES");
    if (!s || !*s || af->written < (size_t)strtoull(s, NULL, 10)) return;
    fflush(af->fp);
    raise(SIGKILL);
}

int clvae_atomic_write(clvae_atomic_file *af, const void *data, size_t n)
{
    if (n == 0) return CLVAE_OK;
    if (fwrite(data, 1, n, af->fp) != n)
        return clvae_error(CLVAE_ERR_IO, "%s: write failed: %s", af->path, strerror(errno));
    af->written += n;
    crash_hook(af);
    return CLVAE_OK;
}

/* Best effort: makes the rename durable. Some file systems refuse fsync on directories. */
static void sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = NULL;
    if (!slash) {
        dir = strdup(".");
    } else if (slash == path) {
        dir = strdup("/");
    } else {
        dir = strndup(path, (size_t)(slash - path));
    }
    if (!dir) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        if (fsync(fd) != 0) CLVAE_DEBUG("fsync of directory %s failed: %s", dir, strerror(errno));
        close(fd);
    }
    free(dir);
}

int clvae_atomic_finish(clvae_atomic_file *af)
{
    int st = CLVAE_OK;
    int err = 0;
    const char *what = NULL;
    if (!af->fp) return clvae_error(CLVAE_ERR_INTERNAL, "clvae_atomic_finish on a closed file");
    if (fflush(af->fp) != 0 || ferror(af->fp)) {
        err = errno, what = "write";
    } else if (fsync(fileno(af->fp)) != 0) {
        err = errno, what = "fsync";
    }
    if (fclose(af->fp) != 0 && !what) err = errno, what = "close";
    af->fp = NULL;
    if (!what && rename(af->tmp_path, af->path) != 0) err = errno, what = "rename";
    if (what) {
        st = clvae_error(CLVAE_ERR_IO, "%s: %s of %s failed: %s", af->path, what, af->tmp_path,
                         err ? strerror(err) : "stream error");
        unlink(af->tmp_path);
        goto cleanup;
    }
    sync_parent_dir(af->path);
cleanup:
    release(af);
    return st;
}

void clvae_atomic_abort(clvae_atomic_file *af)
{
    if (af->fp) {
        fclose(af->fp);
        af->fp = NULL;
    }
    if (af->tmp_path) unlink(af->tmp_path);
    release(af);
}
