/* src/dist/ over MPI: one process per rank in MPI_COMM_WORLD, a shared-memory sub-communicator
 * for the node-local rank, collectives on host buffers (the callers stage device data through
 * them), and MPI_Abort for faults so that no rank waits forever in a collective. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "clvae/status.h"
#include "dist/dist.h"

static struct {
    bool on;                 /* MPI_Init done by us */
    int rank, size, local_rank, local_size;
} g = {false, 0, 1, 0, 1};

static int mpi_fail(int rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return clvae_error(CLVAE_ERR_IO, "MPI %s failed on rank %d: %.*s", what, g.rank, len, msg);
}

int clvae_dist_init(int *argc, char ***argv)
{
    if (clvae_dist_launcher_size() == 0) return CLVAE_OK; /* started alone: one rank, no MPI */
    int provided, rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return clvae_error(CLVAE_ERR_IO, "MPI_Init_thread failed (%d)", rc);
    g.on = true;
    /* errors come back as codes (then clvae_dist_abort), not as MPI's own abort */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g.size);
    MPI_Comm node;
    if ((rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g.rank, MPI_INFO_NULL,
                                  &node)) != MPI_SUCCESS)
        return mpi_fail(rc, "MPI_Comm_split_type");
    MPI_Comm_rank(node, &g.local_rank);
    MPI_Comm_size(node, &g.local_size);
    MPI_Comm_free(&node);
    return CLVAE_OK;
}

void clvae_dist_finalize(void)
{
    if (g.on) MPI_Finalize();
    g.on = false;
}

int clvae_dist_rank(void)
{
    return g.rank;
}

int clvae_dist_size(void)
{
    return g.size;
}

int clvae_dist_local_rank(void)
{
    return g.local_rank;
}

int clvae_dist_local_size(void)
{
    return g.local_size;
}

bool clvae_dist_built_with_mpi(void)
{
    return true;
}

int clvae_dist_bcast(void *buf, size_t bytes)
{
    if (g.size == 1) return CLVAE_OK;
    for (size_t done = 0; done < bytes;) { /* counts are ints */
        size_t n = bytes - done < (size_t)INT_MAX ? bytes - done : (size_t)INT_MAX;
        int rc = MPI_Bcast((char *)buf + done, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Bcast");
        done += n;
    }
    return CLVAE_OK;
}

static int sum(void *buf, size_t n, size_t size, MPI_Datatype type)
{
    if (g.size == 1) return CLVAE_OK;
    for (size_t done = 0; done < n;) {
        size_t k = n - done < (size_t)INT_MAX ? n - done : (size_t)INT_MAX;
        int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + done * size, (int)k, type, MPI_SUM,
                               MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Allreduce");
        done += k;
    }
    return CLVAE_OK;
}

int clvae_dist_sum_f32(float *buf, size_t n)
{
    return sum(buf, n, sizeof(float), MPI_FLOAT);
}

int clvae_dist_sum_f64(double *buf, size_t n)
{
    return sum(buf, n, sizeof(double), MPI_DOUBLE);
}

int clvae_dist_same_u64(uint64_t v, bool *same)
{
    uint64_t lo = v, hi = v;
    *same = true;
    if (g.size == 1) return CLVAE_OK;
    int rc = MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    if (rc == MPI_SUCCESS) rc = MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Allreduce (check)");
    *same = lo == hi;
    return CLVAE_OK;
}

int clvae_dist_gather_text(const char *mine, char *all, size_t each)
{
    char *buf = calloc(1, each);
    if (!buf) return clvae_error(CLVAE_ERR_NOMEM, "out of host memory");
    snprintf(buf, each, "%s", mine);
    int rc = g.size == 1 ? MPI_SUCCESS
                         : MPI_Gather(buf, (int)each, MPI_CHAR, all, (int)each, MPI_CHAR, 0,
                                      MPI_COMM_WORLD);
    if (g.size == 1) memcpy(all, buf, each);
    free(buf);
    return rc == MPI_SUCCESS ? CLVAE_OK : mpi_fail(rc, "MPI_Gather");
}

int clvae_dist_agree(int status)
{
    if (g.size == 1) return status;
    int mine[2] = {status, status ? g.rank : INT_MAX}, all[2];
    int rc = MPI_Allreduce(mine, all, 2, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) clvae_dist_abort(mpi_fail(rc, "MPI_Allreduce (status)"), "");
    if (all[0] == CLVAE_OK) return CLVAE_OK;
    if (all[1] != g.rank) {
        clvae_dist_set_quiet(true); /* the lowest failing rank prints */
        if (!status) clvae_error(all[0], "rank %d failed", all[1]);
    } else if (g.rank != 0) {
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", clvae_last_error());
        clvae_error(all[0], "rank %d: %s", g.rank, msg);
    }
    return all[0];
}

_Noreturn void clvae_dist_abort(int status, const char *what)
{
    fprintf(stderr, "clvae: rank %d of %d: error: %s%s\n", g.rank, g.size,
            what && what[0] ? what : clvae_last_error(),
            g.size > 1 ? " (ending every rank)" : "");
    fflush(stderr);
    if (g.on) MPI_Abort(MPI_COMM_WORLD, clvae_exit_code(status));
    exit(clvae_exit_code(status));
}
