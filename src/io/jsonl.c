/* JSON Lines appender: one write(2) per line on an O_APPEND descriptor, optional fsync. */
#include "io/jsonl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clvae/status.h"

static int append_line(const char *path, const cJSON *obj, int sync)
{
    int st = CLVAE_OK, fd = -1;
    char *line = NULL;
    char *text = cJSON_PrintUnformatted(obj);
    if (!text) return clvae_error(CLVAE_ERR_NOMEM, "%s: cannot format JSON line", path);
    size_t len = strlen(text);
    line = malloc(len + 2);
    if (!line) {
        st = clvae_error(CLVAE_ERR_NOMEM, "%s: out of memory", path);
        goto cleanup;
    }
    memcpy(line, text, len);
    memcpy(line + len, "\n", 2);
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        st = clvae_error(CLVAE_ERR_IO, "%s: cannot open for append: %s", path, strerror(errno));
        goto cleanup;
    }
    for (size_t done = 0; done < len + 1;) {
        ssize_t k = write(fd, line + done, len + 1 - done);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            st = clvae_error(CLVAE_ERR_IO, "%s: append failed: %s", path,
                             k < 0 ? strerror(errno) : "no progress");
            goto cleanup;
        }
        done += (size_t)k;
    }
    if (sync && fsync(fd) != 0)
        st = clvae_error(CLVAE_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
cleanup:
    if (fd >= 0 && close(fd) != 0 && !st)
        st = clvae_error(CLVAE_ERR_IO, "%s: close failed: %s", path, strerror(errno));
    free(line);
    cJSON_free(text);
    return st;
}

int clvae_jsonl_append(const char *path, const cJSON *obj)
{
    return append_line(path, obj, 0);
}

int clvae_jsonl_append_sync(const char *path, const cJSON *obj)
{
    return append_line(path, obj, 1);
}
