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
    "usage: clvae eval --run RUN_DIR [--iw K] [--deterministic] [--checkpoint best|last]\n"
    "                  [--set SECTION.KEY=VALUE]...\n"
    "  --run DIR        a run directory written by clvae train (config.ini + checkpoint)\n"
    CLI_CHECKPOINT_USAGE
    "  --iw K           also estimate log p(x) with the importance-weighted bound, K samples\n"
    "  --deterministic  ELBO with z = mu (no sampling), for comparisons with other frameworks\n"
    "  --set S.K=V      override a config key (e.g. --set device.backend=ref)\n"
    "prints one JSON line: test_loss (negative ELBO per sample, nats), recon, kl, n\n"
    "and with --iw: iwae_k, test_loglik\n";

static int run_eval(cli_run *e, const cli_args *a)
{
    int k = a->iw, batch = e->cfg.train.batch, st;
    /* IWAE decodes batch * k rows at once: keep that near 25600 rows. */
    if (k > 0 && (long)batch * k > 25600) batch = 25600 / k > 0 ? 25600 / k : 1;
    clvae_eval_result r;
    double ll = 0;
    if ((st = cli_run_open(e, a->run, batch, k > 1 ? k : 1))) return st;
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
    cli_run e = {0};
    int rc = cli_run_config(argc, argv, OPT_IW | OPT_SET | OPT_DETERMINISTIC, usage, &a, &e);
    if (rc) return rc < 0 ? 0 : rc;
    int st = run_eval(&e, &a);
    cli_run_close(&e);
    return st ? cli_fail(st) : 0;
}
