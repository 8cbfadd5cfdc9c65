/* The run-directory lock (see runlock.h). POSIX record locks: the kernel drops them when the
 * process ends, however it ends, so a crashed run never leaves a stale lock behind. */
#include "train/runlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clvae/config.h"
#include "clvae/status.h"
#include "train/rundir.h"

static void whole_file(struct flock *fl)
{
    memset(fl, 0, sizeof *fl);
    fl->l_type = F_WRLCK;
    fl->l_whence = SEEK_SET;
    fl->l_start = 0;
    fl->l_len = 0; /* to the end, however long */
}

/* The lock is taken: say by whom (F_GETLK reports the holder's process id). */
static int in_use(int fd, const char *path, const char *dir)
{
    struct flock fl;
    whole_file(&fl);
    long pid = fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK ? (long)fl.l_pid : -1;
    char who[64];
    if (pid > 0) snprintf(who, sizeof who, "process %ld", pid);
    else snprintf(who, sizeof who, "another process");
    return clvae_error(CLVAE_ERR_INPUT,
                       "%s is in use: %s (clvae train) holds %s; wait for it to finish, stop it "
                       "(Ctrl-C or kill %s; it then writes a resumable checkpoint), or train "
                       "into another output.dir",
                       dir, who, path, pid > 0 ? who + 8 : "PID");
}

int clvae_runlock_acquire(const char *dir, bool create, clvae_runlock *l)
{
    char path[CLVAE_PATH_MAX + 16], pid[32];
    struct flock fl;
    struct stat sb;
    if (l->held) return CLVAE_OK;
    if (!create && stat(dir, &sb) != 0) return CLVAE_OK; /* no directory: nobody uses it yet */
    int st = clvae_mkdir_p(dir);
    if (st) return st;
    snprintf(path, sizeof path, "%s/train.lock", dir);
    l->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (l->fd < 0)
        return clvae_error(CLVAE_ERR_IO, "cannot open the run lock %s: %s", path, strerror(errno));
    whole_file(&fl);
    if (fcntl(l->fd, F_SETLK, &fl) != 0) {
        int err = errno;
        st = err == EACCES || err == EAGAIN
                 ? in_use(l->fd, path, dir)
                 : clvae_error(CLVAE_ERR_IO, "cannot lock %s: %s", path, strerror(err));
        close(l->fd);
        return st;
    }
    l->held = true;
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(l->fd, 0) != 0 || pwrite(l->fd, pid, (size_t)n, 0) != n) {
        /* the lock holds regardless; the id in the file is only for people */
    }
    return CLVAE_OK;
}

void clvae_runlock_release(clvae_runlock *l)
{
    if (!l->held) return;
    close(l->fd); /* closing drops the process's record locks on the file */
    l->held = false;
}
