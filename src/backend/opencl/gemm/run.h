/* The layer that runs a choice (above choice.h): CLBlast with its per-shape parameter sets
 * (clblast_sets.c), clvae's register-tiled kernels (tiled.c), and the GEMM op that dispatches
 * a shape to the one its choice names (gemm.c; declared in ocl_internal.h with the other ops).
 * Nothing here reads or writes the tuning file, or searches. */
#ifndef CLVAE_GEMM_RUN_H
#define CLVAE_GEMM_RUN_H

#include "backend/opencl/gemm/choice.h"

struct ocl_ctx;

/* ---- CLBlast (clblast_sets.c) ---- */

/* CLBlastOverrideParameters for Xgemm, XgemmDirect and GemmRoutine (single precision). */
int clvae_gemm_params_apply(cl_device_id dev, const clvae_gemm_params *p);
/* Installs t's sets on the backend (t->p is applied already); with no extra set, or NULL,
 * removes them (every GEMM runs with what is applied). */
int clvae_ocl_gemm_sets_install(struct ocl_ctx *c, const clvae_tuning *t);
void clvae_ocl_gemm_sets_free(struct ocl_ctx *c);
/* Before a GEMM: applies the set its shape was tuned with, when another one is applied. */
int clvae_ocl_gemm_sets_select(struct ocl_ctx *c, bool ta, bool tb, int m, int n, int k);
/* The set CLBlast holds now (0 without per-shape sets; -1 after a failed switch). */
int clvae_ocl_gemm_sets_applied(const struct ocl_ctx *c);

/* ---- clvae's kernels (tiled.c) ---- */

/* Installs the kernel choices of t's shapes (NULL or none: every GEMM runs on CLBlast). A GEMM
 * of a shape not in t takes the choice of the nearest shape of the same transposes, when that
 * one is within a factor of 4 in each dimension but the batch one (m of NN/NT, k of TN, which
 * may differ freely); else CLBlast. */
int clvae_ocl_tiled_install(struct ocl_ctx *c, const clvae_tuning *t);
/* Runs every GEMM with v (form NONE: CLBlast), whatever the choices say; NULL ends that. For
 * the tuner, test_ops and clvae check. */
int clvae_opencl_gemm_force(clvae_backend *be, const clvae_tiled *v);
/* The kernels the tuning file chose, with their shapes (at most max); the count. */
int clvae_opencl_tiled_choices(const clvae_backend *be, clvae_gemm_shape *shapes, clvae_tiled *v,
                               int max);

#endif
