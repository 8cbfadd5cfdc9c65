/* Option parsing and config loading shared by the clvae subcommands. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clvae/status.h"
#include "dist/dist.h"

int cli_fail(int status)
{
    if (!clvae_dist_quiet()) /* data-parallel: another rank reports it */
        fprintf(stderr, "clvae: error: %s\n", clvae_last_error());
    return clvae_exit_code(status);
}

static int usage_error(const char *usage, const char *fmt, const char *arg)
{
    if (clvae_dist_rank() != 0) return 2; /* data-parallel: every rank has the same argv */
    fprintf(stderr, "clvae: error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", usage);
    return 2;
}

static int parse_int(const char *s, long lo, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo) return -1;
    *out = v;
    return 0;
}

/* Handles one option with a value; returns 1 if consumed, 0 if unknown, -1 on a bad value. */
static int take_value(const char *opt, const char *val, unsigned acc, cli_args *a)
{
    long v;
    if ((acc & OPT_CONFIG) && (!strcmp(opt, "-c") || !strcmp(opt, "--config"))) a->config = val;
    else if ((acc & OPT_SET) && !strcmp(opt, "--set")) {
        if (a->n_sets == CLI_MAX_SETS) return -1;
        a->sets[a->n_sets++] = val;
    } else if ((acc & OPT_RESUME) && !strcmp(opt, "--resume")) a->resume = val;
    else if ((acc & OPT_RUN) && !strcmp(opt, "--run")) a->run = val;
    else if ((acc & OPT_PROFILE) && !strcmp(opt, "--profile")) a->profile = val;
    else if ((acc & OPT_LOSSES) && !strcmp(opt, "--losses")) a->losses = val;
    else if ((acc & OPT_OUT) && (!strcmp(opt, "-o") || !strcmp(opt, "--output"))) a->out = val;
    else if ((acc & OPT_CHECKPOINT) && !strcmp(opt, "--checkpoint")) {
        if (strcmp(val, "best") != 0 && strcmp(val, "last") != 0) return -1;
        a->checkpoint = val;
    }
    else if ((acc & OPT_IW) && !strcmp(opt, "--iw")) {
        if (parse_int(val, 1, &v) || v > 100000) return -1;
        a->iw = (int)v;
    } else if ((acc & OPT_N) && !strcmp(opt, "-n")) {
        if (parse_int(val, 1, &v) || v > 10000) return -1;
        a->n = (int)v;
    } else if ((acc & OPT_LABEL) && !strcmp(opt, "--label")) {
        if (parse_int(val, 0, &v) || v > 255) return -1;
        a->label = (int)v;
    } else if ((acc & OPT_STEPS) && !strcmp(opt, "--steps")) {
        if (parse_int(val, 1, &v)) return -1;
        a->steps = v;
    } else return 0;
    return 1;
}

int cli_parse(int argc, char **argv, unsigned acc, const char *usage, cli_args *a)
{
    memset(a, 0, sizeof *a);
    a->label = -1;
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            fputs(usage, stdout);
            a->help = true;
            return 0;
        }
        if ((acc & OPT_DETERMINISTIC) && !strcmp(o, "--deterministic")) {
            a->deterministic = true;
            continue;
        }
        if ((acc & OPT_QUIET) && (!strcmp(o, "-q") || !strcmp(o, "--quiet"))) {
            a->quiet = true;
            continue;
        }
        if (i + 1 >= argc) return usage_error(usage, "unknown option or missing value: %s", o);
        int r = take_value(o, argv[i + 1], acc, a);
        if (r == 0) return usage_error(usage, "unknown option: %s", o);
        if (r < 0) return usage_error(usage, "bad value for %s", o);
        i++;
    }
    return 0;
}

static int load_config(const cli_args *a, const char *fallback, clvae_config *cfg)
{
    int st;
    clvae_config_defaults(cfg);
    const char *path = a->config ? a->config : fallback;
    if (!a->config && path && access(path, F_OK) != 0) {
        /* The built-in defaults are config/default.ini's values (test_config checks this). */
        if (clvae_dist_rank() == 0)
            fprintf(stderr, "clvae: note: %s not found here; using the built-in defaults\n",
                    path);
        path = NULL;
    }
    if (path && (st = clvae_config_load(cfg, path))) return st;
    for (int i = 0; i < a->n_sets; i++)
        if ((st = clvae_config_set(cfg, a->sets[i]))) return st;
    return clvae_config_validate(cfg);
}

int cli_load_config(const cli_args *a, const char *fallback, clvae_config *cfg)
{
    /* data-parallel: each rank read the file itself; one message, every rank exits */
    int st = clvae_dist_agree(load_config(a, fallback, cfg));
    return st ? cli_fail(st) : 0;
}
