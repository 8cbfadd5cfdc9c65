/* clvae devices: every backend, platform and device, with the config lines that select it; with
 * a config (-c/--set) or under mpirun also the device each rank picks from [device] (comma lists
 * indexed by the node-local rank). */
#include <stdio.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "cli/cli.h"
#include "clvae/status.h"
#include "dist/dist.h"

#define PICK_BYTES 512

static const char usage[] =
    "usage: clvae devices [-c FILE] [--set SECTION.KEY=VALUE]...\n"
    "  lists the reference backend and every OpenCL platform and device; with a config, or\n"
    "  under mpirun -np N, also the device each rank picks ([device] platform/device may be\n"
    "  comma lists indexed by the node-local rank)\n";

static int list_all(void)
{
    printf("reference backend: plain C on the host (the oracle)\n"
           "    [device]\n    backend = ref\n\n");
#ifdef CLVAE_HAVE_OPENCL
    int st = clvae_opencl_list_devices(stdout);
    if (st) return cli_fail(st);
#else
    printf("(this build has no OpenCL support)\n");
#endif
    return 0;
}

/* Each rank opens the device its [device] entries select; rank 0 prints one line per rank. */
static int show_picks(const cli_args *a)
{
    clvae_config cfg;
    clvae_backend be = {0};
    char line[PICK_BYTES];
    int rc = cli_load_config(a, "config/default.ini", &cfg);
    if (rc) return rc;
    int st = clvae_dist_agree(clvae_backend_create(&cfg, &be));
    if (st) return cli_fail(st);
    snprintf(line, sizeof line, "rank %d (node-local %d of %d): %s backend, device \"%s\"",
             clvae_dist_rank(), clvae_dist_local_rank(), clvae_dist_local_size(), be.ops->name,
             be.ops->device_name(be.ctx));
    clvae_backend_free(&be);
    int n = clvae_dist_size();
    char *all = clvae_dist_rank() == 0 ? malloc((size_t)n * PICK_BYTES) : NULL;
    if (clvae_dist_rank() == 0 && !all) return cli_fail(clvae_error(CLVAE_ERR_NOMEM, "out of memory"));
    if ((st = clvae_dist_gather_text(line, all, PICK_BYTES))) {
        free(all);
        return cli_fail(st);
    }
    if (all) {
        printf("\n[device] platform = %s, device = %s picks, per rank:\n",
               cfg.device.platform[0] ? cfg.device.platform : "(any)",
               cfg.device.device[0] ? cfg.device.device : "(any)");
        for (int r = 0; r < n; r++) printf("  %s\n", all + (size_t)r * PICK_BYTES);
    }
    free(all);
    return 0;
}

int cmd_devices(int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(argc, argv, OPT_CONFIG | OPT_SET, usage, &a);
    if (rc || a.help) return rc;
    int listed = clvae_dist_rank() == 0 ? list_all() : 0; /* the other ranks wait in picks */
    if (clvae_dist_size() > 1 || a.config || a.n_sets) rc = show_picks(&a);
    return listed ? listed : rc;
}
