/* The layer that runs a choice (above choice.h): CLBlast with its per-shape parameter sets
 * (clblast_sets.c), clvae's register-tiled kernels (tiled.c) and packed kernels (packed.c),
 * and the GEMM op that dispatches a shape to the one its choice names (gemm.c; declared in
 * ocl_internal.h with the other ops).
 * Nothing here reads or writes the tuning file, or searches. */
#ifndef CLVAE_GEMM_RUN_H
#define CLVAE_GEMM_RUN_H

#include "backend/opencl/gemm/choice.h"

struct ocl_ctx;

/* One GEMM's operands: row-major C = alpha op(A) op(B) + beta C, offsets in floats; with epi
 * 1, C += bias (n) on every row after that, with epi 2 also C = relu(C). */
typedef struct clvae_gemm_call {
    bool ta, tb;
    int m, n, k;
    float alpha, beta;
    cl_mem a, b, c;
    cl_ulong aoff, boff, coff;
    int lda, ldb, ldc;
    int epi;
    cl_mem bias;
    cl_ulong biasoff;
} clvae_gemm_call;

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

/* Runs g with the kernel chosen for its shape (with g's epilogue); 1, nothing enqueued, when
 * the shape goes to CLBlast. clvae_ocl_tiled_gemm (ocl_internal.h) is this without one. */
int clvae_ocl_tiled_gemm_epi(struct ocl_ctx *c, const clvae_gemm_call *g);
/* Whether a GEMM of this shape runs on one of clvae's kernels (it is built then). */
bool clvae_ocl_tiled_takes(struct ocl_ctx *c, bool ta, bool tb, int m, int n, int k);

/* y (m, n) = act(op(A) op(B) + bias): the GEMM (alpha 1, beta 0) then bias_act, the same bits;
 * one launch where clvae's kernel runs the shape and act is relu or identity (the epilogue),
 * else the two ops. The optional backend op gemm_bias_act (backend.h). */
int clvae_ocl_gemm_bias_act(void *ctx, bool ta, bool tb, int m, int n, int k, clvae_view a,
                            int lda, clvae_view b, int ldb, clvae_act act, clvae_view bias,
                            clvae_view y);

/* Every launch of clvae's GEMM kernels goes through here (gemm.c): sets the arguments, enqueues
 * the kernel over global (dims 2 or 3; local NULL: the device picks), profiles it as "gemm",
 * counts it for the step's launches and records it into the step being recorded, if any
 * (ocl_cmdbuf.c; a scratch buffer it uses must be held there first: clvae_ocl_cmdbuf_hold). */
struct ocl_arg;
int clvae_ocl_gemm_enqueue(struct ocl_ctx *c, cl_kernel kern, const struct ocl_arg *args, int nargs,
                           cl_uint dims, const size_t *global, const size_t *local);

/* ---- the packed kernels (packed.c), run by tiled.c for forms PACKED and PACKB ---- */

/* The device buffer the operand panels are packed into. */
typedef struct clvae_pack_buf {
    cl_mem mem;
    size_t bytes;
} clvae_pack_buf;

/* Builds the packed program of v (packed or packb; the same for every transpose): its tile and
 * pack kernels. */
int clvae_ocl_packed_build(struct ocl_ctx *c, const clvae_tiled *v, const char *what,
                           cl_program *prog, cl_kernel *gemm, cl_kernel *pack);
/* Enqueues the GEMM g with variant v: packs op(A) (packed only) and op(B)^T into buf (grown as
 * needed), then the tile kernel. */
int clvae_ocl_packed_gemm(struct ocl_ctx *c, cl_kernel gemm, cl_kernel pack, const clvae_tiled *v,
                          const clvae_gemm_call *g, clvae_pack_buf *buf);
void clvae_ocl_pack_buf_free(clvae_pack_buf *b);
/* Makes b hold at least `bytes` (the packed panels; split-K's partial products). The old buffer
 * is released at once: OpenCL keeps it alive until the GEMMs already enqueued with it (one
 * in-order queue) have finished, and a recorded step that used it holds a reference of its own
 * (clvae_ocl_cmdbuf_hold). */
int clvae_ocl_pack_buf_grow(struct ocl_ctx *c, clvae_pack_buf *b, size_t bytes);

#endif
