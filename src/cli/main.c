/* clvae: the command-line tool. Dispatches to one subcommand per file in src/cli/. The same
 * binary runs alone or as one rank of `mpirun -np N clvae train ...` (src/dist/). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "clvae/status.h"
#include "core/log.h"
#include "dist/dist.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    bool ranks;   /* runs under mpirun with N > 1 ranks */
} command;

static const command commands[] = {
    {"train", cmd_train, "train a VAE from a config file (data-parallel under mpirun)", true},
    {"eval", cmd_eval, "test-set ELBO of a run, and the IWAE estimate with --iw K", false},
    {"sample", cmd_sample, "decoder means for z ~ N(0, I) as a PNG grid", false},
    {"reconstruct", cmd_reconstruct, "test images over their reconstructions as a PNG grid", false},
    {"check", cmd_check, "cross-device consistency: every op and a short training vs the reference", false},
    {"bench", cmd_bench, "training throughput: one JSON line with samples_per_s", false},
    {"tune", cmd_tune, "GEMM autotuning for the configured OpenCL device (writes its tuning file)", false},
    {"latents", cmd_latents, "test-set latent means as NPY, and their scatter plot as SVG", false},
    {"interpolate", cmd_interpolate, "latent interpolation and per-dimension traversal PNGs", false},
    {"devices", cmd_devices, "list every platform and device, with the config lines that select it "
                             "(under mpirun: each rank's pick)", true},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: clvae COMMAND [OPTIONS]   (clvae COMMAND --help for its options)\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
}

static int dispatch(int argc, char **argv)
{
    if (argc < 2) {
        if (clvae_dist_rank() == 0) usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        if (clvae_dist_rank() == 0) usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        const command *c = &commands[i];
        if (strcmp(argv[1], c->name) != 0) continue;
        if (!c->ranks && clvae_dist_size() > 1) {
            clvae_dist_set_quiet(clvae_dist_rank() != 0);
            return cli_fail(clvae_error(CLVAE_ERR_USAGE,
                                        "clvae %s runs in one process, but this is rank %d of %d "
                                        "(mpirun -np %d): only train and devices run on several "
                                        "ranks; start it without mpirun", c->name,
                                        clvae_dist_rank(), clvae_dist_size(), clvae_dist_size()));
        }
        return c->run(argc - 2, argv + 2);
    }
    if (clvae_dist_rank() == 0) {
        fprintf(stderr, "clvae: error: unknown command '%s'\n", argv[1]);
        usage(stderr);
    }
    return 2;
}

int main(int argc, char **argv)
{
    int st = clvae_dist_init(&argc, &argv);
    if (st) return cli_fail(st);
    clvae_log_set_rank(clvae_dist_rank());
    int rc = dispatch(argc, argv);
    clvae_dist_finalize();
    return rc;
}
