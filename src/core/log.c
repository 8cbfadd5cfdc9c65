/* Leveled logging to stderr ("clvae: warning: ..."), threshold from $CLVAE_LOG; the library API
 * (clvae_set_log) routes it to a callback or silences it instead. */
#include "core/log.h"

#include <stdarg.h>
#include <stdbool.h>
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

static int log_rank;
static bool routed;          /* clvae_log_route was called: its level and sink decide */
static int route_level;
static clvae_log_sink route_fn;
static void *route_user;

void clvae_log_route(int level, clvae_log_sink fn, void *user)
{
    route_level = level;
    route_fn = fn;
    route_user = user;
    routed = true;
} /* data-parallel rank of this process: > 0 tags its lines */

void clvae_log_set_rank(int rank)
{
    log_rank = rank;
}

bool clvae_log_enabled(clvae_log_level level)
{
    return (int)level >= (routed ? route_level : threshold());
}

bool clvae_log_to_stderr(clvae_log_level level)
{
    return clvae_log_enabled(level) && !(routed && route_fn);
}

void clvae_log(clvae_log_level level, const char *fmt, ...)
{
    static const char *prefix[] = {"debug: ", "", "warning: ", "error: "};
    if (!clvae_log_enabled(level)) return;
    va_list ap;
    va_start(ap, fmt);
    if (routed && route_fn) {
        char line[2048];
        vsnprintf(line, sizeof line, fmt, ap);
        va_end(ap);
        route_fn(route_user, (int)level, line);
        return;
    }
    if (log_rank > 0) fprintf(stderr, "clvae[rank %d]: %s", log_rank, prefix[level]);
    else fprintf(stderr, "clvae: %s", prefix[level]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
