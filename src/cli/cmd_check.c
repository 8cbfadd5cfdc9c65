/* clvae check: every op and a short training run on each OpenCL device vs the reference. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "cli/cli.h"
#include "clvae/data.h"
#include "clvae/status.h"
#include "train/check.h"
#ifdef CLVAE_HAVE_OPENCL
#include "backend/opencl/ocl_device.h"
#endif

static const char usage[] =
    "usage: clvae check [-c FILE] [--steps N] [--set SECTION.KEY=VALUE]...\n"
    "  compares every op (random inputs) and an N-step training run (default 30, same seed and\n"
    "  data) on each OpenCL device with the reference backend, prints a table and exits 1 if\n"
    "  anything fails. Devices: the one [device] selects when platform/device/type are set,\n"
    "  else every usable device (RUSTICL_ENABLE=swrast is set when unset, to include llvmpipe).\n";

/* Relative tolerance per training step: the devices' float results differ by ulps per op
 * (see the op table) and Adam's normalized update makes float trajectories diverge
 * exponentially (x10 per ~10 steps, saturating near 1e-3; test_trajectory.c). Measured over
 * 30 steps of the default model: 1.2e-7 (PoCL), 8.6e-7 (rusticl), up to 1.5e-5 elsewhere;
 * 1e-3 leaves room for devices that contract to FMA or sum GEMMs in other orders. */
#define TRAJ_TOL 1e-3

typedef struct check_run {
    clvae_config cfg;
    clvae_dataset ds;
    clvae_backend ref;
    double *ref_losses;
    int steps;
    clvae_check_counts counts;
} check_run;

static int check_device(check_run *r, clvae_backend *dev, const char *label)
{
    int st = clvae_check_ops(&r->ref, dev, label, stdout, &r->counts);
    if (st) return st;
    double *l = malloc(sizeof(double) * r->steps), worst = 0;
    if (!l) return clvae_error(CLVAE_ERR_NOMEM, "check: out of memory");
    if ((st = clvae_check_trajectory(&r->cfg, &r->ds, dev, r->steps, l))) goto done;
    int worst_step = 0;
    for (int s = 0; s < r->steps; s++) {
        double rel = fabs(l[s] - r->ref_losses[s]) / fabs(r->ref_losses[s]);
        if (!(rel <= worst)) worst = rel, worst_step = s;
    }
    bool ok = worst <= TRAJ_TOL;
    printf("%-34s %-34.34s %10.3g %8.0e  %s (worst at step %d: %.6f vs ref %.6f)\n", "training steps (rel.)",
           label, worst, TRAJ_TOL, ok ? "pass" : "FAIL", worst_step + 1, l[worst_step],
           r->ref_losses[worst_step]);
    if (ok) r->counts.passed++;
    else r->counts.failed++;
done:
    free(l);
    return st;
}

#ifdef CLVAE_HAVE_OPENCL
static int check_opencl(check_run *r, bool explicit_sel)
{
    clvae_ocl_inventory inv;
    int st = clvae_ocl_inventory_init(&inv), tested = 0;
    if (st) return st;
    for (int i = 0; i < inv.n_devices && !st; i++) {
        const clvae_ocl_device *d = &inv.devices[i];
        clvae_config c = r->cfg;
        if (!explicit_sel) {
            if (!d->usable) continue;
            c.device.type = CLVAE_DEVTYPE_ANY;
            snprintf(c.device.platform, sizeof c.device.platform, "%d", d->platform_index);
            snprintf(c.device.device, sizeof c.device.device, "%d", d->device_index);
        } else if (i > 0) break;
        c.device.backend = CLVAE_BACKEND_OPENCL;
        clvae_backend dev;
        if ((st = clvae_opencl_backend_create(&c, &dev))) break;
        char label[64];
        snprintf(label, sizeof label, "%.40s", dev.ops->device_name(dev.ctx));
        st = check_device(r, &dev, label);
        clvae_backend_free(&dev);
        tested++;
    }
    clvae_ocl_inventory_free(&inv);
    if (!st && !tested) st = clvae_error(CLVAE_ERR_INPUT, "check: no usable OpenCL device");
    return st;
}
#endif

static int run_check(check_run *r)
{
    const clvae_config *c = &r->cfg;
    long limit = c->data.limit_train > 0 && c->data.limit_train < 4096 ? c->data.limit_train : 4096;
    int st = clvae_dataset_load_train(&r->ds, &r->cfg, limit);
    if (!st) st = clvae_ref_backend_create(&r->ref);
    if (st) return st;
    r->ref_losses = malloc(sizeof(double) * r->steps);
    if (!r->ref_losses) return clvae_error(CLVAE_ERR_NOMEM, "check: out of memory");
    printf("%-34s %-34s %10s %8s  %s\n", "op", "device", "nmse", "tol", "result");
    if ((st = clvae_check_trajectory(c, &r->ds, &r->ref, r->steps, r->ref_losses))) return st;
#ifdef CLVAE_HAVE_OPENCL
    bool explicit_sel = c->device.platform[0] || c->device.device[0] || c->device.type != CLVAE_DEVTYPE_ANY;
    return check_opencl(r, explicit_sel);
#else
    return clvae_error(CLVAE_ERR_INPUT, "check: this build has no OpenCL backend to check");
#endif
}

int cmd_check(int argc, char **argv)
{
    cli_args a;
    check_run r = {0};
    int rc = cli_parse(argc, argv, OPT_CONFIG | OPT_SET | OPT_STEPS, usage, &a);
    if (rc || a.help) return rc;
    if ((rc = cli_load_config(&a, "config/default.ini", &r.cfg))) return rc;
    if (r.cfg.device.backend == CLVAE_BACKEND_REF) {
        fprintf(stderr, "clvae: error: check compares OpenCL devices with the reference backend; "
                        "[device] backend = ref leaves nothing to check (use auto or opencl)\n");
        return 2;
    }
    setenv("RUSTICL_ENABLE", "swrast", 0);
    r.steps = a.steps ? (int)a.steps : 30;
    int st = run_check(&r);
    printf("check: %d passed, %d failed\n", r.counts.passed, r.counts.failed);
    free(r.ref_losses);
    clvae_backend_free(&r.ref);
    clvae_dataset_free(&r.ds);
    if (st) return cli_fail(st);
    return r.counts.failed ? 1 : 0;
}
