/* clvae bench: training throughput of the configured model on the configured device. */
#include <stdio.h>

#include "cli/cli.h"
#include "clvae/bench.h"
#include "clvae/status.h"

static const char usage[] =
    "usage: clvae bench [-c FILE] [--steps N] [--set SECTION.KEY=VALUE]...\n"
    "  times N training steps (default 200) after a warm-up and prints one JSON line with\n"
    "  samples_per_s, seconds, steps, batch, device and backend\n";

int cmd_bench(int argc, char **argv)
{
    cli_args a;
    clvae_config cfg;
    clvae_bench_result r;
    int rc = cli_parse(argc, argv, OPT_CONFIG | OPT_SET | OPT_STEPS, usage, &a);
    if (rc || a.help) return rc;
    if ((rc = cli_load_config(&a, "config/default.ini", &cfg))) return rc;
    int st = clvae_bench(&cfg, a.steps ? a.steps : 200, &r);
    if (st) return cli_fail(st);
    printf("{\"samples_per_s\": %.1f, \"seconds\": %.4f, \"steps\": %ld, \"batch\": %d, "
           "\"loss\": %.4f, \"device\": \"%s\", \"backend\": \"%s\"}\n",
           r.samples_per_s, r.seconds, r.steps, cfg.train.batch, r.loss, r.device, r.backend);
    return 0;
}
