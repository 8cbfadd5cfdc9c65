/* One run directory, one writer: an advisory lock (fcntl) on RUN_DIR/train.lock held by a
 * training process for its whole run. */
#ifndef CLVAE_TRAIN_RUNLOCK_H
#define CLVAE_TRAIN_RUNLOCK_H

#include <stdbool.h>

typedef struct clvae_runlock {
    int fd;
    bool held;
} clvae_runlock;

/* Locks dir/train.lock, writing this process's id into it; with `create` it first creates `dir`
 * (like mkdir -p), without it a missing `dir` is left alone and nothing is locked yet (call
 * again with `create` before writing into it). A no-op when already held. A directory locked
 * by another process is CLVAE_ERR_INPUT naming that process's id. */
int clvae_runlock_acquire(const char *dir, bool create, clvae_runlock *l);

/* Releases the lock (the file stays; it is only ever locked, never trusted for its contents). */
void clvae_runlock_release(clvae_runlock *l);

#endif
