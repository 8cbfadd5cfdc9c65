/* Training progress display: a self-updating line on a terminal, plain lines otherwise. */
#ifndef CLVAE_TRAIN_PROGRESS_H
#define CLVAE_TRAIN_PROGRESS_H

#include <stdbool.h>

typedef struct clvae_progress {
    bool tty, quiet;
    int epoch, epochs;
    long steps_per_epoch;
    double t_start;
    int last_plain_decile;
} clvae_progress;

double clvae_now(void);   /* monotonic seconds */
void clvae_progress_begin(clvae_progress *p, int epoch, int epochs, long steps_per_epoch, bool quiet);
void clvae_progress_update(clvae_progress *p, long step_in_epoch, double loss, long samples);
void clvae_progress_end(clvae_progress *p);

#endif
