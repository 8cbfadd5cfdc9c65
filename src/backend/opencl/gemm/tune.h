/* The top of the OpenCL GEMM machinery: the search (clvae tune, and first use in train/bench)
 * over CLBlast's parameters and clvae's kernels per GEMM shape, which writes the tuning file.
 * Including this header gives a caller the whole GEMM API (the layers below it). */
#ifndef CLVAE_GEMM_TUNE_H
#define CLVAE_GEMM_TUNE_H

#include "backend/opencl/gemm/choice.h"
#include "backend/opencl/gemm/file.h"
#include "backend/opencl/gemm/run.h"
#include "backend/opencl/gemm/tune_options.h"

/* Searches CLBlast's GEMM parameters on the device of an OpenCL backend for the given shapes,
 * verifying every candidate against the reference GEMM (nmse <= 1e-8) before it may win, and
 * writes the tuning file into the backend's cache directory (`path` receives its name, "" when
 * there is no cache directory). The backend stays usable, with the winner applied. */
int clvae_opencl_tune(clvae_backend *be, const clvae_gemm_shape *shapes, int n,
                      const clvae_tune_options *o, clvae_tuning *result, char *path,
                      size_t path_size);

#endif
