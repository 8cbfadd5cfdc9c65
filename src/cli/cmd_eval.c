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
    "prints one JSON line: test_loss (negative ELBO per sample, nats), recon, kl, kl_layers\n"
    "(one per stochastic layer, nearest x first), n; with --iw: iwae_k, test_loglik (the\n"
    "estimate of log p(x)), test_gap (estimate minus ELBO) and active_units per layer.\n"
    "A categorical (Gumbel-softmax) model: test_loss is the relaxed figure at the last training\n"
    "temperature tau (not a bound); test_loss_onehot (and recon_onehot) the ELBO with exact one-hot\n"
    "samples; --iw K samples one-hot codes from q and the uniform prior (test_gap: against the\n"
    "one-hot ELBO)\n";

static void print_list(const char *key, const double *d, const int *n, int count)
{
    printf(", \"%s\": [", key);
    for (int l = 0; l < count; l++) {
        if (d) printf("%s%.6f", l ? ", " : "", d[l]);
        else printf("%s%d", l ? ", " : "", n[l]);
    }
    printf("]");
}

static int run_eval(cli_run *e, const cli_args *a)
{
    int k = a->iw, st;
    e->iw_k = k; /* > 0: the model is sized for the IWAE pass (clvae_eval_iw_pass) */
    clvae_eval_result r;
    clvae_iwae_result iw;
    if ((st = cli_run_open(e, a->run, e->cfg.train.batch, 1))) return st;
    if ((st = clvae_eval_elbo(&e->m, &e->test, a->deterministic, &r))) return st;
    if (k > 0 && (st = clvae_eval_iwae(&e->m, &e->test, k, &iw))) return st;
    printf("{\"test_loss\": %.6f, \"recon\": %.6f, \"kl\": %.6f, \"n\": %ld, \"deterministic\": %s",
           r.loss, r.recon, r.kl, r.n, a->deterministic ? "true" : "false");
    print_list("kl_layers", r.kl_layer, NULL, r.layers);
    if (r.categorical && !a->deterministic) /* test_loss is the relaxed figure, not a bound */
        printf(", \"test_loss_onehot\": %.6f, \"recon_onehot\": %.6f, \"tau\": %.6f",
               r.loss_onehot, r.recon_onehot, r.tau);
    if (k > 0) {
        /* the gap log p(x) - ELBO estimates KL(q(z|x) || p(z|x)) (K large); a categorical
         * model's ELBO is the one-hot one (the relaxed figure is not a bound) */
        double elbo = r.categorical && !a->deterministic ? r.loss_onehot : r.loss;
        printf(", \"iwae_k\": %d, \"test_loglik\": %.6f, \"test_gap\": %.6f", k, iw.loglik,
               iw.loglik + elbo);
        print_list("active_units", NULL, iw.active, iw.layers);
    }
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
