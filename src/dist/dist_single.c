/* src/dist/ in a build without MPI: one rank, collectives are no-ops; a launcher's environment
 * (mpirun started this binary) is an input error, since each copy would train alone. */
#include <stdio.h>
#include <stdlib.h>

#include "clvae/status.h"
#include "dist/dist.h"

int clvae_dist_init(int *argc, char ***argv)
{
    int n = clvae_dist_launcher_size();
    if (n == 0) return CLVAE_OK;
    const char *r = getenv("OMPI_COMM_WORLD_RANK");
    if (!r) r = getenv("PMIX_RANK");
    if (!r) r = getenv("PMI_RANK");
    if (r && atoi(r) != 0) clvae_dist_set_quiet(true); /* rank 0 says it */
    return clvae_error(CLVAE_ERR_INPUT,
                       "this clvae was built without MPI (CMake CLVAE_MPI=OFF or no MPI found) "
                       "but was started by an MPI launcher (%d ranks): every copy would train "
                       "alone; rebuild with libopenmpi-dev installed, or run it without mpirun",
                       n);
}

void clvae_dist_finalize(void) {}
int clvae_dist_rank(void) { return 0; }
int clvae_dist_size(void) { return 1; }
int clvae_dist_local_rank(void) { return 0; }
int clvae_dist_local_size(void) { return 1; }
bool clvae_dist_built_with_mpi(void) { return false; }
int clvae_dist_bcast(void *buf, size_t bytes) { return CLVAE_OK; }
int clvae_dist_sum_f32(float *buf, size_t n) { return CLVAE_OK; }
int clvae_dist_sum_f64(double *buf, size_t n) { return CLVAE_OK; }
int clvae_dist_agree(int status) { return status; }

int clvae_dist_same_u64(uint64_t v, bool *same)
{
    *same = true;
    return CLVAE_OK;
}

int clvae_dist_gather_text(const char *mine, char *all, size_t each)
{
    snprintf(all, each, "%s", mine);
    return CLVAE_OK;
}

_Noreturn void clvae_dist_abort(int status, const char *what)
{
    fprintf(stderr, "clvae: error: %s\n", what);
    exit(clvae_exit_code(status));
}
