/* Internal interface of the OpenCL backend: its context, buffers, kernel table and the helpers
 * every op file uses (argument checks, launches, error messages). */
#ifndef CLVAE_OCL_INTERNAL_H
#define CLVAE_OCL_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <CL/cl.h>

#include "backend/backend.h"
#include "backend/opencl/ocl_device.h"

/* Kernels of the program built from cl/ (names in ocl_program.c, same order). */
typedef enum ocl_kernel_id {
    OCL_K_FILL,
    OCL_K_BIAS_ACT,
    OCL_K_ACT_BWD,
    OCL_K_GATHER_U8,
    OCL_K_SCALE_MATRIX,
    OCL_K_COL_SUM,
    OCL_K_SUM_CHUNKS,
    OCL_K_REPARAM,
    OCL_K_REPARAM_BWD,
    OCL_K_LIKELIHOOD,
    OCL_K_ADAM,
    OCL_K_SGD,
    OCL_K_GATHER_F32,
    OCL_K_GAUSS_TERMS,
    OCL_K_PRIOR_BWD,
    OCL_K_LATENT_BWD,
    OCL_K_IW_WEIGHTS,
    OCL_K_IW_WEIGHTS_WG,
    OCL_K_ROW_SCALE,
    OCL_K_BINARIZE,
    OCL_K_ACT_BWD_COL_SUM,
    OCL_K_ONEHOT,
    OCL_K_GUMBEL,
    OCL_K_CAT_TERMS,
    OCL_K_CAT_BWD,
    OCL_K_IM2COL,
    OCL_K_COL2IM,
    OCL_K_BATCH_TRANSPOSE,
    OCL_K_BIAS_LEAKY,
    OCL_K_LEAKY_BWD,
    OCL_K_COL_SQ_DEV_PART,
    OCL_K_BN_BWD_PART,
    OCL_K_SUM_PARTS,
    OCL_K_BN_STATS,
    OCL_K_BN_APPLY,
    OCL_K_BN_BWD,
    OCL_K_SUM_ADD2,
    OCL_K_REPARAM_BWD_COL_SUM,
    OCL_K_CONV_DIRECT,
    OCL_K_CONV_DIRECT_DX,
    OCL_K_CONV_DIRECT_DX_O,
    OCL_K_CONV_DIRECT_DW_PART,
    OCL_K_COUNT
} ocl_kernel_id;

/* The step state a replayed command buffer reads (ocl_cmdbuf.c), 16 bytes: the Philox step of
 * the reparam draws as ulong 0, Adam's step size and sqrt(1 - beta2^t) as floats 2 and 3. */
#define OCL_STATE_NOISE_STEP 0
#define OCL_STATE_ADAM_STEP 2
#define OCL_STATE_ADAM_SBC2 3
#define OCL_STATE_BYTES 16

/* Partial sums of the first sum_add stage: at most this many work-groups. */
#define OCL_MAX_PARTIALS 1024

struct clvae_buffer {
    cl_mem mem;
    size_t bytes;
};

typedef struct ocl_ctx {
    clvae_ocl_device dev; /* the chosen device */
    cl_context context;
    cl_command_queue queue; /* in-order compute queue */
    cl_program program;
    cl_kernel kernels[OCL_K_COUNT];
    size_t local[OCL_K_COUNT]; /* work-group size per kernel (a power of two for reductions) */
    size_t max_alloc;          /* CL_DEVICE_MAX_MEM_ALLOC_SIZE */
    unsigned vw;               /* float vector width of the vectorized kernels (CLVAE_VW) */
    size_t max_item[3];        /* CL_DEVICE_MAX_WORK_ITEM_SIZES */
    cl_mem partials;           /* (OCL_MAX_PARTIALS) sum_add stage-1 results */
    cl_mem gemm_tmp;           /* CLBlast temporary buffer, grown on demand */
    size_t gemm_tmp_bytes;
    cl_mem conv_tmp;          /* conv/BN reduction partials and BN means, grown on demand */
    size_t conv_tmp_bytes;
    /* Host scheduler support (ocl_queue.c) and profiling (ocl_profile.c). */
    cl_command_queue xfer;  /* in-order transfer queue, created by the first staging_alloc */
    struct ocl_prof *prof;  /* recorded events and clock offset; NULL until profile_enable */
    /* Disk caches (ocl_cache.c) and GEMM tuning (gemm/). */
    char cache_dir[CLVAE_PATH_MAX]; /* program binaries and tuning files; "" = none */
    int tuning_state;               /* clvae_tuning_state of the tuning file at creation */
    struct ocl_gemm_sets *gemm_sets; /* per-shape CLBlast parameter sets; NULL = one set */
    struct ocl_gemm_tiled *tiled;    /* register-tiled GEMM variants and choices (lazy) */
    /* Step accounting (clvae_backend_counters): compute-stream commands and their enqueue time
     * (driving thread only), transfer-stream ones (the loader thread: atomic). */
    uint64_t n_launch, enq_ns;
    atomic_uint_fast64_t xfer_launch, xfer_ns;
    uint64_t n_replay;           /* command-buffer replays */
    uint64_t n_scratch_grow;     /* GEMM scratch reallocations (clvae_ocl_pack_buf_grow) */
    struct ocl_cmdbuf *cb;       /* record and replay (ocl_cmdbuf.c); NULL: not offered/off */
} ocl_ctx;

/* A kernel argument: size and pointer as clSetKernelArg takes them (value NULL = __local). */
typedef struct ocl_arg {
    size_t size;
    const void *value;
} ocl_arg;

#define OCL_ARG(x) ((ocl_arg){sizeof(x), &(x)})
#define OCL_LOCAL(bytes) ((ocl_arg){(bytes), NULL})
#define OCL_NARGS(args) ((int)(sizeof(args) / sizeof((args)[0])))

/* Records "opencl <op> on <device>: <call> failed: <CL name> (<code>)"; returns CLVAE_ERR_DEVICE.
 */
int clvae_ocl_fail(const ocl_ctx *c, const char *op, const char *call, cl_int err);

/* Checks that view v holds `floats` floats inside its buffer at a 4-byte aligned offset, and
 * returns its cl_mem and offset in floats. A violation is CLVAE_ERR_INTERNAL (a caller bug). */
int clvae_ocl_view(const ocl_ctx *c, const char *op, const char *name, clvae_view v, size_t floats,
                   cl_mem *mem, cl_ulong *off);

/* Sets args and enqueues kernel k over `items` work-items (1-D, global size rounded up to the
 * kernel's work-group size; the kernel checks bounds). local = 0 takes c->local[k]. */
int clvae_ocl_launch(ocl_ctx *c, ocl_kernel_id k, const char *op, size_t items, size_t local,
                     const ocl_arg *args, int nargs);

/* Enqueues kernel k over a dims-dimensional (1..3) grid of items[d] work-items each, rounded
 * up to a work-group shape taken from the kernel's work-group size and the device's limits
 * (dimension 0 widest, up to its item count); the kernel checks bounds. Kernels index rows by
 * get_global_id(1) instead of dividing a flat index (integer division does not vectorize). */
int clvae_ocl_launch_nd(ocl_ctx *c, ocl_kernel_id k, const char *op, int dims,
                        const size_t *items, const ocl_arg *args, int nargs);

/* Step accounting: a monotonic host clock in ns, and "one compute command enqueued since t0"
 * (ocl_launch.c). clvae_ocl_counters is the backend's counters slot. */
int64_t clvae_ocl_now_ns(void);
void clvae_ocl_count(ocl_ctx *c, int64_t t0, unsigned launches);
void clvae_ocl_counters(void *ctx, clvae_backend_counters *out);

/* ---- Command buffers (ocl_cmdbuf.c): record the training step once, replay it ----------
 * Recording runs the step as always (plain enqueues) and adds each command to the buffer too.
 * clvae_ocl_cmdbuf_init reads device.command_buffer; on: an error where it is not offered. */
int clvae_ocl_cmdbuf_init(ocl_ctx *c, clvae_cmdbuf_mode mode);
void clvae_ocl_cmdbuf_free(ocl_ctx *c);
/* True while a step is being recorded. */
bool clvae_ocl_recording(const ocl_ctx *c);
/* After kern's plain enqueue: the same command into the step being recorded (no-op when none;
 * kern NULL: nothing was enqueued, a pending step-state argument is dropped). Every kernel
 * enqueued while recording must come through here (the tiled GEMM's launch too). */
void clvae_ocl_cmdbuf_add(ocl_ctx *c, cl_kernel kern, const ocl_arg *args, int nargs,
                          cl_uint dims, const size_t *global, const size_t *local);
/* The command about to be added reads the step state through argument `arg`; value is its
 * per-step value in this step (which 0: the Philox step, 1: Adam's t), checked against the
 * recording's. */
void clvae_ocl_cmdbuf_step_arg(ocl_ctx *c, int arg, uint64_t value, int which);
/* Commands recorded so far in the current recording (0 when none). */
uint64_t clvae_ocl_cmdbuf_count(const ocl_ctx *c);
/* Adam's lr and betas, from which a replay computes the step state's scalars. */
void clvae_ocl_cmdbuf_adam(ocl_ctx *c, float lr, float beta1, float beta2);
/* The recording in progress (if any) retains `mem`, a scratch buffer its next commands use,
 * until its graph is freed, so the buffer outlives a reallocation of the context's scratch. */
void clvae_ocl_cmdbuf_hold(ocl_ctx *c, cl_mem mem);
/* The step being recorded cannot be replayed (logged once by graph_end). */
void clvae_ocl_cmdbuf_refuse(ocl_ctx *c, const char *why);
/* The graph slots (clvae_backend_ops). */
int clvae_ocl_graph_begin(void *ctx, uint64_t noise_step, uint64_t t);
int clvae_ocl_graph_end(void *ctx, clvae_graph **out);
int clvae_ocl_graph_replay(void *ctx, clvae_graph *g, uint64_t noise_step, uint64_t t);
void clvae_ocl_graph_free(void *ctx, clvae_graph *g);
void clvae_ocl_adam_scalars(float lr, float beta1, float beta2, uint64_t t, float *step,
                            float *sbc2);

/* Builds the program from the #define header, philox.clh and cl/ *.cl (embedded or, with
 * CLVAE_KERNEL_DIR, from disk); prints the build log on failure. ocl_program.c */
int clvae_ocl_program_build(ocl_ctx *c);
/* Builds a program from `prelude` (#defines) and the one cl/ file `file` (e.g. a kernel with
 * compile-time tile sizes), through the same binary cache; `what` names it in messages. */
int clvae_ocl_program_build_file(const ocl_ctx *c, const char *prelude, const char *file,
                                 const char *what, cl_program *out);
/* The float vector width for this device (ocl_program.c). */
unsigned clvae_ocl_vector_width(const ocl_ctx *c);
/* Creates every kernel of OCL_K_* and picks its work-group size from the device's limits. */
int clvae_ocl_kernels_create(ocl_ctx *c);

/* The ops of ocl_ops.c and gemm/gemm.c (signatures as in clvae_backend_ops). */
int clvae_ocl_gemm(void *ctx, bool ta, bool tb, int m, int n, int k, float alpha, clvae_view a,
                   int lda, clvae_view b, int ldb, float beta, clvae_view c, int ldc);
void clvae_ocl_gemm_release(ocl_ctx *c);
/* The register-tiled GEMM (gemm/tiled.c): runs row-major C = alpha op(A) op(B) + beta C
 * with the variant chosen for this shape; returns 1 (nothing enqueued) when the shape goes to
 * CLBlast. Offsets are in floats. */
int clvae_ocl_tiled_gemm(ocl_ctx *c, bool ta, bool tb, int m, int n, int k, float alpha,
                         cl_mem a, cl_ulong aoff, int lda, cl_mem b, cl_ulong boff, int ldb,
                         float beta, cl_mem cm, cl_ulong coff, int ldc);
void clvae_ocl_tiled_free(ocl_ctx *c);
int clvae_ocl_fill(void *ctx, clvae_view dst, size_t n, float value);
int clvae_ocl_bias_act(void *ctx, clvae_act act, int rows, int cols, clvae_view bias, clvae_view y);
int clvae_ocl_act_bwd(void *ctx, clvae_act act, int rows, int cols, clvae_view y, clvae_view dy);
int clvae_ocl_col_sum(void *ctx, int rows, int cols, clvae_view x, clvae_view out);
int clvae_ocl_act_bwd_col_sum(void *ctx, clvae_act act, int rows, int cols, clvae_view y,
                              clvae_view dy, clvae_view db);
int clvae_ocl_reparam(void *ctx, const clvae_reparam_args *a);
int clvae_ocl_reparam_bwd(void *ctx, const clvae_reparam_bwd_args *a);
int clvae_ocl_likelihood(void *ctx, const clvae_lik_args *a);
int clvae_ocl_sum_add(void *ctx, size_t n, clvae_view x, float scale, clvae_view acc);
int clvae_ocl_optimizer(void *ctx, const clvae_opt_args *a);
int clvae_ocl_sum_add2(void *ctx, size_t n0, clvae_view x0, float s0, clvae_view acc0, size_t n1,
                       clvae_view x1, float s1, clvae_view acc1);
int clvae_ocl_reparam_bwd_col_sum(void *ctx, const clvae_reparam_bwd_args *a, clvae_view db);
int clvae_ocl_gather_u8(void *ctx, clvae_view dst, clvae_buffer *src_u8, clvae_view idx_u32,
                        int count, int dim);
int clvae_ocl_gather_f32(void *ctx, clvae_view dst, clvae_buffer *src_f32, clvae_view idx_u32,
                         int count, int dim);
/* The stochastic-layer ops (ocl_stoch.c). */
int clvae_ocl_gauss_terms(void *ctx, const clvae_gauss_terms_args *a);
int clvae_ocl_prior_bwd(void *ctx, const clvae_prior_bwd_args *a);
int clvae_ocl_latent_bwd(void *ctx, const clvae_latent_bwd_args *a);
int clvae_ocl_iw_weights(void *ctx, const clvae_iw_args *a);
/* Conditional models (ocl_cond.c). */
int clvae_ocl_onehot(void *ctx, int rows, int batch, int classes, clvae_view labels,
                     clvae_view out);
/* Categorical layers (ocl_gumbel.c). */
int clvae_ocl_gumbel(void *ctx, const clvae_gumbel_args *a);
int clvae_ocl_cat_terms(void *ctx, const clvae_cat_terms_args *a);
int clvae_ocl_cat_bwd(void *ctx, const clvae_cat_bwd_args *a);
/* Convolutional nets (ocl_conv.c); clvae_ocl_conv_release frees the scratch (ocl_free). */
int clvae_ocl_im2col(void *ctx, const clvae_conv_geom *g, clvae_view img, clvae_view cols);
int clvae_ocl_col2im(void *ctx, const clvae_conv_geom *g, clvae_view cols, float beta,
                     clvae_view img);
int clvae_ocl_batch_transpose(void *ctx, int batch, int rows, int cols, clvae_view src,
                              clvae_view dst);
int clvae_ocl_bias_leaky(void *ctx, float slope, int rows, int cols, clvae_view bias,
                         clvae_view y);
int clvae_ocl_leaky_bwd(void *ctx, float slope, int rows, int cols, clvae_view y, clvae_view dy);
int clvae_ocl_col_sq_dev(void *ctx, int rows, int cols, clvae_view x, clvae_view sum,
                         float count, clvae_view out);
int clvae_ocl_bn_fwd(void *ctx, const clvae_bn_fwd_args *a);
int clvae_ocl_bn_bwd_sums(void *ctx, const clvae_bn_bwd_args *a);
int clvae_ocl_bn_bwd(void *ctx, const clvae_bn_bwd_args *a);
int clvae_ocl_conv_direct(void *ctx, const clvae_conv_geom *g, int o, clvae_view img,
                          clvae_view w, clvae_view col);
int clvae_ocl_conv_direct_dx(void *ctx, const clvae_conv_geom *g, int o, clvae_view col,
                             clvae_view w, clvae_view img);
int clvae_ocl_conv_direct_dw(void *ctx, const clvae_conv_geom *g, int o, clvae_view img,
                             clvae_view col, clvae_view w);
void clvae_ocl_conv_release(ocl_ctx *c);
int clvae_ocl_row_scale(void *ctx, int rows, int cols, clvae_view w, clvae_view x);
int clvae_ocl_binarize(void *ctx, size_t n, uint64_t seed, uint64_t step, uint32_t stream,
                       clvae_view x);

/* Host scheduler slots (ocl_queue.c): pinned staging, the transfer queue, event tickets. */
int clvae_ocl_memory_info(void *ctx, size_t *global_bytes, size_t *max_alloc);
bool clvae_ocl_host_is_device(void *ctx);
int clvae_ocl_staging_alloc(void *ctx, size_t bytes, clvae_staging **out, void **host);
void clvae_ocl_staging_free(void *ctx, clvae_staging *s);
int clvae_ocl_upload_async(void *ctx, clvae_view dst, clvae_staging *src, size_t bytes,
                           clvae_ticket *after, long tag, clvae_ticket **done);
int clvae_ocl_compute_wait(void *ctx, clvae_ticket *t);
int clvae_ocl_compute_marker(void *ctx, clvae_ticket **out);
int clvae_ocl_ticket_wait(void *ctx, clvae_ticket *t);
void clvae_ocl_ticket_release(void *ctx, clvae_ticket *t);
int clvae_ocl_flush(void *ctx);
/* Creates an in-order queue on the context's device, with profiling when `profiling`. */
int clvae_ocl_queue_create(ocl_ctx *c, bool profiling, cl_command_queue *out);
/* Releases the transfer queue and the profiling state (ocl_free). */
void clvae_ocl_queue_release(ocl_ctx *c);

/* Profiling slots (ocl_profile.c). */
int clvae_ocl_profile_enable(void *ctx, bool on);
void clvae_ocl_profile_tag(void *ctx, long tag);
int clvae_ocl_profile_drain(void *ctx, clvae_prof_fn fn, void *user);
/* True while profiling records compute commands (enabled and tag >= 0). */
bool clvae_ocl_prof_compute_on(const ocl_ctx *c);
/* True when the queues were created with CL_QUEUE_PROFILING_ENABLE. */
bool clvae_ocl_prof_queues(const ocl_ctx *c);
/* Records a finished-or-pending command for the trace and takes ownership of `ev` (NULL is
 * ignored). Compute commands get the current tag; thread-safe. */
void clvae_ocl_prof_add(ocl_ctx *c, const char *name, clvae_queue_kind q, long tag, size_t bytes,
                        cl_event ev);
/* The event pointer to pass to a compute enqueue: &ev while recording, NULL otherwise. */
#define OCL_PROF_EVENT(c, ev) (clvae_ocl_prof_compute_on(c) ? &(ev) : NULL)
/* Records compute command `ev` under the current tag (no-op for NULL). */
void clvae_ocl_prof_compute(ocl_ctx *c, const char *name, cl_event ev);
/* Records a compute span from marker `first`'s end to `last`'s end (several kernels, e.g. a
 * CLBlast GEMM); takes both events (either may be NULL; name NULL only releases them). */
void clvae_ocl_prof_span(ocl_ctx *c, const char *name, cl_event first, cl_event last);
void clvae_ocl_prof_free(ocl_ctx *c);

#endif
