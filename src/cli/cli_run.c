/* Opening a trained run for the inference commands (eval, sample, reconstruct, latents,
 * interpolate): the run's config, its test set, a backend and the checkpointed model. */
#include <stdio.h>

#include "cli/cli.h"
#include "train/checkpoint.h"

int cli_run_config(int argc, char **argv, unsigned opts, const char *usage, cli_args *a,
                   cli_run *r)
{
    char path[CLVAE_PATH_MAX + 16];
    int rc = cli_parse(argc, argv, opts | OPT_RUN, usage, a);
    if (rc || a->help) return rc ? rc : -1;
    if (!a->run) {
        fprintf(stderr, "clvae: error: --run RUN_DIR is required\n%s", usage);
        return 2;
    }
    snprintf(path, sizeof path, "%s/config.ini", a->run);
    a->config = path;
    rc = cli_load_config(a, NULL, &r->cfg);
    a->config = NULL; /* path is local */
    return rc;
}

int cli_run_open(cli_run *r, const char *run_dir, int max_batch, int samples)
{
    const clvae_config *cfg = &r->cfg;
    int st = clvae_dataset_load_cfg(&r->test, cfg, true, true);
    if (!st) st = clvae_backend_create(cfg, &r->be);
    if (!st) st = clvae_model_layout(&r->m, cfg, (int)r->test.dim);
    if (!st) st = clvae_model_init(&r->m, &r->be, max_batch, samples, false);
    if (!st) st = clvae_checkpoint_load(&r->m, run_dir, false, NULL);
    return st;
}

void cli_run_close(cli_run *r)
{
    clvae_model_free(&r->m);
    clvae_backend_free(&r->be);
    clvae_dataset_free(&r->test);
}
