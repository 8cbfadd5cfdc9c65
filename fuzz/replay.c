/* Replays inputs through one fuzz harness without libFuzzer (the ctest cases fuzz_replay_*):
 * every regular file named on the command line, or found directly inside a named directory,
 * is passed to LLVMFuzzerTestOneInput once. A harness aborts on any invariant violation, and the
 * sanitizer builds (make test-sanitize) catch memory errors, so a clean exit means every seed
 * and every input that ever crashed is handled. Fails when no input was found at all. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "fuzz_util.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void replay_file(const char *path, int *count)
{
    size_t n;
    char *data = fuzz_slurp(path, &n);
    /* a copy of exactly n bytes, so ASan sees reads past the input's end */
    unsigned char *copy = malloc(n ? n : 1);
    fuzz_check(copy != NULL, "replay: out of memory");
    memcpy(copy, data, n);
    free(data);
    LLVMFuzzerTestOneInput(copy, n);
    free(copy);
    (*count)++;
}

static void replay_dir(const char *path, int *count)
{
    DIR *d = opendir(path);
    if (!d) return; /* an absent crashers/ directory is fine */
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        names = realloc(names, (n + 1) * sizeof *names);
        fuzz_check(names != NULL, "replay: out of memory");
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        names[n] = malloc(len);
        fuzz_check(names[n] != NULL, "replay: out of memory");
        snprintf(names[n++], len, "%s/%s", path, e->d_name);
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        struct stat sb;
        if (stat(names[i], &sb) == 0 && S_ISREG(sb.st_mode)) replay_file(names[i], count);
        free(names[i]);
    }
    free(names);
}

#if defined(__SANITIZE_ADDRESS__)
#define REPLAY_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REPLAY_ASAN 1
#endif
#endif

/* 1 GiB of heap: a reader that allocates what a corrupt header claims (terabytes) gets NULL and
 * fails the harness's no-out-of-memory check, as libFuzzer's -malloc_limit_mb does when fuzzing.
 * Not under ASan, which reserves far more address space for its shadow memory. */
static void limit_heap(void)
{
#ifndef REPLAY_ASAN
    struct rlimit rl = {1ul << 30, 1ul << 30};
    if (setrlimit(RLIMIT_DATA, &rl) != 0) perror("replay: setrlimit");
#endif
}

int main(int argc, char **argv)
{
    int count = 0;
    limit_heap();
    for (int i = 1; i < argc; i++) {
        struct stat sb;
        if (stat(argv[i], &sb) == 0 && S_ISDIR(sb.st_mode))
            replay_dir(argv[i], &count);
        else if (stat(argv[i], &sb) == 0)
            replay_file(argv[i], &count);
    }
    printf("%s: replayed %d inputs\n", argv[0], count);
    if (count == 0) {
        fprintf(stderr, "%s: no inputs found\n", argv[0]);
        return 1;
    }
    return 0;
}
