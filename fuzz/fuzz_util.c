/* Temporary files and invariant checks shared by the fuzz harnesses. */
#include "fuzz_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clvae/status.h"

#define MAX_NAMES 8

static char dir[256];
static char paths[MAX_NAMES][320];

static void remove_dir(void)
{
    for (int i = 0; i < MAX_NAMES; i++)
        if (paths[i][0]) unlink(paths[i]);
    /* the readers' writers leave nothing else behind except on a crash */
    rmdir(dir);
}

const char *fuzz_path(const char *name)
{
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/clvae-fuzz-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(dir)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(remove_dir);
    }
    char want[320];
    snprintf(want, sizeof want, "%s/%s", dir, name);
    for (int i = 0; i < MAX_NAMES; i++) {
        if (!strcmp(paths[i], want)) return paths[i];
        if (!paths[i][0]) {
            memcpy(paths[i], want, sizeof want);
            return paths[i];
        }
    }
    fprintf(stderr, "fuzz: more than %d temporary names\n", MAX_NAMES);
    abort();
}

const char *fuzz_write(const char *name, const void *data, size_t size)
{
    const char *path = fuzz_path(name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
    return path;
}

void fuzz_check(int ok, const char *what)
{
    if (ok) return;
    fprintf(stderr, "fuzz: invariant violated: %s (last error: %s)\n", what, clvae_last_error());
    abort();
}

void fuzz_check_error(int status, int bad_input_status, const char *path)
{
    /* Out of memory on an input of a few KiB means a reader believed a size in a header: the
     * fuzzer's malloc limit and the replay's address-space limit turn that into this failure. */
    if (status != bad_input_status) {
        fprintf(stderr, "fuzz: unexpected status %d (%s), wanted %d: %s\n", status,
                clvae_status_str(status), bad_input_status, clvae_last_error());
        abort();
    }
    if (!strstr(clvae_last_error(), path)) {
        fprintf(stderr, "fuzz: the error message does not name %s: %s\n", path,
                clvae_last_error());
        abort();
    }
}

char *fuzz_slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        abort();
    }
    size_t cap = 4096, len = 0, got;
    char *buf = malloc(cap + 1);
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) buf = realloc(buf, (cap *= 2) + 1);
    }
    fclose(f);
    fuzz_check(buf != NULL, "fuzz_slurp: out of memory");
    buf[len] = '\0';
    *n = len;
    return buf;
}
