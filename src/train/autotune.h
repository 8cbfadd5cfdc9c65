/* GEMM autotuning glue above the backend: the GEMM shapes of a model's training step, and the
 * first-use tuning that `train` and `bench` run when the device has no tuning file yet. */
#ifndef CLVAE_TRAIN_AUTOTUNE_H
#define CLVAE_TRAIN_AUTOTUNE_H

#include "backend/backend.h"
#include "backend/gemm_shape.h"
#include "clvae/config.h"
#include "model/vae.h"
#include "model/vae_shapes.h" /* clvae_model_gemm_shapes */

/* Budget of first-use tuning in train/bench (clvae tune defaults to CLVAE_TUNE_SECONDS). */
#define CLVAE_TUNE_FIRST_USE_SECONDS 30.0
#define CLVAE_TUNE_SECONDS 120.0

/* When `be` is an OpenCL backend without a valid tuning file and cfg->device.autotune is
 * first-use: says so on stderr and tunes for about CLVAE_TUNE_FIRST_USE_SECONDS on the model's
 * shapes, writing the tuning file. A search that could not write its file only warns (the
 * winner stays applied); a device failure during the search is returned (CLVAE_ERR_DEVICE),
 * since CLBlast may then hold a configuration that does not work. */
int clvae_autotune_first_use(clvae_backend *be, const clvae_config *cfg, const clvae_model *m);

#endif
