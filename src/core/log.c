/* Leveled logging to stderr ("clvae: warning: ..."), threshold from $CLVAE_LOG. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int threshold(void)
{
    static int level = -1;
    if (level < 0) {
        const char *s = getenv("CLVAE_LOG");
        level = CLVAE_LOG_INFO;
        if (s && !strcmp(s, "debug")) level = CLVAE_LOG_DEBUG;
        if (s && !strcmp(s, "warn")) level = CLVAE_LOG_WARN;
        if (s && !strcmp(s, "error")) level = CLVAE_LOG_ERROR;
    }
    return level;
}

static int log_rank; /* data-parallel rank of this process: > 0 tags its lines */

void clvae_log_set_rank(int rank)
{
    log_rank = rank;
}

void clvae_log(clvae_log_level level, const char *fmt, ...)
{
    static const char *prefix[] = {"debug: ", "", "warning: ", "error: "};
    if ((int)level < threshold()) return;
    va_list ap;
    va_start(ap, fmt);
    if (log_rank > 0) fprintf(stderr, "clvae[rank %d]: %s", log_rank, prefix[level]);
    else fprintf(stderr, "clvae: %s", prefix[level]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
