/* clvae train: train a model from a config file and report the final test loss. */
#include <stdio.h>

#include "cli/cli.h"
#include "clvae/status.h"
#include "clvae/train.h"
#include "dist/dist.h"

static const char usage[] =
    "usage: clvae train [-c FILE] [--set SECTION.KEY=VALUE]... [--resume RUN_DIR]\n"
    "                   [--profile FILE.json] [--losses FILE.jsonl] [-q]\n"
    "  -c FILE        config file (default config/default.ini)\n"
    "  --set S.K=V    override one config key, e.g. --set train.epochs=1\n"
    "  --resume DIR   continue the run in DIR from its checkpoint\n"
    "  --profile F    write a Chrome trace-event file of the device queues\n"
    "  --losses F     one JSON line per loss read-back (every train.log_every steps)\n"
    "Under mpirun -np N: data-parallel, train.batch rows per step split over the N ranks.\n"
    "  -q             no progress output\n";

int cmd_train(int argc, char **argv)
{
    cli_args a;
    clvae_config cfg;
    clvae_train_result res;
    int rc = cli_parse(argc, argv, OPT_CONFIG | OPT_SET | OPT_RESUME | OPT_PROFILE | OPT_QUIET |
                                           OPT_LOSSES,
                       usage, &a);
    if (rc || a.help) return rc;
    char run_cfg[CLVAE_PATH_MAX + 16];
    if (a.resume) {
        if (a.config) fprintf(stderr, "clvae: warning: --resume uses %s/config.ini; -c ignored\n", a.resume);
        snprintf(run_cfg, sizeof run_cfg, "%s/config.ini", a.resume);
        a.config = run_cfg;
    }
    if ((rc = cli_load_config(&a, "config/default.ini", &cfg))) return rc;
    if (a.resume) snprintf(cfg.output.dir, sizeof cfg.output.dir, "%s", a.resume);
    clvae_train_options opt = {.resume_dir = a.resume, .profile_path = a.profile, .quiet = a.quiet,
                               .losses_path = a.losses};
    int st = clvae_train(&cfg, &opt, &res);
    if (st == CLVAE_ERR_INTERRUPTED && res.signal > 0) { /* 130 for SIGINT, 143 for SIGTERM */
        cli_fail(st);
        return 128 + res.signal;
    }
    if (st) return cli_fail(st);
    if (clvae_dist_rank() == 0) /* data-parallel: rank 0 evaluated */
        printf("final test_loss=%.4f epochs=%d device=%s\n", res.test_loss, res.epochs,
               res.device);
    return 0;
}
