/* Shared scaffolding of the device training tests (see devrun.h). */
#include "devrun.h"

#include <math.h>
#include <stdio.h>

#include "testutil.h"

int dr_load_images(clvae_dataset *ds, long rows)
{
    if (clvae_dataset_load(ds, DR_IMAGES, NULL, CLVAE_FORMAT_AUTO, rows) == CLVAE_OK) return 0;
    printf("SKIP: %s\n", clvae_last_error());
    return TU_SKIP;
}

#ifdef CLVAE_HAVE_OPENCL
int dr_open_platform(const clvae_config *base, const char *platform, clvae_config *cfg,
                     clvae_backend *be)
{
    *cfg = *base;
    cfg->device.backend = CLVAE_BACKEND_OPENCL;
    snprintf(cfg->device.platform, sizeof cfg->device.platform, "%s", platform);
    return clvae_opencl_backend_create(cfg, be);
}
#endif

double dr_max_rel(const double *ref, const double *got, int steps)
{
    double worst = 0;
    for (int s = 0; s < steps; s++) {
        double r = fabs(got[s] - ref[s]) / fabs(ref[s]);
        if (!(r <= worst)) worst = r;
    }
    return worst;
}
