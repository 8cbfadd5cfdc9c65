/* Trains a small VAE on arrays held in memory with libclvae's C API, then encodes, samples,
 * scores, saves and reloads it. Build against an installed clvae:
 *   cmake:      find_package(clvae REQUIRED); target_link_libraries(app PRIVATE clvae::clvae)
 *   pkg-config: cc train_arrays.c $(pkg-config --cflags --libs clvae)
 * Usage: train_arrays [DEVICE [CHECKPOINT]]   (DEVICE: ref, auto, opencl, gpu, cpu, a name) */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <clvae/clvae.h>

#define N 256   /* rows */
#define D 64    /* features: 8x8 images of a bar at one of 8 positions, with noise */

static int fail(const char *what, int st)
{
    fprintf(stderr, "train_arrays: %s: %s (%s)\n", what, clvae_last_error(), clvae_status_str(st));
    return 1;
}

static int on_progress(void *user, const clvae_progress_info *p)
{
    (void)user;
    printf("epoch %d/%d step %lld loss %.3f\n", p->epoch, p->epochs, (long long)p->step,
           p->train_loss);
    return 0; /* non-zero would cancel the fit */
}

int main(int argc, char **argv)
{
    static uint8_t x[N][D]; /* (n, D) uint8, 0..255 */
    static uint8_t y[N];
    unsigned s = 12345;
    for (int i = 0; i < N; i++) {
        y[i] = (uint8_t)(i % 8);
        for (int j = 0; j < D; j++) {
            s = s * 1103515245u + 12345u;
            int on = (j % 8) == y[i] || ((s >> 16) & 31) == 0;
            x[i][j] = on ? 255 : 0;
        }
    }
    const char *device = argc > 1 ? argv[1] : "ref";
    const char *ckpt = argc > 2 ? argv[2] : "train_arrays.safetensors";
    const char *sets[] = {"model.encoder=32", "model.decoder=32", "model.latent=2",
                          "train.epochs=3", "train.batch=32", "train.log_every=4"};
    clvae_context *ctx = NULL;
    clvae_vae *vae = NULL, *again = NULL;
    clvae_array arr = {.data = x, .dtype = CLVAE_DTYPE_U8, .ndim = 2, .shape = {N, D}};
    clvae_fit_options fo = {.progress = on_progress};
    clvae_fit_result fr;
    static float mu[N][2], samples[4][D];
    double elbo, ll, ll2;
    int st, rc = 1;

    printf("clvae %s (header %s)\n", clvae_version(), CLVAE_VERSION_STRING);
    if ((st = clvae_context_create(device, &ctx))) return fail("context", st);
    if ((st = clvae_vae_create(ctx, NULL, sets, 6, &vae))) { rc = fail("create", st); goto done; }
    if ((st = clvae_vae_fit(vae, &arr, NULL, &fo, &fr))) { rc = fail("fit", st); goto done; }
    printf("fit: %d epochs, %lld steps, train_loss %.3f\n", fr.epochs, (long long)fr.steps,
           fr.train_loss);
    if ((st = clvae_vae_encode(vae, &arr, NULL, &mu[0][0], NULL))) { rc = fail("encode", st); goto done; }
    if ((st = clvae_vae_sample(vae, 4, -1, 0, &samples[0][0]))) { rc = fail("sample", st); goto done; }
    if ((st = clvae_vae_elbo(vae, &arr, NULL, &elbo))) { rc = fail("elbo", st); goto done; }
    if ((st = clvae_vae_iwae(vae, &arr, NULL, 16, &ll))) { rc = fail("iwae", st); goto done; }
    printf("mu[0] = (%.3f, %.3f); -ELBO %.3f nats; IWAE(16) log p(x) %.3f nats\n", mu[0][0],
           mu[0][1], elbo, ll);
    if ((st = clvae_vae_save(vae, ckpt))) { rc = fail("save", st); goto done; }
    if ((st = clvae_vae_load(ctx, ckpt, &again))) { rc = fail("load", st); goto done; }
    if ((st = clvae_vae_elbo(again, &arr, NULL, &ll2))) { rc = fail("elbo (loaded)", st); goto done; }
    if (!isfinite(elbo) || !isfinite(ll) || ll2 != elbo) {
        fprintf(stderr, "train_arrays: the reloaded model's -ELBO %.9g differs from %.9g\n", ll2, elbo);
        goto done;
    }
    printf("reloaded %s: same -ELBO\n", ckpt);
    rc = 0;
done:
    clvae_vae_free(again);
    clvae_vae_free(vae);
    clvae_context_free(ctx);
    return rc;
}
