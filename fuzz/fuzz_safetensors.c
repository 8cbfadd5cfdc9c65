/* Fuzzes the safetensors reader that loads checkpoints (clvae_st_open): any file is either
 * refused with CLVAE_ERR_CHECKPOINT naming it, or every tensor it lists lies inside the file,
 * aligned, with nbytes = numel * dtype size, and is found again by name with its own shape. */
#include <string.h>

#include "clvae/status.h"
#include "fuzz_util.h"
#include "io/safetensors.h"

static void check_tensor(const clvae_st_file *f, const clvae_st_tensor *t)
{
    size_t esize = clvae_st_dtype_size(t->dtype), numel = 1;
    fuzz_check(esize > 0 && clvae_st_dtype_name(t->dtype) != NULL, "unknown dtype accepted");
    fuzz_check(t->ndim >= 0 && t->ndim <= CLVAE_ST_MAX_DIMS, "ndim out of range");
    for (int d = 0; d < t->ndim; d++)
        numel *= t->shape[d];
    fuzz_check(numel == t->numel && t->nbytes == numel * esize, "numel / nbytes inconsistent");
    fuzz_check((uintptr_t)t->data % esize == 0, "tensor data misaligned for its dtype");
    const volatile unsigned char *p = t->data; /* every byte is readable (ASan checks) */
    unsigned sum = 0;
    for (size_t i = 0; i < t->nbytes; i++)
        sum += p[i];
    (void)sum;
    fuzz_check(clvae_st_find(f, t->name) == t, "tensor not found by its own name");
    const void *data = NULL;
    fuzz_check(clvae_st_expect(f, t->name, t->dtype, t->ndim, t->shape, &data) == CLVAE_OK &&
                   data == t->data,
               "clvae_st_expect refuses a tensor's own dtype and shape");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("checkpoint.safetensors", data, size);
    clvae_st_file *f = NULL;
    int st = clvae_st_open(path, &f);
    if (st) {
        fuzz_check(f == NULL, "failed open returned a file");
        fuzz_check_error(st, CLVAE_ERR_CHECKPOINT, path);
        return 0;
    }
    for (int i = 0; i < clvae_st_count(f); i++)
        check_tensor(f, clvae_st_tensor_at(f, i));
    for (int i = 0; i < clvae_st_meta_count(f); i++) {
        const char *k, *v;
        clvae_st_meta_at(f, i, &k, &v);
        fuzz_check(k && v && clvae_st_meta(f, k) != NULL, "metadata entry not found by key");
    }
    const void *none;
    fuzz_check(clvae_st_expect(f, "no such tensor \x01", CLVAE_ST_F32, 0, NULL, &none) ==
                   CLVAE_ERR_CHECKPOINT,
               "a missing tensor was found");
    fuzz_check(strcmp(clvae_st_path(f), path) == 0, "path not kept");
    clvae_st_close(f);
    return 0;
}
