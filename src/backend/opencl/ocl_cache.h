/* The OpenCL backend's disk caches: the cache directory, FNV-1a hashing, and program binaries
 * (<cache>/<key>.bin) keyed by source, options, device, driver and platform versions. */
#ifndef CLVAE_OCL_CACHE_H
#define CLVAE_OCL_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <CL/cl.h>

#include "clvae/config.h"

struct ocl_ctx;

#define CLVAE_FNV64_INIT 0xcbf29ce484222325ULL

/* FNV-1a 64 of n bytes, continuing from h (start with CLVAE_FNV64_INIT). */
uint64_t clvae_fnv1a64(uint64_t h, const void *data, size_t n);
/* Hashes a string with its length first, so ("ab","c") and ("a","bc") differ. */
uint64_t clvae_fnv1a64_str(uint64_t h, const char *s);

/* Resolves the cache directory: cfg->device.cache, else $XDG_CACHE_HOME/clvae, else
 * $HOME/.cache/clvae. Creates it (and its parents). Returns false, with a warning naming the
 * directory, when it cannot be created; `dir` is then "". */
bool clvae_ocl_cache_dir(const clvae_config *cfg, char *dir, size_t size);

/* True unless CLVAE_NO_CACHE is set to something other than "" or "0". */
bool clvae_ocl_cache_enabled(void);

/* Key of a program binary: FNV-1a 64 over a format tag, the source text, the build options and
 * the platform name and version, device name and version, and driver version. */
uint64_t clvae_ocl_program_key(const struct ocl_ctx *c, const char *src, size_t len,
                               const char *opts);

/* Loads <cache>/<key>.bin into *out and builds it. Returns true on success. A missing
 * entry returns false silently; a corrupt or stale one (bad header, size, checksum, or a
 * create/build failure) is reported with a warning naming the file and returns false, so the
 * caller builds from source and stores a fresh entry. */
bool clvae_ocl_cache_load(const struct ocl_ctx *c, uint64_t key, const char *opts,
                          cl_program *out);

/* Writes program's binary to <cache>/<key>.bin (tmp file + rename). Failures only warn. */
void clvae_ocl_cache_store(const struct ocl_ctx *c, uint64_t key, cl_program program);

/* Bytes of an entry's header; the driver's binary follows it. */
#define CLVAE_OCL_CACHE_HEADER 48u

/* Reads a whole entry file (at most the header + 2 GiB). NULL when missing or unreadable. */
unsigned char *clvae_ocl_cache_read_file(const char *path, size_t *size);

/* Why an entry's bytes cannot be trusted (bad magic, version, key, size or checksum), or NULL
 * when its header and checksum agree and the payload is data[CLVAE_OCL_CACHE_HEADER..size). */
const char *clvae_ocl_cache_check_entry(const unsigned char *data, size_t size, uint64_t key);

/* <cache>/<key>.bin (for tests and messages). */
void clvae_ocl_cache_entry_path(const char *dir, uint64_t key, char *path, size_t size);

#endif
