/* clvae sample and clvae reconstruct: PNG grids (or NPY means) from a trained run. */
#include <stdio.h>

#include "backend/backend.h"
#include "cli/cli.h"
#include "clvae/data.h"
#include "clvae/status.h"
#include "model/vae.h"
#include "train/checkpoint.h"
#include "train/visual.h"

static const char sample_usage[] =
    "usage: clvae sample --run RUN_DIR [-n N] [--label C] [-o FILE.png|FILE.npy]\n"
    "                    [--checkpoint best|last] [--set SECTION.KEY=VALUE]...\n"
    "  decoder means for N draws z ~ N(0, I) (a categorical model: one-hot codes from the uniform\n"
    "  prior) as a PNG grid (default 64, RUN_DIR/samples.png; RGB for 3-channel data), or as an\n"
    "  (N, D) float32 array with -o FILE.npy (D = C*H*W, each row in NCHW order). A conditional\n"
    "  model draws one grid row per class (N / C samples each, default 10), or N samples of class C with --label C\n"
    CLI_CHECKPOINT_USAGE;
static const char recon_usage[] =
    "usage: clvae reconstruct --run RUN_DIR [-n N] [-o FILE.png|FILE.npy]\n"
    "                         [--checkpoint best|last] [--set SECTION.KEY=VALUE]...\n"
    "  the first N test images (default 20) above their reconstructions (z = mu), as a PNG grid\n"
    "  (default RUN_DIR/reconstructions.png; RGB for 3-channel data), or the (N, D) float32\n"
    "  reconstruction means (NCHW rows) with -o FILE.npy; a conditional model reconstructs with\n"
    "  the true labels\n" CLI_CHECKPOINT_USAGE;

static int run_images(int argc, char **argv, bool samples)
{
    const char *usage = samples ? sample_usage : recon_usage;
    cli_args a;
    cli_run c = {0};
    char out[CLVAE_PATH_MAX + 32];
    int rc = cli_run_config(argc, argv, OPT_N | OPT_OUT | OPT_SET | (samples ? OPT_LABEL : 0),
                            usage, &a, &c);
    if (rc) return rc < 0 ? 0 : rc;
    const clvae_config *cfg = &c.cfg;
    bool per_class = samples && cfg->model.conditional && a.label < 0;
    int n = a.n ? a.n : per_class ? 10 * cfg->model.classes : samples ? 64 : 20, h = 0, w = 0;
    if (a.label >= 0 && !cfg->model.conditional) {
        fprintf(stderr, "clvae: error: --label %d: the run's model is not conditional "
                        "(model.conditional = false)\n", a.label);
        return 2;
    }
    snprintf(out, sizeof out, "%s/%s.png", a.run, samples ? "samples" : "reconstructions");
    const char *path = a.out ? a.out : out;
    int st = cli_run_open(&c, a.run, n, 1);
    if (!st && !clvae_visual_is_npy(path)) st = clvae_visual_image_command(cfg, &c.test, &h, &w);
    if (!st) {
        st = samples ? clvae_visual_samples(&c.m, n, 0, a.label, h, w, path)
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
