/* Applies the device's tuning file to an OpenCL backend (at creation, and on reload after a
 * search): read and checked by file.c, then run through the runners (CLBlast's parameter sets,
 * clvae's kernels). A corrupt or foreign file is reported and ignored. And the backend's
 * tuning state and file name for its callers. */
#include <stdio.h>

#include "backend/opencl/gemm/file.h"
#include "backend/opencl/gemm/run.h"
#include "backend/opencl/ocl_internal.h"
#include "core/log.h"

/* Reads, checks and applies the device's tuning file; the state says what happened. */
void clvae_ocl_tuning_load(ocl_ctx *c)
{
    char path[CLVAE_PATH_MAX + 64], why[1200];
    clvae_tuning t, want;
    c->tuning_state = CLVAE_TUNING_NONE;
    clvae_ocl_gemm_sets_free(c);
    clvae_ocl_tiled_install(c, NULL);
    if (!c->cache_dir[0]) return;
    clvae_tuning_path(c->cache_dir, c->dev.platform, c->dev.id, path, sizeof path);
    FILE *probe = fopen(path, "rb");
    if (!probe) return;
    fclose(probe);
    clvae_tuning_identify(&want, c->dev.platform, c->dev.id);
    clvae_tune_limits lim;
    clvae_tune_limits_query(c->dev.id, &lim);
    c->tuning_state = CLVAE_TUNING_IGNORED;
    if (clvae_tuning_read(path, &t)) {
        CLVAE_WARN("opencl: ignoring %s; run `clvae tune` to replace it", clvae_last_error());
    } else if (!clvae_tuning_matches(&t, &want, why, sizeof why)) {
        CLVAE_WARN("opencl: ignoring the tuning file %s: %s", path, why);
    } else if (!t.use_defaults && !clvae_tuning_sets_legal(&t, &lim)) {
        CLVAE_WARN("opencl: ignoring the tuning file %s: its parameters are not valid for \"%s\"",
                   path, c->dev.name);
    } else if ((!t.use_defaults && (clvae_gemm_params_apply(c->dev.id, &t.p) ||
                                    clvae_ocl_gemm_sets_install(c, &t))) ||
               clvae_ocl_tiled_install(c, &t)) {
        CLVAE_WARN("opencl: ignoring the tuning file %s: %s", path, clvae_last_error());
    } else {
        c->tuning_state = CLVAE_TUNING_APPLIED;
        char sets[96] = "";
        int tiled = 0;
        for (int i = 0; i < t.n_shapes; i++)
            tiled += t.shape_tiled[i].form != CLVAE_TILED_NONE;
        if (t.n_extra > 0 || tiled > 0)
            snprintf(sets, sizeof sets, " (%d parameter sets, tiled kernels for %d of %d shapes)",
                     t.n_extra + 1, tiled, t.n_shapes);
        CLVAE_INFO("opencl: GEMM tuning for \"%s\" from %s%s%s", c->dev.name, path,
                   t.use_defaults ? " (CLBlast's defaults are fastest)" : "", sets);
    }
}

clvae_tuning_state clvae_opencl_tuning_state(const clvae_backend *be)
{
    if (!clvae_backend_is_opencl(be)) return CLVAE_TUNING_NONE;
    return (clvae_tuning_state)((const ocl_ctx *)be->ctx)->tuning_state;
}

clvae_tuning_state clvae_opencl_tuning_reload(clvae_backend *be)
{
    if (!clvae_backend_is_opencl(be)) return CLVAE_TUNING_NONE;
    clvae_ocl_tuning_load(be->ctx);
    return clvae_opencl_tuning_state(be);
}

void clvae_opencl_tuning_file(const clvae_backend *be, char *path, size_t size)
{
    path[0] = '\0';
    if (!clvae_backend_is_opencl(be)) return;
    const ocl_ctx *c = be->ctx;
    if (c->cache_dir[0]) clvae_tuning_path(c->cache_dir, c->dev.platform, c->dev.id, path, size);
}
