/* clvae: the command-line tool. Dispatches to one subcommand per file in src/cli/. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"train", cmd_train, "train a VAE from a config file"},
    {"eval", cmd_eval, "test-set ELBO of a run, and the IWAE estimate with --iw K"},
    {"sample", cmd_sample, "decoder means for z ~ N(0, I) as a PNG grid"},
    {"reconstruct", cmd_reconstruct, "test images over their reconstructions as a PNG grid"},
    {"check", cmd_check, "cross-device consistency: every op and a short training vs the reference"},
    {"bench", cmd_bench, "training throughput: one JSON line with samples_per_s"},
    {"tune", cmd_tune, "GEMM autotuning for the configured OpenCL device (writes its tuning file)"},
    {"latents", cmd_latents, "test-set latent means as NPY, and their scatter plot as SVG"},
    {"interpolate", cmd_interpolate, "latent interpolation and per-dimension traversal PNGs"},
    {"devices", cmd_devices, "list every platform and device, with the config lines that select it"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: clvae COMMAND [OPTIONS]   (clvae COMMAND --help for its options)\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 2, argv + 2);
    fprintf(stderr, "clvae: error: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
