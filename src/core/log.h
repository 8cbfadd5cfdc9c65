/* Logging to stderr with levels; CLVAE_LOG=debug|info|warn|error sets the threshold. */
#ifndef CLVAE_CORE_LOG_H
#define CLVAE_CORE_LOG_H

#include <stdbool.h>

typedef enum { CLVAE_LOG_DEBUG, CLVAE_LOG_INFO, CLVAE_LOG_WARN, CLVAE_LOG_ERROR } clvae_log_level;

void clvae_log(clvae_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Library use (clvae_set_log): from now on only messages at `level` or above are logged, to
 * fn(user, level, line) or, when fn is NULL, to stderr; level CLVAE_LOG_ERROR + 1 logs nothing. */
/* Whether a message at `level` would be logged (progress output follows the same setting). */
bool clvae_log_enabled(clvae_log_level level);

/* Whether a message at `level` would be written to stderr (enabled, and no callback routed):
 * code that prints its own lines (the GEMM tuner's progress) prints only then. */
bool clvae_log_to_stderr(clvae_log_level level);

typedef void (*clvae_log_sink)(void *user, int level, const char *line);
void clvae_log_route(int level, clvae_log_sink fn, void *user);

/* Lines of a data-parallel rank > 0 read "clvae[rank K]: ..." (rank 0 and single runs: "clvae: "). */
void clvae_log_set_rank(int rank);

#define CLVAE_DEBUG(...) clvae_log(CLVAE_LOG_DEBUG, __VA_ARGS__)
#define CLVAE_INFO(...) clvae_log(CLVAE_LOG_INFO, __VA_ARGS__)
#define CLVAE_WARN(...) clvae_log(CLVAE_LOG_WARN, __VA_ARGS__)
#define CLVAE_ERROR(...) clvae_log(CLVAE_LOG_ERROR, __VA_ARGS__)

#endif
