/* The C API under bad arguments: every call given NULL handles, NULL outputs, wrong shapes and
 * dtypes, a bad config string or file, a missing or corrupt checkpoint returns an error status
 * with a message (clvae_last_error) and the process lives on. Linked against the shared
 * libclvae through include/clvae/clvae.h alone, as a user program is. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <clvae/clvae.h>

static int failures, checks;

/* A call must fail (st < 0, not the code `want` when want != 0 is given) with a message. */
static void expect_error(int st, int want, const char *what)
{
    const char *msg = clvae_last_error();
    checks++;
    if (st >= 0 || (want && st != want) || !msg || !msg[0] || !strcmp(msg, "no details")) {
        failures++;
        fprintf(stderr, "FAIL %s: status %d (want %d), message '%s'\n", what, st, want,
                msg ? msg : "(null)");
        return;
    }
    printf("ok   %-42s %d: %s\n", what, st, msg);
}

static void expect_ok(int st, const char *what)
{
    checks++;
    if (st) {
        failures++;
        fprintf(stderr, "FAIL %s: status %d: %s\n", what, st, clvae_last_error());
    }
}

#define E CLVAE_ERR_INPUT

static void null_handles(void)
{
    uint8_t x[4 * 8] = {0};
    float out[64];
    double d;
    clvae_array a = {.data = x, .dtype = CLVAE_DTYPE_U8, .ndim = 2, .shape = {4, 8}};
    clvae_vae *v = NULL;
    clvae_vae_info info;
    int n;
    expect_error(clvae_context_create(NULL, NULL), E, "context_create(out NULL)");
    expect_error(clvae_vae_create(NULL, NULL, NULL, 0, &v), E, "vae_create(ctx NULL)");
    expect_error(clvae_vae_create_from_string(NULL, "", NULL, 0, &v), E, "create_from_string(ctx NULL)");
    expect_error(clvae_vae_load(NULL, "x.safetensors", &v), E, "vae_load(ctx NULL)");
    expect_error(clvae_vae_fit(NULL, &a, NULL, NULL, NULL), E, "fit(vae NULL)");
    expect_error(clvae_vae_encode(NULL, &a, NULL, out, NULL), E, "encode(vae NULL)");
    expect_error(clvae_vae_decode(NULL, out, 1, NULL, out), E, "decode(vae NULL)");
    expect_error(clvae_vae_sample(NULL, 1, -1, 0, out), E, "sample(vae NULL)");
    expect_error(clvae_vae_reconstruct(NULL, &a, NULL, out), E, "reconstruct(vae NULL)");
    expect_error(clvae_vae_elbo(NULL, &a, NULL, &d), E, "elbo(vae NULL)");
    expect_error(clvae_vae_iwae(NULL, &a, NULL, 4, &d), E, "iwae(vae NULL)");
    expect_error(clvae_vae_save(NULL, "x"), E, "save(vae NULL)");
    expect_error(clvae_vae_get_info(NULL, &info), E, "get_info(vae NULL)");
    expect_error(clvae_devices(NULL, 0, NULL), E, "devices(count NULL)");
    expect_error(clvae_devices(NULL, 3, &n), E, "devices(out NULL, cap 3)");
    expect_error(clvae_set_log(9, NULL, NULL), E, "set_log(level 9)");
    clvae_vae_free(NULL); /* no-ops */
    clvae_context_free(NULL);
}

static void bad_configs(clvae_context *ctx)
{
    clvae_vae *v = NULL;
    const char *bad_key[] = {"model.nosuchkey=3"};
    const char *bad_val[] = {"train.epochs=-1"};
    const char *no_eq[] = {"train.epochs"};
    const char *null_set[] = {NULL};
    expect_error(clvae_vae_create_from_string(ctx, "[model]\nlatent = banana\n", NULL, 0, &v),
                 CLVAE_ERR_CONFIG, "config string: bad value");
    expect_error(clvae_vae_create_from_string(ctx, "this is not ini\n", NULL, 0, &v),
                 CLVAE_ERR_CONFIG, "config string: not INI");
    expect_error(clvae_vae_create_from_string(ctx, NULL, NULL, 0, &v), E, "config string NULL");
    expect_error(clvae_vae_create(ctx, "/nonexistent/clvae.ini", NULL, 0, &v), CLVAE_ERR_CONFIG,
                 "config file missing");
    expect_error(clvae_vae_create(ctx, NULL, bad_key, 1, &v), CLVAE_ERR_CONFIG, "set: unknown key");
    expect_error(clvae_vae_create(ctx, NULL, bad_val, 1, &v), CLVAE_ERR_CONFIG, "set: bad value");
    expect_error(clvae_vae_create(ctx, NULL, no_eq, 1, &v), CLVAE_ERR_CONFIG, "set: no '='");
    expect_error(clvae_vae_create(ctx, NULL, null_set, 1, &v), E, "set: NULL entry");
    expect_error(clvae_vae_create(ctx, NULL, NULL, 2, &v), E, "sets NULL with n_sets 2");
    expect_error(clvae_vae_create(ctx, NULL, NULL, -1, &v), E, "n_sets -1");
    expect_error(clvae_vae_create(ctx, NULL, NULL, 0, NULL), E, "create(out NULL)");
    if (v) fprintf(stderr, "FAIL: a failed create left a handle\n"), failures++;
}

static void bad_checkpoints(clvae_context *ctx, const char *dir)
{
    char path[512];
    clvae_vae *v = NULL;
    expect_error(clvae_vae_load(ctx, "/nonexistent/checkpoint.safetensors", &v),
                 CLVAE_ERR_CHECKPOINT, "load: missing checkpoint");
    expect_error(clvae_vae_load(ctx, NULL, &v), E, "load: path NULL");
    snprintf(path, sizeof path, "%s/api_errors_garbage.safetensors", dir);
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": garbage}", f);
        fclose(f);
    }
    expect_error(clvae_vae_load(ctx, path, &v), CLVAE_ERR_CHECKPOINT, "load: corrupt checkpoint");
    remove(path);
}

/* A model before fit, then wrong arrays for fit and for a fitted model. */
static void bad_arrays(clvae_context *ctx, const char *dir)
{
    static uint8_t x[64 * 16];
    float mu[64 * 2], out[64 * 16], z[2] = {0, 0};
    double d;
    char path[512];
    const char *sets[] = {"model.encoder=8", "model.decoder=8", "model.latent=2",
                          "train.epochs=1", "train.batch=16"};
    clvae_vae *v = NULL;
    for (int i = 0; i < 64 * 16; i++) x[i] = (uint8_t)((i * 37) & 255);
    clvae_array a = {.data = x, .dtype = CLVAE_DTYPE_U8, .ndim = 2, .shape = {64, 16}};
    expect_ok(clvae_vae_create(ctx, NULL, sets, 5, &v), "create small model");
    if (!v) return;
    expect_error(clvae_vae_encode(v, &a, NULL, mu, NULL), E, "encode before fit");
    expect_error(clvae_vae_sample(v, 2, -1, 0, out), E, "sample before fit");
    expect_error(clvae_vae_save(v, "x.safetensors"), E, "save before fit");
    clvae_array wrong = a;
    wrong.ndim = 3;
    expect_error(clvae_vae_fit(v, &wrong, NULL, NULL, NULL), E, "fit: 3 dimensions");
    wrong = a;
    wrong.dtype = (clvae_dtype)7;
    expect_error(clvae_vae_fit(v, &wrong, NULL, NULL, NULL), E, "fit: dtype 7");
    wrong = a;
    wrong.shape[0] = 0;
    expect_error(clvae_vae_fit(v, &wrong, NULL, NULL, NULL), E, "fit: 0 rows");
    wrong = a;
    wrong.data = NULL;
    expect_error(clvae_vae_fit(v, &wrong, NULL, NULL, NULL), E, "fit: data NULL");
    expect_error(clvae_vae_fit(v, NULL, NULL, NULL, NULL), E, "fit: x NULL");
    expect_ok(clvae_vae_fit(v, &a, NULL, NULL, NULL), "fit");
    wrong = a;
    wrong.shape[1] = 15;
    expect_error(clvae_vae_encode(v, &wrong, NULL, mu, NULL), E, "encode: wrong width");
    expect_error(clvae_vae_reconstruct(v, &wrong, NULL, out), E, "reconstruct: wrong width");
    expect_error(clvae_vae_elbo(v, &wrong, NULL, &d), E, "elbo: wrong width");
    expect_error(clvae_vae_encode(v, &a, NULL, NULL, NULL), E, "encode: mu NULL");
    expect_error(clvae_vae_iwae(v, &a, NULL, 0, &d), E, "iwae: k = 0");
    expect_error(clvae_vae_iwae(v, &a, NULL, 4, NULL), E, "iwae: loglik NULL");
    expect_error(clvae_vae_sample(v, 0, -1, 0, out), E, "sample: n = 0");
    expect_error(clvae_vae_decode(v, z, -3, NULL, out), E, "decode: n = -3");
    expect_error(clvae_vae_decode(v, NULL, 1, NULL, out), E, "decode: z NULL");
    snprintf(path, sizeof path, "%s/no/such/dir/model.safetensors", dir);
    expect_error(clvae_vae_save(v, path), CLVAE_ERR_IO, "save: unwritable path");
    clvae_trainer *tr = NULL;
    expect_error(clvae_trainer_create(NULL, &a, NULL, NULL, &tr), E, "trainer_create(vae NULL)");
    expect_error(clvae_trainer_create(v, &wrong, NULL, NULL, &tr), E, "trainer_create: wrong width");
    expect_error(clvae_trainer_create(v, &a, NULL, NULL, NULL), E, "trainer_create(out NULL)");
    expect_error(clvae_trainer_run(NULL, 1, 0, NULL), E, "trainer_run(NULL)");
    expect_ok(clvae_trainer_create(v, &a, NULL, NULL, &tr), "trainer_create");
    expect_error(clvae_trainer_run(tr, 1, 1, NULL), E, "trainer_run: epochs and steps");
    expect_error(clvae_trainer_run(tr, 0, 0, NULL), E, "trainer_run: neither");
    expect_error(clvae_trainer_run(tr, -1, 0, NULL), E, "trainer_run: epochs -1");
    expect_ok(clvae_trainer_run(tr, 0, 3, NULL), "trainer_run: 3 steps");
    clvae_trainer_free(tr);
    clvae_trainer_free(NULL);
    expect_ok(clvae_vae_elbo(v, &a, NULL, &d), "elbo after the errors");
    clvae_vae_free(v);
}

static void on_log(void *user, int level, const char *line)
{
    if (level >= CLVAE_LOG_LEVEL_INFO && strstr(line, "backend")) (*(int *)user)++;
}

/* Runs fit on v with stdout and stderr (the file descriptors, so C stdio, OpenCL drivers and
 * CLBlast alike) going to a file; returns the fit's status and *bytes, what was written. */
static int captured_fit(clvae_vae *v, const clvae_array *a, const char *path, long *bytes)
{
    int saved[2] = {dup(1), dup(2)}, st = CLVAE_ERR_IO;
    FILE *out = fopen(path, "w+");
    *bytes = -1;
    if (out && saved[0] >= 0 && saved[1] >= 0) {
        fflush(stdout);
        fflush(stderr);
        dup2(fileno(out), 1);
        dup2(fileno(out), 2);
        st = clvae_vae_fit(v, a, NULL, NULL, NULL);
        fflush(stdout);
        fflush(stderr);
        dup2(saved[0], 1);
        dup2(saved[1], 2);
        if (fseek(out, 0, SEEK_END) == 0) *bytes = ftell(out);
    }
    if (out) fclose(out);
    for (int i = 0; i < 2; i++)
        if (saved[i] >= 0) close(saved[i]);
    return st;
}

/* Logging on one device: silent by default (nothing at all on stdout or stderr during a fit),
 * and with a callback at info level the lines go to the callback, still nothing printed. */
static void log_routing_on(clvae_context *ctx, const char *dir, const char *device)
{
    static uint8_t x[32 * 8];
    const char *sets[] = {"model.encoder=4", "model.decoder=4", "model.latent=2",
                          "train.epochs=1", "train.batch=8", "device.autotune=off"};
    clvae_array a = {.data = x, .dtype = CLVAE_DTYPE_U8, .ndim = 2, .shape = {32, 8}};
    char path[512];
    int lines = 0;
    long bytes;
    clvae_vae *v = NULL;
    snprintf(path, sizeof path, "%s/api_errors_output_%s.txt", dir, device);
    expect_ok(clvae_vae_create(ctx, NULL, sets, 6, &v), "create (log test)");
    if (!v) return;
    expect_ok(captured_fit(v, &a, path, &bytes), "fit with the default (silent) log");
    checks++;
    if (bytes != 0) {
        failures++;
        fprintf(stderr, "FAIL: %s: the library wrote %ld bytes to stdout/stderr with logging "
                        "off (see %s)\n", device, bytes, path);
    }
    expect_ok(clvae_set_log(CLVAE_LOG_LEVEL_INFO, on_log, &lines), "set_log(info, callback)");
    expect_ok(captured_fit(v, &a, path, &bytes), "fit with a log callback");
    checks += 2;
    if (lines < 1) failures++, fprintf(stderr, "FAIL: the log callback saw no backend line\n");
    if (bytes != 0) {
        failures++;
        fprintf(stderr, "FAIL: %s: the library wrote %ld bytes to stdout/stderr with a log "
                        "callback (see %s)\n", device, bytes, path);
    }
    expect_ok(clvae_set_log(CLVAE_LOG_LEVEL_OFF, NULL, NULL), "set_log(off)");
    printf("log routing on %s: silent, %d callback lines\n", device, lines);
    clvae_vae_free(v);
}

/* On the reference backend, and on an OpenCL device when there is one. */
static void log_routing(clvae_context *ref, const char *dir)
{
    clvae_device_info devs[16];
    int n = 0;
    clvae_context *cl = NULL;
    log_routing_on(ref, dir, "ref");
    expect_ok(clvae_devices(devs, 16, &n), "devices");
    for (int i = 0; i < n && i < 16; i++)
        if (!strcmp(devs[i].backend, "opencl")) {
            expect_ok(clvae_context_create("opencl", &cl), "context opencl");
            if (cl) log_routing_on(cl, dir, "opencl");
            clvae_context_free(cl);
            return;
        }
    printf("log routing: no OpenCL device, the reference backend only\n");
}

int main(void)
{
    const char *dir = getenv("CLVAE_TMP") ? getenv("CLVAE_TMP") : "/tmp";
    clvae_context *ctx = NULL, *bad = NULL;
    clvae_vae *v = NULL;
    const char *sets[] = {"train.epochs=1"};
    null_handles();
    expect_ok(clvae_context_create("ref", &ctx), "context ref");
    if (!ctx) return 1;
    bad_configs(ctx);
    bad_checkpoints(ctx, dir);
    bad_arrays(ctx, dir);
    log_routing(ctx, dir);
    /* a device selection is checked when a model is created (as a config value) */
    expect_ok(clvae_context_create("no such device at all", &bad), "context (any name)");
    if (bad && !clvae_vae_create(bad, NULL, sets, 1, &v)) {
        uint8_t x[4 * 4] = {0};
        clvae_array a = {.data = x, .dtype = CLVAE_DTYPE_U8, .ndim = 2, .shape = {4, 4}};
        expect_error(clvae_vae_fit(v, &a, NULL, NULL, NULL), 0, "fit on an unknown device");
    }
    clvae_vae_free(v);
    clvae_context_free(bad);
    clvae_context_free(ctx);
    printf("api_errors: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
