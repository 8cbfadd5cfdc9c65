/* Opening a trained run for the inference commands (eval, sample, reconstruct, latents,
 * interpolate): the run's config, its test set, a backend and the checkpointed model. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "data/binarize.h"
#include "train/checkpoint.h"
#include "train/eval.h"
#include "train/valid.h"

int cli_run_config(int argc, char **argv, unsigned opts, const char *usage, cli_args *a,
                   cli_run *r)
{
    char path[CLVAE_PATH_MAX + 16];
    int rc = cli_parse(argc, argv, opts | OPT_RUN | OPT_CHECKPOINT, usage, a);
    if (rc || a->help) return rc ? rc : -1;
    r->checkpoint = a->checkpoint ? a->checkpoint : "last";
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
    /* a model trained on binarized data is evaluated on the test set binarized once, as in
     * training (the same draws) */
    if (!st && cfg->data.binarize != CLVAE_BIN_NONE)
        clvae_dataset_binarize(&r->test, cfg->train.seed, true);
    if (!st) st = clvae_backend_create(cfg, &r->be);
    if (!st) st = clvae_model_layout_data(&r->m, cfg, &r->test);
    if (!st && r->iw_k > 0) clvae_eval_iw_pass(&r->m, r->iw_k, &max_batch, &samples);
    if (!st) st = clvae_model_init(&r->m, &r->be, max_batch, samples, false);
    if (st) return st;
    bool best = r->checkpoint && strcmp(r->checkpoint, "best") == 0;
    char path[CLVAE_PATH_MAX + 48];
    snprintf(path, sizeof path, "%s/%s", run_dir,
             best ? CLVAE_BEST_CHECKPOINT : "checkpoint.safetensors");
    if (best && access(path, F_OK) != 0)
        return clvae_error(CLVAE_ERR_CHECKPOINT,
                           "%s: no best checkpoint in this run: it is kept only when training "
                           "holds out validation rows (data.valid > 0); use --checkpoint last",
                           path);
    return clvae_checkpoint_load_file(&r->m, path, false, NULL);
}

void cli_run_close(cli_run *r)
{
    clvae_model_free(&r->m);
    clvae_backend_free(&r->be);
    clvae_dataset_free(&r->test);
}
