/* GEMM autotuning glue: first-use tuning for train/bench when the OpenCL device has no valid tuning file. */
#include "train/autotune.h"

#include <stdio.h>

#include "core/log.h"
#ifdef CLVAE_HAVE_OPENCL
#include "backend/opencl/gemm/tune.h"
#endif

#ifdef CLVAE_HAVE_OPENCL
int clvae_autotune_first_use(clvae_backend *be, const clvae_config *cfg, const clvae_model *m)
{
    clvae_gemm_shape shapes[CLVAE_TUNE_MAX_SHAPES];
    clvae_tuning result;
    char path[CLVAE_PATH_MAX + 64];
    if (!cfg->device.autotune || !clvae_backend_is_opencl(be) ||
        clvae_opencl_tuning_state(be) == CLVAE_TUNING_APPLIED)
        return CLVAE_OK;
    clvae_opencl_tuning_file(be, path, sizeof path);
    CLVAE_INFO("tuning GEMMs for \"%s\" on first use (about %.0f s; `clvae tune` searches "
               "longer, [device] autotune = off skips this)",
               be->ops->device_name(be->ctx), CLVAE_TUNE_FIRST_USE_SECONDS);
    int n = clvae_model_gemm_shapes(m, m->max_batch, m->samples, shapes, CLVAE_TUNE_MAX_SHAPES);
    clvae_tune_options o = {.seconds = CLVAE_TUNE_FIRST_USE_SECONDS,
                            /* the tuner prints its progress lines to stderr itself: only where
                             * the log goes (the CLI; never the library's callback or silence) */
                            .progress = clvae_log_to_stderr(CLVAE_LOG_INFO),
                            .seed = cfg->train.seed};
    int st = clvae_opencl_tune(be, shapes, n, &o, &result, path, sizeof path);
    if (st == CLVAE_ERR_DEVICE) return st;
    if (st) {
        CLVAE_WARN("GEMM tuning could not finish (%s); going on without a tuning file",
                   clvae_last_error());
        return CLVAE_OK;
    }
    CLVAE_INFO("GEMMs take %.2f ms per step (CLBlast's defaults: %.2f ms)%s%s", result.tuned_ms,
               result.default_ms, path[0] ? "; tuning saved to " : "", path);
    return CLVAE_OK;
}
#else
int clvae_autotune_first_use(clvae_backend *be, const clvae_config *cfg, const clvae_model *m)
{
    (void)be;
    (void)cfg;
    (void)m;
    return CLVAE_OK;
}
#endif
