/* Shared pieces of the clvae command-line tool: option parsing for config-driven commands. */
#ifndef CLVAE_CLI_H
#define CLVAE_CLI_H

#include <stdbool.h>

#include "backend/backend.h"
#include "clvae/config.h"
#include "clvae/data.h"
#include "model/vae.h"

#define CLI_MAX_SETS 64

typedef struct cli_args {
    const char *config;        /* -c FILE */
    const char *sets[CLI_MAX_SETS];
    int n_sets;
    const char *resume;        /* --resume RUN_DIR */
    const char *run;           /* --run RUN_DIR */
    const char *profile;       /* --profile FILE.json */
    const char *losses;        /* --losses FILE.jsonl */
    const char *out;           /* -o FILE */
    const char *checkpoint;    /* --checkpoint best|last (NULL = last) */
    int iw;                    /* --iw K */
    int n;                     /* -n N */
    int label;                 /* --label C (-1 = not given) */
    long steps;                /* --steps N */
    bool deterministic;        /* --deterministic */
    bool quiet;                /* -q */
    bool help;
} cli_args;

/* Option flags a command accepts (bit set). */
enum {
    OPT_CONFIG = 1, OPT_SET = 2, OPT_RESUME = 4, OPT_RUN = 8, OPT_PROFILE = 16, OPT_OUT = 32,
    OPT_IW = 64, OPT_N = 128, OPT_STEPS = 256, OPT_DETERMINISTIC = 512, OPT_QUIET = 1024,
    OPT_CHECKPOINT = 2048, OPT_LABEL = 4096, OPT_LOSSES = 8192
};

/* The usage line every command that opens a trained run shows for --checkpoint. */
#define CLI_CHECKPOINT_USAGE                                                                      \
    "  --checkpoint W   best (checkpoint.best.safetensors, lowest validation loss; needs\n"       \
    "                   data.valid) or last (checkpoint.safetensors, the default)\n"

/* Parses argv (after the command word). Returns 0 or an exit status (2) after printing why. */
int cli_parse(int argc, char **argv, unsigned accepted, const char *usage, cli_args *a);

/* Defaults, then the config file (a->config, or `fallback` when NULL), then every --set,
 * then validation. Prints the error and returns the exit status (2) on failure. */
int cli_load_config(const cli_args *a, const char *fallback, clvae_config *cfg);

/* A trained run opened for inference: its resolved config, test set, backend and model. */
typedef struct cli_run {
    const char *checkpoint;   /* "best" or "last" */
    clvae_config cfg;
    clvae_dataset test;
    clvae_backend be;
    clvae_model m;
    int iw_k;                 /* > 0: size the model for clvae_eval_iwae's pass with k samples */
} cli_run;

/* Parses argv (opts plus --run, which is required, and --checkpoint), then reads RUN_DIR/config.ini and every
 * --set into r->cfg. Returns 0 to go on, -1 after --help, or an exit status (printed why). */
int cli_run_config(int argc, char **argv, unsigned opts, const char *usage, cli_args *a,
                   cli_run *r);
/* Loads the test set, the backend and the model (sized for max_batch x samples rows) with the
 * run's checkpointed parameters. Returns a clvae status; cli_run_close frees in any case. */
int cli_run_open(cli_run *r, const char *run_dir, int max_batch, int samples);
void cli_run_close(cli_run *r);

/* Prints "clvae: error: <message>" for a failed status and returns its exit status. */
int cli_fail(int status);

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_devices(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_reconstruct(int argc, char **argv);
int cmd_latents(int argc, char **argv);
int cmd_interpolate(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
