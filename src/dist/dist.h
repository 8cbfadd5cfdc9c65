/* Data-parallel training across processes (ranks) over MPI: start-up, the rank and node-local
 * rank, the collectives the trainer needs (broadcast from rank 0, sums, agreeing on a status)
 * and ending the whole job on a fault. A build without MPI (CMake CLVAE_MPI=OFF, or no MPI
 * found) has the same API as one rank: every collective is a no-op, so the trainer has no
 * #ifdefs. All calls come from the main thread (MPI_THREAD_FUNNELED). */
#ifndef CLVAE_DIST_DIST_H
#define CLVAE_DIST_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clvae/config.h"

/* Starts MPI when the process runs under a launcher (mpirun/srun/PMI environment), else stays
 * one rank. A build without MPI started by a launcher is CLVAE_ERR_INPUT (exit 2) with a
 * message. Call once, first thing in main. */
int clvae_dist_init(int *argc, char ***argv);
/* Ends MPI after a normal exit (every rank must get here). */
void clvae_dist_finalize(void);

int clvae_dist_rank(void);        /* 0 .. size-1 */
int clvae_dist_size(void);        /* ranks in the job (1 without MPI) */
int clvae_dist_local_rank(void);  /* rank among the ranks on this node (shared memory) */
int clvae_dist_local_size(void);
/* True when this build has MPI. */
bool clvae_dist_built_with_mpi(void);

/* Ranks the launcher's environment announces (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX/SLURM
 * ones), 0 when not started by a launcher. */
int clvae_dist_launcher_size(void);

/* Collectives over every rank (no-ops for one rank). bcast: rank 0's bytes to all. */
int clvae_dist_bcast(void *buf, size_t bytes);
/* In-place sums, the same bits on every rank. */
int clvae_dist_sum_f32(float *buf, size_t n);
int clvae_dist_sum_f64(double *buf, size_t n);

/* Whether v is the same on every rank (true for one rank). */
int clvae_dist_same_u64(uint64_t v, bool *same);

/* Rank 0 receives every rank's text (each < `each` bytes) into all (size * each), in rank
 * order; all may be NULL on the other ranks. */
int clvae_dist_gather_text(const char *mine, char *all, size_t each);

/* Agrees on a status after work each rank did alone (set-up): returns the most severe status
 * over the ranks (the lowest code), the same on every rank. The message is printed once: by
 * rank 0 when it failed, else by the lowest failing rank (prefixed "rank K"); the other ranks'
 * clvae_dist_quiet() becomes true. */
int clvae_dist_agree(int status);
/* True when this rank should not print its error: another rank reports it. */
bool clvae_dist_quiet(void);
/* Marks this rank's errors as reported elsewhere (every rank failed the same way; rank 0 says). */
void clvae_dist_set_quiet(bool quiet);

/* Ends the whole job from one rank: prints "clvae: rank K: error: MESSAGE" and aborts every
 * rank (MPI_Abort), so no rank waits forever in a collective. Without MPI: prints, exits. */
_Noreturn void clvae_dist_abort(int status, const char *what);

/* [device] platform/device may be comma lists indexed by the node-local rank (one value: every
 * rank). Writes into *out a copy of cfg with this rank's entries; a list shorter than the
 * node's ranks is CLVAE_ERR_CONFIG naming the key. */
int clvae_dist_device_config(const clvae_config *cfg, int local_rank, int local_size,
                             clvae_config *out);

#endif
