/* The bottom layer of the OpenCL GEMM machinery: what a GEMM shape may run with (a CLBlast
 * parameter set, a clvae kernel variant), the per-shape choice table a tuning file holds, the
 * device limits every choice is checked against, and the checks. Includes nothing above it.
 * Layers, bottom up: choice.h, run.h (runs a choice), file.h (the tuning file), tune.h (the
 * search). */
#ifndef CLVAE_GEMM_CHOICE_H
#define CLVAE_GEMM_CHOICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <CL/cl.h>

#include "backend/backend.h"
#include "backend/gemm_shape.h"

#define CLVAE_XGEMM_NP 16  /* Xgemm parameters of CLBlast 1.5 */
#define CLVAE_XGEMMD_NP 10 /* XgemmDirect parameters */
#define CLVAE_HELPER_NP 15 /* Copy (4), Pad (4), Transpose (4), Padtranspose (3) parameters */
#define CLVAE_TUNE_MAX_SHAPES 256 /* a tuning file's shapes: one model's (a conv net has 17; a dense model at 4 batch sizes 44) and others kept */
#define CLVAE_TILED_MAX_KS 64 /* k slices of a split-K outer GEMM */
#define CLVAE_TUNE_MAX_SETS 4 /* parameter sets in one tuning file (one program build each) */

/* Parameter names, in the order clvae_gemm_params stores them. */
extern const char *const clvae_xgemm_names[CLVAE_XGEMM_NP];
extern const char *const clvae_xgemmd_names[CLVAE_XGEMMD_NP];
extern const char *const clvae_helper_names[CLVAE_HELPER_NP];
/* "XGEMM_MIN_INDIRECT_SIZE" (GemmRoutine); the helper kernels' names and where each one's
 * parameters start in clvae_gemm_params.h (4 kernels, 5 bounds). */
extern const char *const clvae_routine_names[1];
extern const char *const clvae_helper_kernels[4];
extern const int clvae_helper_first[5];

/* One complete CLBlast GEMM configuration for a device. GEMMs with m*n*k < min_indirect^3
 * take the direct kernel (XgemmDirect), the others the indirect one (Xgemm + pad/transpose). */
typedef struct clvae_gemm_params {
    size_t x[CLVAE_XGEMM_NP];  /* GEMMK KREG KWG KWI MDIMA MDIMC MWG NDIMB NDIMC NWG SA SB STRM
                                  STRN VWM VWN */
    size_t d[CLVAE_XGEMMD_NP]; /* WGD MDIMCD NDIMCD MDIMAD NDIMBD KWID VWMD VWND PADA PADB */
    size_t min_indirect;       /* XGEMM_MIN_INDIRECT_SIZE */
    /* The indirect GEMM's copy, pad and transpose kernels (its operands in and C out): CLBlast's
     * own parameters for them unless has_helpers. */
    bool has_helpers;
    size_t h[CLVAE_HELPER_NP]; /* COPY_DIMX COPY_DIMY COPY_VW COPY_WPT | PAD_DIMX PAD_DIMY
                                  PAD_WPTX PAD_WPTY | TRA_DIM TRA_PAD TRA_SHUFFLE TRA_WPT |
                                  PADTRA_PAD PADTRA_TILE PADTRA_WPT */
} clvae_gemm_params;

/* One of clvae's GEMM kernels with its tile: the register-tiled forms of cl/gemm_tiled.cl
 * (outer, dot) or the packed ones of cl/gemm_packed.cl (packed: both operands packed into
 * panels first, then the outer-product tile over them; packb: op(B)^T alone packed, op(A) read
 * in place); form CLVAE_TILED_NONE means CLBlast. */
enum {
    CLVAE_TILED_NONE = 0,
    CLVAE_TILED_OUTER = 1,
    CLVAE_TILED_DOT = 2,
    CLVAE_TILED_PACKED = 3,
    CLVAE_TILED_PACKB = 4,
    CLVAE_TILED_LAST = CLVAE_TILED_PACKB /* the last form (loops over the names) */
};
typedef struct clvae_tiled {
    int form;
    int mr; /* rows of C per work-item, 1..16 */
    int nb; /* outer, packed: vectors of vw columns per work-item; dot: columns; 1..8 */
    int vw; /* float vector width: 1, 2, 4, 8 or 16 */
    int lx; /* work-group size along grid dimension 0 (the other dimension is 1) */
    int rows_first; /* 0: grid dimension 0 runs over column blocks; 1: over row blocks */
    int ks;         /* outer only: k split into ks slices, one more grid dimension, the slices'
                       partial products summed by a second launch (split-K, for a small C with a
                       long k); 0 or 1: none */
} clvae_tiled;

/* What a tuning file holds. One parameter set rarely suits every shape (a tile that fits
 * 128x400x784 wastes most of its work on n = 20), so the shapes of the search may each name one
 * of up to CLVAE_TUNE_MAX_SETS sets: set 0 is `p`, set j >= 1 is extra[j - 1]; a GEMM of a shape
 * not listed takes the set of the most similar listed one. CLBlast builds one program per set
 * and the GEMM op switches sets per call. */
typedef struct clvae_tuning {
    char platform[256], device[256], driver[256], clblast[32]; /* whom it is for */
    bool use_defaults;           /* CLBlast's own parameters won: nothing is overridden */
    clvae_gemm_params p;         /* when !use_defaults */
    int n_extra;                 /* extra sets (0 with use_defaults or when one set fits all) */
    clvae_gemm_params extra[CLVAE_TUNE_MAX_SETS - 1];
    int shape_set[CLVAE_TUNE_MAX_SHAPES]; /* each shape's set: 0 = p, j = extra[j - 1] */
    clvae_tiled shape_tiled[CLVAE_TUNE_MAX_SHAPES]; /* a tiled kernel that beat CLBlast, or NONE */
    double default_ms, tuned_ms; /* GEMM time per training step, default and tuned */
    double seconds;              /* the search's wall time */
    int evaluated, rejected;     /* candidates timed; refused, failed or wrong */
    int n_shapes;
    clvae_gemm_shape shapes[CLVAE_TUNE_MAX_SHAPES];
    double shape_default_ms[CLVAE_TUNE_MAX_SHAPES], shape_tuned_ms[CLVAE_TUNE_MAX_SHAPES];
} clvae_tuning;

/* A GEMM shape as a lookup key (transposes and sizes, no call count). */
typedef struct clvae_gemm_key {
    bool ta, tb;
    int m, n, k;
} clvae_gemm_key;

/* The first of n entries of `size` bytes at `list` whose key is `want`, or NULL; each entry is a
 * struct whose first member is its clvae_gemm_key (the per-shape choice lists of
 * clblast_sets.c and tiled.c). */
const void *clvae_gemm_key_find(const void *list, size_t size, int n, const clvae_gemm_key *want);

/* Tuning state of an OpenCL backend at creation. */
typedef enum clvae_tuning_state {
    CLVAE_TUNING_NONE,    /* no tuning file for this device */
    CLVAE_TUNING_APPLIED, /* a tuning file was found and applied */
    CLVAE_TUNING_IGNORED  /* a tuning file was corrupt or for another device/version */
} clvae_tuning_state;

/* What a device allows a kernel: work-group sizes and local memory, from the device. */
typedef struct clvae_tune_limits {
    size_t max_wg; /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
    size_t max_item[3];
    size_t local_mem; /* bytes */
    size_t global_cache; /* CL_DEVICE_GLOBAL_MEM_CACHE_SIZE, bytes (0: not reported) */
    bool cpu;         /* CL_DEVICE_TYPE_CPU: the curated list for CPUs comes first */
} clvae_tune_limits;

void clvae_tune_limits_query(cl_device_id dev, clvae_tune_limits *lim);

/* Whether CLBlast parameters are legal (CLBlast 1.5's constraints) and fit the device. */
bool clvae_xgemm_legal(const size_t x[CLVAE_XGEMM_NP], const clvae_tune_limits *lim);
bool clvae_xgemmd_legal(const size_t d[CLVAE_XGEMMD_NP], const clvae_tune_limits *lim);
bool clvae_helpers_legal(const size_t h[CLVAE_HELPER_NP], const clvae_tune_limits *lim);
/* Every parameter set of a tuning table is legal for the device. */
bool clvae_tuning_sets_legal(const clvae_tuning *t, const clvae_tune_limits *lim);
/* "Xgemm MWG=64 ... | XgemmDirect WGD=32 ... | XGEMM_MIN_INDIRECT_SIZE=128" */
void clvae_gemm_params_format(const clvae_gemm_params *p, char *buf, size_t size);

/* Whether v is a well-formed variant for these transposes (the dot form needs A as stored and
 * B transposed); the device's work-group limits are checked when it is built. */
bool clvae_tiled_valid(const clvae_tiled *v, bool ta, bool tb);
/* "outer 8x3x16" (form, mr, nb, vw; "/lx" when lx > 1; " rows" with rows_first; " kN" with
 * ks = N > 1), or "CLBlast". */
void clvae_tiled_format(const clvae_tiled *v, char *buf, size_t size);
/* Whether a form runs on cl/gemm_packed.cl (packed, packb): a pack launch, then the tile. */
static inline bool clvae_tiled_is_packed(int form)
{
    return form == CLVAE_TILED_PACKED || form == CLVAE_TILED_PACKB;
}
/* "outer", "dot", "packed" or "packb" (the tuning file's spelling of a form). */
const char *clvae_tiled_form_name(int form);

/* CLBlast version this build was compiled against (pkg-config), e.g. "1.5.3". */
const char *clvae_clblast_version(void);

/* Whether `be` is an OpenCL backend. */
bool clvae_backend_is_opencl(const clvae_backend *be);

#endif
