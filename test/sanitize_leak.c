/* The planted-leak check of `make test-sanitize` (issue 18): proves that the suite's leak settings
 * (scripts/lsan.supp, the ICD list of test/CMakeLists.txt) still report a leak in clvae's own code.
 * It opens the OpenCL backend the way every OpenCL test does (so every driver the suite sees is
 * loaded and leaves its per-process state behind), frees it, then with CLVAE_PLANT_LEAK=1 drops a
 * buffer that the reference backend allocated (a direct leak whose stack holds only clvae and libc
 * frames). test/sanitize_leak.sh runs it both ways: with the leak the process must fail with a
 * LeakSanitizer report naming ref_buffer_alloc, without it it must pass. Built only with
 * CLVAE_SANITIZE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"

/* Every OpenCL platform is enumerated by the ICD loader on the first call, whichever device is
 * then chosen: creating (and freeing) the auto-selected backend loads them all. */
static int open_and_close_device(void)
{
    clvae_config cfg;
    clvae_config_defaults(&cfg);
    cfg.device.backend = CLVAE_BACKEND_AUTO;
    clvae_backend b;
    int st = clvae_backend_create(&cfg, &b);
    if (st != CLVAE_OK) {
        fprintf(stderr, "sanitize_leak: no backend: %s\n", clvae_last_error());
        return 1;
    }
    printf("sanitize_leak: opened %s (%s)\n", b.ops->name, b.ops->device_name(b.ctx));
    clvae_backend_free(&b);
    return 0;
}

int main(void)
{
    if (open_and_close_device()) return 1;
    const char *plant = getenv("CLVAE_PLANT_LEAK");
    clvae_backend ref;
    if (clvae_ref_backend_create(&ref) != CLVAE_OK) return 1;
    clvae_buffer *buf = NULL;
    if (ref.ops->buffer_alloc(ref.ctx, 4096, &buf) != CLVAE_OK) return 1;
    if (plant && strcmp(plant, "1") == 0) {
        printf("sanitize_leak: leaking a 4096-byte reference buffer\n");
        buf = NULL;   /* the planted leak: the only pointer to it is gone */
    } else {
        ref.ops->buffer_free(ref.ctx, buf);
    }
    clvae_backend_free(&ref);
    return 0;
}
