/* Progress display for the trainer (see progress.h). */
#include "train/progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double clvae_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void clvae_progress_begin(clvae_progress *p, int epoch, int epochs, long steps_per_epoch, bool quiet)
{
    p->tty = isatty(fileno(stderr));
    p->quiet = quiet;
    p->epoch = epoch;
    p->epochs = epochs;
    p->steps_per_epoch = steps_per_epoch > 0 ? steps_per_epoch : 1;
    p->t_start = clvae_now();
    p->last_plain_decile = 0;
}

void clvae_progress_update(clvae_progress *p, long step, double loss, long samples)
{
    if (p->quiet) return;
    double dt = clvae_now() - p->t_start, rate = dt > 0 ? samples / dt : 0;
    int pct = (int)(100 * step / p->steps_per_epoch);
    if (p->tty) {
        char bar[21];
        for (int i = 0; i < 20; i++) bar[i] = i < pct / 5 ? '#' : '.';
        bar[20] = 0;
        fprintf(stderr, "\repoch %d/%d [%s] %3d%% loss %.2f %.0f samples/s ", p->epoch, p->epochs,
                bar, pct, loss, rate);
        fflush(stderr);
    } else if (pct / 25 > p->last_plain_decile) {   /* plain lines at 25/50/75% */
        p->last_plain_decile = pct / 25;
        fprintf(stderr, "epoch %d/%d %d%% step %ld loss %.3f %.0f samples/s\n", p->epoch,
                p->epochs, pct, step, loss, rate);
    }
}

void clvae_progress_end(clvae_progress *p)
{
    if (p->tty && !p->quiet) fprintf(stderr, "\r%*s\r", 79, "");
}
