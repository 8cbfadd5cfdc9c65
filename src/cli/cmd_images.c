/* clvae sample and clvae reconstruct: PNG grids from a trained run. */
#include <stdio.h>

#include "backend/backend.h"
#include "cli/cli.h"
#include "clvae/data.h"
#include "clvae/status.h"
#include "model/vae.h"
#include "train/checkpoint.h"
#include "train/visual.h"

static const char sample_usage[] =
    "usage: clvae sample --run RUN_DIR [-n N] [-o FILE.png] [--checkpoint best|last]\n"
    "                    [--set SECTION.KEY=VALUE]...\n"
    "  decoder means for N draws z ~ N(0, I) as a PNG grid (default 64, RUN_DIR/samples.png)\n"
    CLI_CHECKPOINT_USAGE;
static const char recon_usage[] =
    "usage: clvae reconstruct --run RUN_DIR [-n N] [-o FILE.png] [--checkpoint best|last]\n"
    "                         [--set SECTION.KEY=VALUE]...\n"
    "  the first N test images (default 20) above their reconstructions (z = mu), as a PNG grid\n"
    "  (default RUN_DIR/reconstructions.png)\n" CLI_CHECKPOINT_USAGE;

static int run_images(int argc, char **argv, bool samples)
{
    const char *usage = samples ? sample_usage : recon_usage;
    cli_args a;
    cli_run c = {0};
    char out[CLVAE_PATH_MAX + 32];
    int rc = cli_run_config(argc, argv, OPT_N | OPT_OUT | OPT_SET, usage, &a, &c);
    if (rc) return rc < 0 ? 0 : rc;
    int n = a.n ? a.n : samples ? 64 : 20, h, w;
    snprintf(out, sizeof out, "%s/%s.png", a.run, samples ? "samples" : "reconstructions");
    int st = cli_run_open(&c, a.run, n, 1);
    if (!st) st = clvae_visual_image_command(&c.cfg, &c.test, &h, &w);
    if (!st) {
        const char *path = a.out ? a.out : out;
        st = samples ? clvae_visual_samples(&c.m, n, 0, h, w, path)
                     : clvae_visual_reconstructions(&c.m, &c.test, n, h, w, path);
        if (!st) printf("%s\n", path);
    }
    cli_run_close(&c);
    return st ? cli_fail(st) : 0;
}

int cmd_sample(int argc, char **argv)
{
    return run_images(argc, argv, true);
}

int cmd_reconstruct(int argc, char **argv)
{
    return run_images(argc, argv, false);
}
