/* clvae latents and clvae interpolate: the latent space of a trained run (NPY, SVG, PNG). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/backend.h"
#include "cli/cli.h"
#include "clvae/data.h"
#include "clvae/status.h"
#include "model/vae.h"
#include "train/checkpoint.h"
#include "train/latents.h"
#include "train/rundir.h"
#include "train/visual.h"

#define TRAVERSAL_RANGE 3.0f   /* +-3 standard deviations of the prior */
#define TRAVERSAL_INDEX 0      /* test image whose mu the traversal starts from */

static const char latents_usage[] =
    "usage: clvae latents --run RUN_DIR [-o DIR] [--checkpoint best|last]\n"
    "                     [--set SECTION.KEY=VALUE]...\n"
    "  encodes the test set (z = mu) and writes into DIR (default RUN_DIR, created if missing):\n"
    "  latents_mu.npy (n, R) float32, latents_labels.npy (n) uint8 when the test set has labels,\n"
    "  and latents.svg: a scatter of mu (R = 2) or of its first two principal components,\n"
    "  coloured by label. A categorical (Gumbel-softmax) model: mu is q's probabilities (n, G*K),\n"
    "  plus latents_code.npy (n, G) uint8 (each group's argmax code) and latents_usage.npy (G, K)\n"
    "  float32 (each category's share of the images, per group)\n" CLI_CHECKPOINT_USAGE;
static const char interp_usage[] =
    "usage: clvae interpolate --run RUN_DIR [-n STEPS] [-o PREFIX] [--checkpoint best|last]\n"
    "                         [--set SECTION.KEY=VALUE]...\n"
    "  interpolation.png: decoder means on the straight line between the latent means of test\n"
    "  image 0 and the first test image of another class (STEPS images, default 10)\n"
    "  traversal.png: one row per latent dimension, that coordinate of test image 0's mean\n"
    "  swept over [-3, 3] in STEPS images, the others fixed\n"
    "  files go to RUN_DIR, or to PREFIXinterpolation.png and PREFIXtraversal.png (a PREFIX that\n"
    "  is a directory gets a '/')\n" CLI_CHECKPOINT_USAGE;

/* Parses the command line, reads RUN_DIR/config.ini and loads the test set and the model.
 * Returns an exit status (help: 0 with *done set) or 0 with everything loaded. */
static int open_run(int argc, char **argv, unsigned opts, const char *usage, cli_args *a,
                    cli_run *c, int *done)
{
    int rc = cli_run_config(argc, argv, opts, usage, a, c);
    *done = rc != 0;
    if (rc) return rc < 0 ? 0 : rc;
    int st = cli_run_open(c, a->run, c->cfg.train.batch, 1);
    return st ? cli_fail(st) : 0;
}

int cmd_latents(int argc, char **argv)
{
    cli_args a;
    cli_run c = {0};
    int done, rc = open_run(argc, argv, OPT_RUN | OPT_OUT | OPT_SET, latents_usage, &a, &c, &done);
    if (!rc && !done) {
        const char *dir = a.out ? a.out : a.run;
        int st = clvae_mkdir_p(dir);
        if (!st) st = clvae_latents_export(&c.m, &c.test, dir);
        if (!st) {
            printf("%s/latents_mu.npy\n", dir);
            if (c.test.labels) printf("%s/latents_labels.npy\n", dir);
            if (clvae_model_categorical(&c.m))
                printf("%s/latents_code.npy\n%s/latents_usage.npy\n", dir, dir);
            printf("%s/latents.svg\n", dir);
        }
        rc = st ? cli_fail(st) : 0;
    }
    cli_run_close(&c);
    return rc;
}

/* The first test image whose label differs from image 0's (1 without labels or variety). */
static int other_end(const clvae_dataset *ds)
{
    for (size_t i = 1; ds->labels && i < ds->n; i++)
        if (ds->labels[i] != ds->labels[0]) return (int)i;
    return ds->n > 1 ? 1 : 0;
}

/* dst = PREFIX + name, PREFIX being RUN_DIR/ by default or -o (plus '/' for a directory). */
static void out_path(const cli_args *a, const char *name, char *dst, size_t size)
{
    struct stat sb;
    const char *pre = a->out ? a->out : a->run;
    size_t len = strlen(pre);
    int dir = !a->out || (stat(pre, &sb) == 0 && S_ISDIR(sb.st_mode));
    snprintf(dst, size, "%s%s%s", pre, dir && len && pre[len - 1] != '/' ? "/" : "", name);
}

int cmd_interpolate(int argc, char **argv)
{
    cli_args a;
    cli_run c = {0};
    char ipath[CLVAE_PATH_MAX + 32], tpath[CLVAE_PATH_MAX + 32];
    int done, rc = open_run(argc, argv, OPT_RUN | OPT_OUT | OPT_N | OPT_SET, interp_usage, &a, &c,
                            &done);
    if (!rc && !done) {
        int steps = a.n ? a.n : 10, h, w;
        int st = clvae_visual_image_command(&c.cfg, &c.test, &h, &w);
        out_path(&a, "interpolation.png", ipath, sizeof ipath);
        out_path(&a, "traversal.png", tpath, sizeof tpath);
        if (!st)
            st = clvae_visual_interpolation(&c.m, &c.test, 0, other_end(&c.test), steps, h, w,
                                            ipath);
        if (!st)
            st = clvae_visual_traversal(&c.m, &c.test, TRAVERSAL_INDEX, steps, TRAVERSAL_RANGE, h,
                                        w, tpath);
        if (!st) printf("%s\n%s\n", ipath, tpath);
        rc = st ? cli_fail(st) : 0;
    }
    cli_run_close(&c);
    return rc;
}
