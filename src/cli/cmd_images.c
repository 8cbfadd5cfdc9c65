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
    "usage: clvae sample --run RUN_DIR [-n N] [-o FILE.png] [--set SECTION.KEY=VALUE]...\n"
    "  decoder means for N draws z ~ N(0, I) as a PNG grid (default 64, RUN_DIR/samples.png)\n";
static const char recon_usage[] =
    "usage: clvae reconstruct --run RUN_DIR [-n N] [-o FILE.png] [--set SECTION.KEY=VALUE]...\n"
    "  the first N test images (default 20) above their reconstructions (z = mu), as a PNG grid\n"
    "  (default RUN_DIR/reconstructions.png)\n";

typedef struct image_ctx {
    clvae_dataset test;
    clvae_backend be;
    clvae_model m;
} image_ctx;

static int open_run(const clvae_config *cfg, const cli_args *a, int n, image_ctx *c)
{
    int st = clvae_dataset_load(&c->test, cfg->data.test, cfg->data.test_labels, cfg->data.format,
                                cfg->data.limit_test);
    if (!st) st = clvae_backend_create(cfg, &c->be);
    if (!st) st = clvae_model_layout(&c->m, cfg, (int)c->test.dim);
    if (!st) st = clvae_model_init(&c->m, &c->be, n, 1, false);
    if (!st) st = clvae_checkpoint_load(&c->m, a->run, false, NULL);
    return st;
}

static int run_images(int argc, char **argv, bool samples)
{
    const char *usage = samples ? sample_usage : recon_usage;
    cli_args a;
    clvae_config cfg;
    char cfg_path[CLVAE_PATH_MAX + 16], out[CLVAE_PATH_MAX + 32];
    int rc = cli_parse(argc, argv, OPT_RUN | OPT_N | OPT_OUT | OPT_SET, usage, &a);
    if (rc || a.help) return rc;
    if (!a.run) {
        fprintf(stderr, "clvae: error: --run RUN_DIR is required\n%s", usage);
        return 2;
    }
    snprintf(cfg_path, sizeof cfg_path, "%s/config.ini", a.run);
    a.config = cfg_path;
    if ((rc = cli_load_config(&a, NULL, &cfg))) return rc;
    int n = a.n ? a.n : samples ? 64 : 20, h, w;
    snprintf(out, sizeof out, "%s/%s.png", a.run, samples ? "samples" : "reconstructions");
    image_ctx c = {0};
    int st = open_run(&cfg, &a, n, &c);
    if (!st) {
        clvae_image_shape(&c.test, &h, &w);
        const char *path = a.out ? a.out : out;
        st = samples ? clvae_visual_samples(&c.m, n, 0, h, w, path)
                     : clvae_visual_reconstructions(&c.m, &c.test, n, h, w, path);
        if (!st) printf("%s\n", path);
    }
    clvae_model_free(&c.m);
    clvae_backend_free(&c.be);
    clvae_dataset_free(&c.test);
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
