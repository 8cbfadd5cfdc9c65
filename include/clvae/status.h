/* Status codes returned by every clvae library function, and their messages. */
#ifndef CLVAE_STATUS_H
#define CLVAE_STATUS_H

#include "clvae/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 0 = ok, negative = error. The CLI maps CLVAE_ERR_INPUT/CLVAE_ERR_CONFIG/CLVAE_ERR_DATA/
 * CLVAE_ERR_CHECKPOINT/CLVAE_ERR_USAGE to exit status 2 (bad input), everything else to 1. */
typedef enum clvae_status {
    CLVAE_OK = 0,
    CLVAE_ERR_USAGE = -1,       /* bad command line */
    CLVAE_ERR_CONFIG = -2,      /* bad config file or --set value */
    CLVAE_ERR_DATA = -3,        /* missing, corrupt or mismatched data file */
    CLVAE_ERR_CHECKPOINT = -4,  /* missing, corrupt or incompatible checkpoint */
    CLVAE_ERR_INPUT = -5,       /* other bad user input (e.g. device selection matches nothing) */
    CLVAE_ERR_IO = -10,         /* a file could not be written/read for system reasons */
    CLVAE_ERR_NOMEM = -11,      /* host allocation failed */
    CLVAE_ERR_DEVICE = -12,     /* device/runtime failure (OpenCL, CLBlast) */
    CLVAE_ERR_UNSUPPORTED = -13,/* op or feature not supported by this backend */
    CLVAE_ERR_NUMERIC = -14,    /* NaN/Inf detected */
    CLVAE_ERR_INTERRUPTED = -15,/* SIGINT/SIGTERM */
    CLVAE_ERR_INTERNAL = -16    /* a bug */
} clvae_status;

/* A short static description of a status code. */
CLVAE_API const char *clvae_status_str(int status);

/* The detailed message of the last error on this thread (file, line, key, what is valid). */
CLVAE_API const char *clvae_last_error(void);

/* Records a detailed message for the last error and returns `status` (printf-style). */
int clvae_error(int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Exit status the CLI uses for a library status (contract.md: 0 ok, 1 runtime, 2 bad input, 130). */
int clvae_exit_code(int status);

#ifdef __cplusplus
}
#endif
#endif
