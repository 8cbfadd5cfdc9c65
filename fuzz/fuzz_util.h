/* Shared helpers of the fuzz harnesses (fuzz/fuzz_*.c): the readers under test take paths, so
 * each input is written to a file in a private temporary directory; invariant failures abort. */
#ifndef CLVAE_FUZZ_UTIL_H
#define CLVAE_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry point; every harness defines it, fuzz/replay.c calls it without libFuzzer. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* "<private tmp dir>/<name>" (the directory is made on first use and removed at exit). The
 * returned string is static storage, one per name slot: at most 8 distinct names. */
const char *fuzz_path(const char *name);

/* Writes data to fuzz_path(name) (truncating) and returns that path; aborts on I/O failure. */
const char *fuzz_write(const char *name, const void *data, size_t size);

/* Aborts with the message when `ok` is false: the fuzzer records the input as a crash. */
void fuzz_check(int ok, const char *what);

/* The reader's error must be `bad_input_status` (never out of memory: no small input may make a
 * reader allocate what its header claims), and its message must name `path` (the project's rule:
 * a clear error naming the file). Aborts otherwise. */
void fuzz_check_error(int status, int bad_input_status, const char *path);

/* Reads a whole file into a malloc'd NUL-terminated buffer (size in *n); aborts on failure. */
char *fuzz_slurp(const char *path, size_t *n);

#endif
