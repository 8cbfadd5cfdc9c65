/* Fuzzes the whole checkpoint loader a library user reaches (clvae_vae_load): the safetensors
 * container, the metadata (format, step, epoch, the config text, parsed and validated), the
 * parameter tensors against the layout that config describes, and the optimizer state
 * (moments, position) that --resume reads. Any file is refused with CLVAE_ERR_CHECKPOINT naming
 * it, or it opens: then the model answers encode/reconstruct on a row, and saving it writes
 * the same bytes back. Loads on the reference backend. */
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "clvae/clvae.h"
#include "fuzz_util.h"
#include "train/checkpoint.h"

static clvae_context *ctx; /* one for the process (still reachable at exit, not a leak) */

/* The loaded model's optimizer state and position, as `clvae train --resume` reads them. */
static void check_resume_state(clvae_vae *v, const char *path)
{
    clvae_ckpt_state pos = {0};
    int st = clvae_checkpoint_load_file(&v->m, path, true, &pos);
    if (st) fuzz_check_error(st, CLVAE_ERR_CHECKPOINT, path);
}

static void check_use(clvae_vae *v)
{
    clvae_vae_info info;
    fuzz_check(clvae_vae_get_info(v, &info) == CLVAE_OK, "get_info failed on a loaded model");
    fuzz_check(info.fitted == 1 && info.dim >= 1 && info.latent >= 1, "loaded model info");
    if (info.dim > 4096 || info.latent > 4096) return;
    float *x = calloc((size_t)info.dim, sizeof(float)), *out = calloc((size_t)info.dim, sizeof(float));
    float *mu = calloc((size_t)info.latent, sizeof(float));
    uint8_t label = 0;
    fuzz_check(x && out && mu, "out of memory");
    clvae_array a = {.data = x, .dtype = CLVAE_DTYPE_F32, .ndim = 2, .shape = {1, info.dim}};
    int st = clvae_vae_encode(v, &a, &label, mu, NULL);
    fuzz_check(st == CLVAE_OK || st == CLVAE_ERR_UNSUPPORTED, "encode failed on a loaded model");
    st = clvae_vae_reconstruct(v, &a, &label, out);
    fuzz_check(st == CLVAE_OK, "reconstruct failed on a loaded model");
    free(x);
    free(out);
    free(mu);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx) {
        fuzz_check(clvae_context_create("ref", &ctx) == CLVAE_OK, "context");
        clvae_set_log(CLVAE_LOG_LEVEL_OFF, NULL, NULL);
    }
    const char *path = fuzz_write("checkpoint.safetensors", data, size);
    clvae_vae *v = NULL;
    int st = clvae_vae_load(ctx, path, &v);
    if (st) {
        fuzz_check(v == NULL, "failed load returned a model");
        fuzz_check_error(st, CLVAE_ERR_CHECKPOINT, path);
        return 0;
    }
    check_use(v);
    const char *again = fuzz_path("resaved.safetensors");
    fuzz_check(clvae_vae_save(v, again) == CLVAE_OK, "saving a loaded model failed");
    size_t n = 0;
    char *bytes = fuzz_slurp(again, &n);
    fuzz_check(n == size && memcmp(bytes, data, size) == 0, "save did not write the file back");
    free(bytes);
    check_resume_state(v, path);
    clvae_vae_free(v);
    return 0;
}
