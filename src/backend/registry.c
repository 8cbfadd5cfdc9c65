/* Backend registry: turns the [device] config section into a backend. Adding a backend is one
 * entry here plus its folder under src/backend/. */
#include <stdlib.h>

#include "backend/backend.h"
#include "core/log.h"
#include "dist/dist.h"

static bool selection_is_explicit(const clvae_config *cfg)
{
    return cfg->device.platform[0] || cfg->device.device[0] ||
           cfg->device.type != CLVAE_DEVTYPE_ANY;
}

static int create(const clvae_config *cfg, clvae_backend *out)
{
    if (cfg->device.backend == CLVAE_BACKEND_REF) return clvae_ref_backend_create(out);
#ifdef CLVAE_HAVE_OPENCL
    int st = clvae_opencl_backend_create(cfg, out);
    if (st == CLVAE_OK || cfg->device.backend == CLVAE_BACKEND_OPENCL) return st;
    if (st == CLVAE_ERR_INPUT && selection_is_explicit(cfg)) return st;
    CLVAE_WARN("no usable OpenCL device (%s); falling back to the reference backend",
               clvae_last_error());
#else
    if (cfg->device.backend == CLVAE_BACKEND_OPENCL)
        return clvae_error(CLVAE_ERR_INPUT, "[device] backend = opencl, but this build has no "
                                            "OpenCL support (rebuild with OpenCL and CLBlast); "
                                            "valid here: auto, ref");
    (void)selection_is_explicit;
    CLVAE_WARN("built without OpenCL; using the reference backend");
#endif
    return clvae_ref_backend_create(out);
}

int clvae_backend_create(const clvae_config *cfg, clvae_backend *out)
{
    clvae_config local; /* this rank's entries of the [device] comma lists */
    out->ops = NULL;
    out->ctx = NULL;
    int st = clvae_dist_device_config(cfg, clvae_dist_local_rank(), clvae_dist_local_size(),
                                      &local);
    return st ? st : create(&local, out);
}

void clvae_backend_free(clvae_backend *b)
{
    if (b && b->ops && b->ops->free) b->ops->free(b->ctx);
    if (b) {
        b->ops = NULL;
        b->ctx = NULL;
    }
}
