/* clvae tune: searches CLBlast's GEMM parameters for the configured OpenCL device on the GEMM
 * shapes of the configured model's training step, and writes the device's tuning file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "clvae/data.h"
#include "clvae/status.h"
#include "model/vae.h"
#include "train/autotune.h"
#ifdef CLVAE_HAVE_OPENCL
#include "backend/opencl/gemm/tune.h"
#endif

static const char usage[] =
    "usage: clvae tune [-c FILE] [--set SECTION.KEY=VALUE]... [--seconds S] [--candidates N]\n"
    "                  [--batches B1,B2,...] [--sets N] [--helpers]\n"
    "  searches CLBlast's GEMM parameters (Xgemm, XgemmDirect, direct/indirect threshold) for the\n"
    "  configured OpenCL device, timing the GEMM shapes of one training step of the configured\n"
    "  model and verifying every candidate against the reference GEMM; then, shape by shape,\n"
    "  clvae's own kernels (register-tiled, packed, packb, split along k: up to some 55 a\n"
    "  shape, the shapes with the most CLBlast time first, each an equal share of the budget,\n"
    "  verified the same way), which replace CLBlast for a shape where they are faster; writes\n"
    "  the tuning file into [device] cache, keeping the kernels the previous file gave other\n"
    "  models' shapes, which train, bench and every other command then apply\n"
    "  --seconds S     CLBlast search budget (default 120; candidates take seconds each to\n"
    "                  build), and again for the tiled kernels (at least 60 s; about 90 s for\n"
    "                  the default model on a 2-core CPU)\n"
    "  --candidates N  stop after N CLBlast candidates, and N tiled ones per shape (default:\n"
    "                  no limit)\n"
    "  --batches LIST  tune the shapes of a training step at each of these batch sizes (default:\n"
    "                  train.batch), weighted per sample, so one file serves them all; shapes\n"
    "                  may get parameter sets of their own (GEMMs of other sizes take the set\n"
    "                  of the most similar tuned shape)\n"
    "  --sets N        up to N parameter sets, 1..4 (default 1: on PoCL switching sets between\n"
    "                  GEMMs cost the host more than the sets saved)\n"
    "  --helpers       also try parameters for the copy/pad/transpose kernels of the indirect\n"
    "                  GEMM (last 20% of the budget; timed in isolation, so check with bench)\n";

#define MAX_BATCHES 4
#define CLVAE_TUNE_SETS_MAX 4 /* CLVAE_TUNE_MAX_SETS, also in builds without OpenCL */

typedef struct tune_args {
    double seconds;
    int candidates;
    int batches[MAX_BATCHES], n_batches; /* 0 = train.batch */
    bool helpers;
    int sets;
} tune_args;

/* "128,512,2048" -> t->batches; false when malformed. */
static bool parse_batches(const char *text, tune_args *t)
{
    t->n_batches = 0;
    for (const char *p = text; *p;) {
        char *end = NULL;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 65536 || t->n_batches == MAX_BATCHES) return false;
        t->batches[t->n_batches++] = (int)v;
        p = end;
        if (*p == ',') p++;
        else if (*p) return false;
    }
    return t->n_batches > 0;
}

/* Takes --seconds and --candidates out of argv (the rest goes to cli_parse); 2 on a bad value. */
static int take_tune_options(int *argc, char **argv, tune_args *t)
{
    int out = 0;
    for (int i = 0; i < *argc; i++) {
        bool secs = !strcmp(argv[i], "--seconds"), cands = !strcmp(argv[i], "--candidates");
        if (!strcmp(argv[i], "--sets")) {
            char *end = NULL;
            long v = i + 1 < *argc ? strtol(argv[i + 1], &end, 10) : 0;
            if (!end || *end || v < 1 || v > CLVAE_TUNE_SETS_MAX) {
                fprintf(stderr, "clvae: error: --sets needs a whole number 1..%d\n%s",
                        CLVAE_TUNE_SETS_MAX, usage);
                return 2;
            }
            t->sets = (int)v;
            i++;
            continue;
        }
        if (!strcmp(argv[i], "--helpers")) {
            t->helpers = true;
            continue;
        }
        if (!strcmp(argv[i], "--batches")) {
            if (i + 1 >= *argc || !parse_batches(argv[i + 1], t)) {
                fprintf(stderr,
                        "clvae: error: --batches needs 1 to %d batch sizes (1..65536) "
                        "separated by commas, e.g. 128,512,2048\n%s",
                        MAX_BATCHES, usage);
                return 2;
            }
            i++;
            continue;
        }
        if (!secs && !cands) {
            argv[out++] = argv[i];
            continue;
        }
        char *end = NULL;
        double v = i + 1 < *argc ? strtod(argv[i + 1], &end) : -1;
        if (!end || *end || !(v > 0) || v > 1e6 || (cands && v != (int)v)) {
            fprintf(stderr, "clvae: error: %s needs a positive %s\n%s", argv[i],
                    secs ? "number of seconds" : "integer", usage);
            return 2;
        }
        if (secs)
            t->seconds = v;
        else
            t->candidates = (int)v;
        i++;
    }
    *argc = out;
    return 0;
}

#ifdef CLVAE_HAVE_OPENCL
/* Appends the training step's shapes at `batch`, their calls weighted by largest / batch (the
 * objective is then GEMM time per sample, summed over the batch sizes). */
static int batch_shapes(const clvae_model *m, const clvae_config *cfg, int batch, int largest,
                        clvae_gemm_shape *s, int *n)
{
    int k = clvae_model_gemm_shapes(m, batch, cfg->train.samples, s + *n,
                                    CLVAE_TUNE_MAX_SHAPES - *n);
    if (k <= 0)
        return clvae_error(CLVAE_ERR_INPUT,
                           "tune: the GEMM shapes at batch %d do not fit (at most %d shapes)",
                           batch, CLVAE_TUNE_MAX_SHAPES);
    for (int i = *n; i < *n + k; i++)
        s[i].calls *= largest / batch;
    *n += k;
    return CLVAE_OK;
}

/* The model's GEMM shapes: its layer table needs only the data's feature count. */
static int model_shapes(const clvae_config *cfg, const tune_args *ta, clvae_gemm_shape *s, int *n)
{
    clvae_dataset ds = {0};
    clvae_model m = {0};
    clvae_config rc = *cfg; /* a conditional model's classes = 0: from all its labels */
    bool all = rc.model.conditional && rc.model.classes == 0;
    int st = clvae_dataset_load_train(&ds, &rc, all ? 0 : 1);
    if (!st) st = clvae_model_layout_data(&m, &rc, &ds);
    int one[1] = {cfg->train.batch}, largest = 1;
    const int *b = ta->n_batches ? ta->batches : one;
    int nb = ta->n_batches ? ta->n_batches : 1;
    for (int i = 0; i < nb; i++)
        largest = b[i] > largest ? b[i] : largest;
    *n = 0;
    for (int i = 0; i < nb && !st; i++)
        st = batch_shapes(&m, &rc, b[i], largest, s, n);
    clvae_dataset_free(&ds);
    return st;
}

static void print_result(const clvae_tuning *t, const char *path)
{
    char params[1024];
    char kernel[48];
    printf("%-4s %6s %6s %6s %5s %12s %12s %8s %4s  %s\n", "op", "m", "n", "k", "calls",
           "default GF/s", "tuned GF/s", "speedup", "set", "kernel");
    for (int i = 0; i < t->n_shapes; i++) {
        const clvae_gemm_shape *s = &t->shapes[i];
        double fl = 2.0 * s->m * s->n * s->k * 1e-6; /* MFLOP; / ms = GF/s */
        double d = t->shape_default_ms[i], u = t->shape_tuned_ms[i];
        clvae_tiled_format(&t->shape_tiled[i], kernel, sizeof kernel);
        printf("%c%c   %6d %6d %6d %5d %12.1f %12.1f %7.1fx %4d  %s\n", s->ta ? 'T' : 'N',
               s->tb ? 'T' : 'N', s->m, s->n, s->k, s->calls, d > 0 ? fl / d : 0,
               u > 0 ? fl / u : 0, u > 0 ? d / u : 0, t->shape_set[i], kernel);
    }
    printf("GEMM time per training step: %.3f ms with CLBlast's defaults, %.3f ms tuned "
           "(%.1fx); %d candidates timed, %d rejected, %.0f s\n",
           t->default_ms, t->tuned_ms, t->tuned_ms > 0 ? t->default_ms / t->tuned_ms : 0,
           t->evaluated, t->rejected, t->seconds);
    if (t->use_defaults) {
        printf("CLBlast's default parameters were fastest: the tuning file keeps them\n");
    } else {
        clvae_gemm_params_format(&t->p, params, sizeof params);
        printf("parameters (set 0): %s\n", params);
        for (int j = 0; j < t->n_extra; j++) {
            clvae_gemm_params_format(&t->extra[j], params, sizeof params);
            printf("parameters (set %d): %s\n", j + 1, params);
        }
    }
    printf("tuning file: %s\n", path[0] ? path : "(none: no cache directory)");
}

static int run_tune(const clvae_config *cfg, const tune_args *ta)
{
    clvae_gemm_shape shapes[CLVAE_TUNE_MAX_SHAPES];
    clvae_backend be = {0};
    clvae_tuning result;
    char path[CLVAE_PATH_MAX + 64];
    int n = 0;
    if (cfg->device.backend == CLVAE_BACKEND_REF)
        return clvae_error(CLVAE_ERR_INPUT, "clvae tune tunes OpenCL devices, but [device] "
                                            "backend = ref; valid here: auto, opencl");
    int st = model_shapes(cfg, ta, shapes, &n);
    if (!st) st = clvae_opencl_backend_create_untuned(cfg, &be);
    if (!st) {
        clvae_tune_options o = {.seconds = ta->seconds,
                                .max_candidates = ta->candidates,
                                .progress = true,
                                .helpers = ta->helpers,
                                .max_sets = ta->sets,
                                .seed = cfg->train.seed};
        st = clvae_opencl_tune(&be, shapes, n, &o, &result, path, sizeof path);
    }
    clvae_backend_free(&be);
    if (!st) print_result(&result, path);
    return st;
}
#else
static int run_tune(const clvae_config *cfg, const tune_args *ta)
{
    (void)cfg;
    (void)ta;
    return clvae_error(CLVAE_ERR_INPUT, "clvae tune needs OpenCL, and this build has none");
}
#endif

int cmd_tune(int argc, char **argv)
{
    cli_args a;
    clvae_config cfg;
    tune_args ta = {CLVAE_TUNE_SECONDS, 0, {0}, 0, false, 1};
    int rc = take_tune_options(&argc, argv, &ta);
    if (!rc) rc = cli_parse(argc, argv, OPT_CONFIG | OPT_SET, usage, &a);
    if (rc || a.help) return rc;
    if ((rc = cli_load_config(&a, "config/default.ini", &cfg))) return rc;
    int st = run_tune(&cfg, &ta);
    return st ? cli_fail(st) : 0;
}
