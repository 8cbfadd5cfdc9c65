/* The header's promise that calls on different handles may run at the same time: four threads
 * each create, fit and score their own model (different seeds) on the reference backend, and
 * every result equals, bit for bit, the same work done first on one thread
 * (CLVAE_TEST_DEVICE=opencl runs the same on an OpenCL device). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clvae/clvae.h>

#define THREADS 4
#define N 96
#define D 16

static uint8_t x[N * D];

typedef struct job {
    int seed;
    double elbo;
    float mu[N * 2];
    int status;
    char error[256];
} job;

static void *run(void *arg)
{
    job *j = arg;
    char seed[32];
    snprintf(seed, sizeof seed, "train.seed=%d", j->seed);
    const char *sets[] = {"model.encoder=8", "model.decoder=8", "model.latent=2",
                          "train.epochs=2", "train.batch=16", seed};
    clvae_context *ctx = NULL;
    clvae_vae *vae = NULL;
    clvae_array a = {.data = x, .dtype = CLVAE_DTYPE_U8, .ndim = 2, .shape = {N, D}};
    const char *dev = getenv("CLVAE_TEST_DEVICE"); /* default: the reference backend */
    int st = clvae_context_create(dev ? dev : "ref", &ctx);
    if (!st) st = clvae_vae_create(ctx, NULL, sets, 6, &vae);
    if (!st) st = clvae_vae_fit(vae, &a, NULL, NULL, NULL);
    if (!st) st = clvae_vae_elbo(vae, &a, NULL, &j->elbo);
    if (!st) st = clvae_vae_encode(vae, &a, NULL, j->mu, NULL);
    if (st) snprintf(j->error, sizeof j->error, "%s", clvae_last_error());
    j->status = st;
    clvae_vae_free(vae);
    clvae_context_free(ctx);
    return NULL;
}

int main(void)
{
    job alone[THREADS], together[THREADS];
    pthread_t t[THREADS];
    int bad = 0;
    for (int i = 0; i < N * D; i++) x[i] = (uint8_t)((i * 2654435761u) >> 24);
    for (int i = 0; i < THREADS; i++) {
        alone[i] = (job){.seed = i + 1};
        together[i] = (job){.seed = i + 1};
        run(&alone[i]);
    }
    for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, run, &together[i]);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < THREADS; i++) {
        if (alone[i].status || together[i].status) {
            fprintf(stderr, "FAIL seed %d: status %d / %d: %s %s\n", i + 1, alone[i].status,
                    together[i].status, alone[i].error, together[i].error);
            bad++;
        } else if (alone[i].elbo != together[i].elbo ||
                   memcmp(alone[i].mu, together[i].mu, sizeof alone[i].mu)) {
            fprintf(stderr, "FAIL seed %d: -ELBO %.9g alone, %.9g in parallel\n", i + 1,
                    alone[i].elbo, together[i].elbo);
            bad++;
        } else {
            printf("seed %d: -ELBO %.6f alone and in parallel\n", i + 1, alone[i].elbo);
        }
    }
    if (alone[0].elbo == alone[1].elbo) {
        fprintf(stderr, "FAIL: different seeds gave the same model\n");
        bad++;
    }
    printf("api_threads: %s\n", bad ? "FAILED" : "passed");
    return bad ? 1 : 0;
}
