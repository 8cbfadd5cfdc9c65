/* A categorical (Gumbel-softmax) top layer through the C API: clvae_vae_sample draws the same
 * one-hot codes from the uniform prior as `clvae sample` and decodes them to the same means,
 * bit for bit (no tolerance: the same codes, parameters and reference-backend arithmetic),
 * both from the CLI's checkpoint (clvae_vae_load) and from clvae_vae_fit on the same rows
 * (fit equals `clvae train`); clvae_vae_encode gives each group's category probabilities
 * (they sum to 1) and refuses a log-variance. 600 Fashion-MNIST rows, one epoch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_common.h"

#define ROWS 600
#define N 16        /* samples */
#define G 6         /* groups */
#define K 5         /* categories per group */

static const char *sets[] = {"device.backend=ref", "model.encoder=64", "model.decoder=64",
                             "model.categorical=6x5", "train.epochs=1", "train.batch=100",
                             "train.seed=3"};
#define N_SETS 7

static int failures;

static void fail(const char *what)
{
    fprintf(stderr, "FAIL: %s: %s\n", what, clvae_last_error());
    failures++;
}

/* The float32 payload of an .npy file (its last n floats). */
static int read_npy(const char *path, float *out, size_t n)
{
    FILE *f = fopen(path, "rb");
    int ok = f && fseek(f, -(long)(n * sizeof(float)), SEEK_END) == 0 &&
             fread(out, sizeof(float), n, f) == n;
    if (f) fclose(f);
    return ok ? 0 : 1;
}

/* clvae_vae_sample of vae (draw 0, as `clvae sample`) against the CLI's samples. */
static void check_samples(clvae_vae *vae, const float *cli, size_t D, const char *which)
{
    float *s = malloc(N * D * sizeof(float));
    if (!s || clvae_vae_sample(vae, N, 0, 0, s)) fail(which);
    else if (memcmp(s, cli, N * D * sizeof(float))) {
        fprintf(stderr, "FAIL: %s: samples differ from clvae sample's\n", which);
        failures++;
    } else {
        printf("%s: %d samples equal to clvae sample's bit for bit\n", which, N);
    }
    free(s);
}

/* Category probabilities: every group of every row sums to 1 (tolerance 1e-5: K floats
 * rounded from a double softmax), each in [0, 1]. */
static void check_encode(clvae_vae *vae, const clvae_array *x)
{
    static float mu[100 * G * K], lv[100 * G * K];
    clvae_array head = *x;
    head.shape[0] = 100;
    if (clvae_vae_encode(vae, &head, NULL, mu, NULL)) {
        fail("encode");
        return;
    }
    double worst = 0;
    for (int i = 0; i < 100 * G; i++) {
        double s = 0;
        for (int k = 0; k < K; k++) {
            float p = mu[i * K + k];
            if (!(p >= 0 && p <= 1)) worst = INFINITY;
            s += p;
        }
        if (fabs(s - 1) > worst) worst = fabs(s - 1);
    }
    if (worst > 1e-5) {
        fprintf(stderr, "FAIL: encode: a group's probabilities are off by %g\n", worst);
        failures++;
    } else {
        printf("encode: %d rows x %d groups of probabilities (max |sum - 1| %.1e)\n", 100, G,
               worst);
    }
    if (clvae_vae_encode(vae, &head, NULL, mu, lv) != CLVAE_ERR_INPUT) {
        fprintf(stderr, "FAIL: encode with a log-variance did not fail with CLVAE_ERR_INPUT\n");
        failures++;
    }
}

int main(void)
{
    char dir[1024], cmd[4096], path[1100];
    api_env env;
    int rc = api_env_open(&env, "api_categorical", ROWS);
    if (rc) return rc;
    snprintf(dir, sizeof dir, "%s/api_categorical", env.tmp);
    int n = snprintf(cmd, sizeof cmd, "rm -rf '%s' && ", dir);
    n += api_train_cmd(cmd + n, sizeof cmd - n, &env, "gumbel.ini", ROWS, dir, sets, N_SETS);
    snprintf(cmd + n, sizeof cmd - n, " > '%s.log' 2>&1 && '%s' sample --run '%s' -n %d -o "
                                      "'%s/samples.npy' >> '%s.log' 2>&1", dir, env.bin, dir, N,
             dir, dir);
    float *cli = malloc(N * env.ds.dim * sizeof(float));
    snprintf(path, sizeof path, "%s/samples.npy", dir);
    if (!cli || system(cmd) != 0 || read_npy(path, cli, N * env.ds.dim)) {
        fprintf(stderr, "FAIL: clvae train / sample (log: %s.log)\n", dir);
        free(cli);
        api_env_close(&env);
        return 1;
    }
    clvae_context *ctx = NULL;
    clvae_vae *loaded = NULL, *fitted = NULL;
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    if (clvae_context_create(NULL, &ctx)) fail("context");
    if (ctx && clvae_vae_load(ctx, path, &loaded)) fail("load");
    if (loaded) check_samples(loaded, cli, env.ds.dim, "loaded checkpoint");
    snprintf(path, sizeof path, "%s/config/gumbel.ini", env.src);
    if (ctx && (clvae_vae_create(ctx, path, sets, N_SETS, &fitted) ||
                clvae_vae_fit(fitted, &env.x, NULL, NULL, NULL)))
        fail("fit");
    else if (fitted) {
        check_samples(fitted, cli, env.ds.dim, "fitted model");
        check_encode(fitted, &env.x);
    }
    clvae_vae_free(loaded);
    clvae_vae_free(fitted);
    clvae_context_free(ctx);
    api_env_close(&env);
    free(cli);
    printf("api_categorical: %s\n", failures ? "FAILED" : "passed");
    return failures ? 1 : 0;
}
