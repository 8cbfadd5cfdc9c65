/* clvae bench: training throughput of the configured model on the configured device. */
#include <stdio.h>

#include "cli/cli.h"
#include "clvae/bench.h"
#include "clvae/status.h"

static const char usage[] =
    "usage: clvae bench [-c FILE] [--steps N] [--set SECTION.KEY=VALUE]... [--profile FILE.json]\n"
    "  times N training steps (default 200) after a warm-up and prints one JSON line with\n"
    "  samples_per_s, seconds, steps, batch, residency, overlap, device and backend, and\n"
    "  launches_per_step, host_us_per_step and replays_per_step (device commands, host\n"
    "  microseconds inside the enqueue calls and recorded steps replayed per timed step;\n"
    "  null on the reference backend)\n"
    "  --set device.command_buffer=off   every step op by op (no recording and replay)\n"
    "  --set data.residency=device|stream   --set data.overlap=false   compare the feeds\n"
    "  --profile F    write a Chrome trace-event file (Perfetto, chrome://tracing) of the\n"
    "                 first timed steps: one track per queue and one for the host loader;\n"
    "                 adds overlap_share (upload time that overlapped compute) to the line\n";

int cmd_bench(int argc, char **argv)
{
    cli_args a;
    clvae_config cfg;
    clvae_bench_result r;
    int rc = cli_parse(argc, argv, OPT_CONFIG | OPT_SET | OPT_STEPS | OPT_PROFILE, usage, &a);
    if (rc || a.help) return rc;
    if ((rc = cli_load_config(&a, "config/default.ini", &cfg))) return rc;
    clvae_bench_options o = {.steps = a.steps ? a.steps : 200, .profile_path = a.profile};
    int st = clvae_bench_run(&cfg, &o, &r);
    if (st) return cli_fail(st);
    char share[32] = "null";
    if (r.overlap_share >= 0) snprintf(share, sizeof share, "%.3f", r.overlap_share);
    char launches[32] = "null", host_us[32] = "null", replays[32] = "null";
    if (r.replays_per_step >= 0) snprintf(replays, sizeof replays, "%.2f", r.replays_per_step);
    if (r.launches_per_step >= 0) snprintf(launches, sizeof launches, "%.2f", r.launches_per_step);
    if (r.host_us_per_step >= 0) snprintf(host_us, sizeof host_us, "%.1f", r.host_us_per_step);
    printf("{\"samples_per_s\": %.1f, \"seconds\": %.4f, \"steps\": %ld, \"batch\": %d, "
           "\"loss\": %.4f, \"residency\": \"%s\", \"overlap\": %s, \"overlap_share\": %s, "
           "\"launches_per_step\": %s, \"host_us_per_step\": %s, \"replays_per_step\": %s, "
           "\"device\": \"%s\", \"backend\": \"%s\"}\n",
           r.samples_per_s, r.seconds, r.steps, cfg.train.batch, r.loss, r.residency,
           r.overlap ? "true" : "false", share, launches, host_us, replays, r.device, r.backend);
    return 0;
}
