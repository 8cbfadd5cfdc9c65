/* Scaffolding shared by the tests that train on a Fashion-MNIST slice on OpenCL devices and
 * hold them against the reference backend (test_trajectory.c, test_lean.c,
 * test_conv_trajectory.c): loading the slice (SKIP without it), opening the device of one
 * platform, and the relative difference of two loss trajectories. */
#ifndef CLVAE_DEVRUN_H
#define CLVAE_DEVRUN_H

#include "backend/backend.h"
#include "clvae/data.h"

#define DR_IMAGES "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
#define DR_LABELS "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz"

/* The first `rows` Fashion-MNIST training images (no labels) into *ds: 0, or TU_SKIP after
 * printing "SKIP: <why>" when they cannot be loaded. */
int dr_load_images(clvae_dataset *ds, long rows);

#ifdef CLVAE_HAVE_OPENCL
/* *cfg = *base with device.backend = opencl and device.platform = `platform` (the device whose
 * platform name contains it), and that backend created into *be: the status, its message in
 * clvae_last_error(); nothing printed. */
int dr_open_platform(const clvae_config *base, const char *platform, clvae_config *cfg,
                     clvae_backend *be);
#endif

/* The largest |got[s] - ref[s]| / |ref[s]| over the first `steps` per-step losses. */
double dr_max_rel(const double *ref, const double *got, int steps);

#endif
