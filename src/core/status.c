/* Status codes: static descriptions, a thread-local detailed message, CLI exit codes. */
#include "clvae/status.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[2048];

const char *clvae_status_str(int status)
{
    switch (status) {
    case CLVAE_OK: return "ok";
    case CLVAE_ERR_USAGE: return "bad usage";
    case CLVAE_ERR_CONFIG: return "bad config";
    case CLVAE_ERR_DATA: return "bad data file";
    case CLVAE_ERR_CHECKPOINT: return "bad checkpoint";
    case CLVAE_ERR_INPUT: return "bad input";
    case CLVAE_ERR_IO: return "i/o error";
    case CLVAE_ERR_NOMEM: return "out of host memory";
    case CLVAE_ERR_DEVICE: return "device error";
    case CLVAE_ERR_UNSUPPORTED: return "unsupported";
    case CLVAE_ERR_NUMERIC: return "non-finite value";
    case CLVAE_ERR_INTERRUPTED: return "interrupted";
    case CLVAE_ERR_INTERNAL: return "internal error";
    default: return "unknown status";
    }
}

const char *clvae_last_error(void)
{
    return last_error[0] ? last_error : "no details";
}

int clvae_error(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

int clvae_exit_code(int status)
{
    switch (status) {
    case CLVAE_OK: return 0;
    case CLVAE_ERR_USAGE:
    case CLVAE_ERR_CONFIG:
    case CLVAE_ERR_DATA:
    case CLVAE_ERR_CHECKPOINT:
    case CLVAE_ERR_INPUT: return 2;
    case CLVAE_ERR_INTERRUPTED: return 130;
    default: return 1;
    }
}
