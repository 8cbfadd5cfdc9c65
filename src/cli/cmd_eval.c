/* clvae eval: test-set negative ELBO of a trained run, and the IWAE log-likelihood estimate. */
#include <stdio.h>

#include "backend/backend.h"
#include "cli/cli.h"
#include "clvae/data.h"
#include "clvae/status.h"
#include "model/vae.h"
#include "train/checkpoint.h"
#include "train/eval.h"

static const char usage[] =
    "usage: clvae eval --run RUN_DIR [--iw K] [--deterministic] [--set SECTION.KEY=VALUE]...\n"
    "  --run DIR        a run directory written by clvae train (config.ini + checkpoint)\n"
    "  --iw K           also estimate log p(x) with the importance-weighted bound, K samples\n"
    "  --deterministic  ELBO with z = mu (no sampling), for comparisons with other frameworks\n"
    "  --set S.K=V      override a config key (e.g. --set device.backend=ref)\n"
    "prints one JSON line: test_loss (negative ELBO per sample, nats), recon, kl, n\n"
    "and with --iw: iwae_k, test_loglik\n";

typedef struct eval_ctx {
    clvae_dataset test;
    clvae_backend be;
    clvae_model m;
} eval_ctx;

static int run_eval(const clvae_config *cfg, const cli_args *a, eval_ctx *e)
{
    int k = a->iw, batch = cfg->train.batch, st;
    if (k > 0 && batch * k > 25600) batch = 25600 / k > 0 ? 25600 / k : 1;
    clvae_eval_result r;
    double ll = 0;
    if ((st = clvae_dataset_load(&e->test, cfg->data.test, cfg->data.test_labels, cfg->data.format,
                                 cfg->data.limit_test)))
        return st;
    if ((st = clvae_backend_create(cfg, &e->be))) return st;
    if ((st = clvae_model_layout(&e->m, cfg, (int)e->test.dim))) return st;
    if ((st = clvae_model_init(&e->m, &e->be, batch, k > 1 ? k : 1, false))) return st;
    if ((st = clvae_checkpoint_load(&e->m, a->run, false, NULL))) return st;
    if ((st = clvae_eval_elbo(&e->m, &e->test, a->deterministic, &r))) return st;
    if (k > 0 && (st = clvae_eval_iwae(&e->m, &e->test, k, &ll))) return st;
    printf("{\"test_loss\": %.6f, \"recon\": %.6f, \"kl\": %.6f, \"n\": %ld, \"deterministic\": %s",
           r.loss, r.recon, r.kl, r.n, a->deterministic ? "true" : "false");
    if (k > 0) printf(", \"iwae_k\": %d, \"test_loglik\": %.6f", k, ll);
    printf(", \"device\": \"%s\"}\n", e->be.ops->device_name(e->be.ctx));
    return CLVAE_OK;
}

int cmd_eval(int argc, char **argv)
{
    cli_args a;
    clvae_config cfg;
    char path[CLVAE_PATH_MAX + 16];
    int rc = cli_parse(argc, argv, OPT_RUN | OPT_IW | OPT_SET | OPT_DETERMINISTIC, usage, &a);
    if (rc || a.help) return rc;
    if (!a.run) {
        fprintf(stderr, "clvae: error: eval needs --run RUN_DIR\n%s", usage);
        return 2;
    }
    snprintf(path, sizeof path, "%s/config.ini", a.run);
    a.config = path;
    if ((rc = cli_load_config(&a, NULL, &cfg))) return rc;
    eval_ctx e = {0};
    int st = run_eval(&cfg, &a, &e);
    clvae_model_free(&e.m);
    clvae_backend_free(&e.be);
    clvae_dataset_free(&e.test);
    return st ? cli_fail(st) : 0;
}
