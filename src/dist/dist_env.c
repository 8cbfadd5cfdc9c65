/* The parts of src/dist/ that need no MPI: what the launcher's environment says, the quiet flag
 * for errors another rank reports, and this rank's entries of the [device] comma lists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clvae/status.h"
#include "dist/dist.h"

static bool quiet_errors;

bool clvae_dist_quiet(void)
{
    return quiet_errors;
}

void clvae_dist_set_quiet(bool quiet)
{
    quiet_errors = quiet;
}

int clvae_dist_launcher_size(void)
{
    /* Open MPI, MPICH/Intel MPI (PMI), PMIx launchers, Slurm's srun */
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS",
                                 "SLURM_NTASKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 0 && (i < 4 || getenv("SLURM_STEP_ID"))) return atoi(v);
    }
    if (getenv("PMIX_RANK") || getenv("PMI_RANK")) return 1;
    return 0;
}

/* Entry k of a comma list into out (spaces around entries dropped); the entry count. */
static int list_entry(const char *list, int k, char *out, size_t size)
{
    int n = 0;
    const char *p = list;
    out[0] = 0;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (n == k) {
            while (len && (*p == ' ' || *p == '\t')) p++, len--;
            while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
            snprintf(out, size, "%.*s", (int)len, p);
        }
        n++;
        if (!end) return n;
        p = end + 1;
    }
}

static int pick(const char *key, const char *list, int local_rank, int local_size, char *out,
                size_t size)
{
    char entry[256];
    int n = list_entry(list, 0, entry, sizeof entry);
    if (n == 1) return CLVAE_OK; /* one value (or "" = any): every rank */
    if (n < local_size)
        return clvae_error(CLVAE_ERR_CONFIG,
                           "[device] %s = %s lists %d entries, but this node runs %d ranks: give "
                           "one entry per node-local rank (e.g. %s = 0,1 for 2 ranks), or one "
                           "value for all", key, list, n, local_size, key);
    list_entry(list, local_rank, entry, sizeof entry);
    if (!entry[0])
        return clvae_error(CLVAE_ERR_CONFIG, "[device] %s = %s: entry %d (node-local rank %d) is "
                                             "empty; valid: an index or a name substring",
                           key, list, local_rank, local_rank);
    snprintf(out, size, "%s", entry);
    return CLVAE_OK;
}

int clvae_dist_device_config(const clvae_config *cfg, int local_rank, int local_size,
                             clvae_config *out)
{
    *out = *cfg;
    int st = pick("platform", cfg->device.platform, local_rank, local_size, out->device.platform,
                  sizeof out->device.platform);
    if (!st)
        st = pick("device", cfg->device.device, local_rank, local_size, out->device.device,
                  sizeof out->device.device);
    return st;
}
