/* Atomic file writes: write PATH.tmp, then fflush+fsync+fclose+rename over PATH+fsync(dir). */
#ifndef CLVAE_IO_ATOMIC_H
#define CLVAE_IO_ATOMIC_H

#include <stddef.h>
#include <stdio.h>

/* One file being written. `fp` is the open temporary file; write to it freely (fwrite/fprintf):
 * stream errors are detected by clvae_atomic_finish through ferror(). */
typedef struct clvae_atomic_file {
    FILE *fp;
    char *path;     /* final destination */
    char *tmp_path; /* path + ".tmp" */
    size_t written; /* bytes written so far (the crash test hook counts them) */
} clvae_atomic_file;

/* Opens `path`.tmp for writing (truncating a stale one). Errors: CLVAE_ERR_IO naming the file. */
int clvae_atomic_open(clvae_atomic_file *af, const char *path);

/* fwrite that records an error (CLVAE_ERR_IO naming the file) on a short write. */
int clvae_atomic_write(clvae_atomic_file *af, const void *data, size_t n);

/* Commits: fflush, fsync, fclose, rename over the destination, fsync the directory. On any error
 * the temporary file is removed, an existing destination is left untouched, and CLVAE_ERR_IO is
 * returned with a message naming the file. `af` is released either way. */
int clvae_atomic_finish(clvae_atomic_file *af);

/* Gives up: closes and removes the temporary file, releases `af`. Safe on a zeroed/failed `af`. */
void clvae_atomic_abort(clvae_atomic_file *af);

#endif
