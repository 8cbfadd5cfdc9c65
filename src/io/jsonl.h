/* JSON Lines logs (metrics.jsonl): append one compact object per line. */
#ifndef CLVAE_IO_JSONL_H
#define CLVAE_IO_JSONL_H

#include <cjson/cJSON.h>

/* Appends `obj` as one compact JSON line to `path` (created 0644 if missing) with a single
 * O_APPEND write, so concurrent appenders never interleave within a line. Non-finite numbers are
 * written as null (cJSON). Errors: CLVAE_ERR_IO naming the file, CLVAE_ERR_NOMEM. */
int clvae_jsonl_append(const char *path, const cJSON *obj);

/* As clvae_jsonl_append, then fsync()s the file so the line survives a crash. */
int clvae_jsonl_append_sync(const char *path, const cJSON *obj);

#endif
