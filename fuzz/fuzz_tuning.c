/* Fuzzes the GEMM tuning file reader (clvae_tuning_read, cJSON): any file is refused with
 * CLVAE_ERR_DATA naming it, or what it read is within the documented limits and survives a
 * write / read round trip unchanged (the writer is what `clvae tune` uses). */
#include <string.h>

#include "backend/opencl/gemm/tune.h"
#include "clvae/status.h"
#include "fuzz_util.h"

static void check_limits(const clvae_tuning *t)
{
    fuzz_check(memchr(t->platform, 0, sizeof t->platform) && memchr(t->device, 0, sizeof t->device) &&
                   memchr(t->driver, 0, sizeof t->driver) && memchr(t->clblast, 0, sizeof t->clblast),
               "identity string not terminated");
    fuzz_check(t->n_shapes >= 0 && t->n_shapes <= CLVAE_TUNE_MAX_SHAPES, "n_shapes out of range");
    for (int i = 0; i < t->n_shapes; i++)
        fuzz_check(t->shapes[i].m >= 1 && t->shapes[i].n >= 1 && t->shapes[i].k >= 1,
                   "shape with a dimension < 1");
    char buf[1024];
    clvae_gemm_params_format(&t->p, buf, sizeof buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("gemm-tuning.json", data, size);
    clvae_tuning t, back;
    int st = clvae_tuning_read(path, &t);
    if (st) {
        fuzz_check_error(st, CLVAE_ERR_DATA, path);
        return 0;
    }
    check_limits(&t);
    const char *copy = fuzz_path("gemm-rewritten.json");
    fuzz_check(clvae_tuning_write(copy, &t) == CLVAE_OK, "a tuning file read cannot be written");
    fuzz_check(clvae_tuning_read(copy, &back) == CLVAE_OK, "a tuning file clvae wrote is refused");
    fuzz_check(!strcmp(t.platform, back.platform) && !strcmp(t.device, back.device) &&
                   !strcmp(t.driver, back.driver) && !strcmp(t.clblast, back.clblast) &&
                   t.use_defaults == back.use_defaults && t.n_shapes == back.n_shapes,
               "tuning file identity differs after write / read");
    fuzz_check(t.use_defaults || memcmp(&t.p, &back.p, sizeof t.p) == 0,
               "GEMM parameters differ after write / read");
    for (int i = 0; i < t.n_shapes; i++) {
        const clvae_gemm_shape *a = &t.shapes[i], *b = &back.shapes[i];
        fuzz_check(a->ta == b->ta && a->tb == b->tb && a->m == b->m && a->n == b->n &&
                       a->k == b->k && a->calls == b->calls,
                   "GEMM shapes differ after write / read");
    }
    return 0;
}
