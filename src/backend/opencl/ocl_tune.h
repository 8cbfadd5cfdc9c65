/* GEMM autotuning for the OpenCL backend: CLBlast's Xgemm, XgemmDirect and GemmRoutine
 * parameters, the per-device tuning file that stores them, and the search (clvae tune). */
#ifndef CLVAE_OCL_TUNE_H
#define CLVAE_OCL_TUNE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <CL/cl.h>

#include "backend/backend.h"
#include "backend/gemm_shape.h"

#define CLVAE_XGEMM_NP 16  /* Xgemm parameters of CLBlast 1.5 */
#define CLVAE_XGEMMD_NP 10 /* XgemmDirect parameters */
#define CLVAE_HELPER_NP 15 /* Copy (4), Pad (4), Transpose (4), Padtranspose (3) parameters */
#define CLVAE_TUNE_MAX_SHAPES 48
#define CLVAE_TUNE_MAX_SETS 4 /* parameter sets in one tuning file (one program build each) */

/* Parameter names, in the order clvae_gemm_params stores them. */
extern const char *const clvae_xgemm_names[CLVAE_XGEMM_NP];
extern const char *const clvae_xgemmd_names[CLVAE_XGEMMD_NP];
extern const char *const clvae_helper_names[CLVAE_HELPER_NP];

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

/* A register-tiled GEMM variant (cl/gemm_tiled.cl): form CLVAE_TILED_NONE means CLBlast. */
enum { CLVAE_TILED_NONE = 0, CLVAE_TILED_OUTER = 1, CLVAE_TILED_DOT = 2 };
typedef struct clvae_tiled {
    int form;
    int mr; /* rows of C per work-item, 1..16 */
    int nb; /* outer: vectors of vw columns per work-item; dot: columns; 1..8 */
    int vw; /* float vector width: 1, 2, 4, 8 or 16 */
    int lx; /* work-group size along grid dimension 0 (the other dimension is 1) */
    int rows_first; /* 0: grid dimension 0 runs over column blocks; 1: over row blocks */
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

/* CLBlast version this build was compiled against (pkg-config), e.g. "1.5.3". */
const char *clvae_clblast_version(void);

/* ---- the tuning file (ocl_tune_file.c) ---- */

/* <dir>/gemm-<hash>.json, the hash being FNV-1a 64 over platform name, device name, driver
 * version and CLBlast version. */
void clvae_tuning_path(const char *dir, cl_platform_id platform, cl_device_id dev, char *path,
                       size_t size);
/* Fills the identity fields (platform, device, driver, clblast) for a device. */
void clvae_tuning_identify(clvae_tuning *t, cl_platform_id platform, cl_device_id dev);

/* Writes the file atomically. Errors name the file. */
int clvae_tuning_write(const char *path, const clvae_tuning *t);
/* Reads a file: CLVAE_ERR_IO when missing/unreadable, CLVAE_ERR_DATA (naming the file and what
 * is wrong) when it is not a valid tuning file. Never crashes on bad content. */
int clvae_tuning_read(const char *path, clvae_tuning *t);
/* Whether a file read for this device/driver/CLBlast applies; else `why` says what differs. */
bool clvae_tuning_matches(const clvae_tuning *t, const clvae_tuning *want, char *why, size_t size);

/* CLBlastOverrideParameters for Xgemm, XgemmDirect and GemmRoutine (single precision). */
int clvae_gemm_params_apply(cl_device_id dev, const clvae_gemm_params *p);

/* ---- per-shape parameter sets at run time (ocl_tune_sets.c) ---- */

struct ocl_ctx;
/* Installs t's sets on the backend (t->p is applied already); with no extra set, or NULL,
 * removes them (every GEMM runs with what is applied). */
int clvae_ocl_gemm_sets_install(struct ocl_ctx *c, const clvae_tuning *t);
void clvae_ocl_gemm_sets_free(struct ocl_ctx *c);
/* Before a GEMM: applies the set its shape was tuned with, when another one is applied. */
int clvae_ocl_gemm_sets_select(struct ocl_ctx *c, bool ta, bool tb, int m, int n, int k);
/* The set CLBlast holds now (0 without per-shape sets; -1 after a failed switch). */
int clvae_ocl_gemm_sets_applied(const struct ocl_ctx *c);
/* "Xgemm MWG=64 ... | XgemmDirect WGD=32 ... | XGEMM_MIN_INDIRECT_SIZE=128" */
void clvae_gemm_params_format(const clvae_gemm_params *p, char *buf, size_t size);

/* ---- register-tiled GEMM kernels (ocl_gemm_tiled.c) ---- */

/* Whether v is a well-formed variant for these transposes (the dot form needs A as stored and
 * B transposed); the device's work-group limits are checked when it is built. */
bool clvae_tiled_valid(const clvae_tiled *v, bool ta, bool tb);
/* "outer 8x3x16" (form, mr, nb, vw; "/lx" when lx > 1; " rows" with rows_first), or
 * "CLBlast". */
void clvae_tiled_format(const clvae_tiled *v, char *buf, size_t size);
/* Installs the tiled choices of t's shapes (NULL or none: every GEMM runs on CLBlast). A GEMM
 * of a shape not in t takes the choice of the nearest shape of the same transposes, when that
 * one is within a factor of 4 in each dimension but the batch one (m of NN/NT, k of TN, which
 * may differ freely); else CLBlast. */
int clvae_ocl_tiled_install(struct ocl_ctx *c, const clvae_tuning *t);
/* Runs every GEMM with v (form NONE: CLBlast), whatever the choices say; NULL ends that. For
 * the tuner, test_ops and clvae check. */
int clvae_opencl_gemm_force(clvae_backend *be, const clvae_tiled *v);
/* The tiled kernels the tuning file chose, with their shapes (at most max); the count. */
int clvae_opencl_tiled_choices(const clvae_backend *be, clvae_gemm_shape *shapes, clvae_tiled *v,
                               int max);

/* ---- the search space (ocl_tune_space.c) ---- */

typedef struct clvae_tune_limits {
    size_t max_wg; /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
    size_t max_item[3];
    size_t local_mem; /* bytes */
    bool cpu;         /* CL_DEVICE_TYPE_CPU: the curated list for CPUs comes first */
} clvae_tune_limits;

void clvae_tune_limits_query(cl_device_id dev, clvae_tune_limits *lim);
bool clvae_xgemm_legal(const size_t x[CLVAE_XGEMM_NP], const clvae_tune_limits *lim);
bool clvae_xgemmd_legal(const size_t d[CLVAE_XGEMMD_NP], const clvae_tune_limits *lim);
bool clvae_helpers_legal(const size_t h[CLVAE_HELPER_NP], const clvae_tune_limits *lim);
/* The i-th curated set of copy/pad/transpose parameters for this kind of device. */
bool clvae_tune_curated_helpers(const clvae_tune_limits *lim, int i, size_t h[CLVAE_HELPER_NP]);
/* The i-th curated configuration for this kind of device (false past the end). */
bool clvae_tune_curated(const clvae_tune_limits *lim, int i, clvae_gemm_params *p);
/* The i-th tiled GEMM candidate for these transposes on this kind of device, float vector width
 * vw being the device's preferred one (false past the end): every variant of the curated list
 * in both grid orders. */
bool clvae_tune_tiled_candidate(const clvae_tune_limits *lim, unsigned vw, bool ta, bool tb, int i,
                                clvae_tiled *v);
/* A new candidate: a random legal configuration, or (when `best` is given) a neighbour of it
 * with one or two parameters changed or another direct/indirect threshold from `thresholds`. */
void clvae_tune_sample(uint64_t *rng, const clvae_tune_limits *lim, const clvae_gemm_params *best,
                       const size_t *thresholds, int n_thresholds, clvae_gemm_params *p);
/* Direct/indirect switch points that separate the shapes: 0 (all indirect), one above each
 * shape's cube root of m*n*k, and a value above all of them (all direct). Returns the count. */
int clvae_tune_thresholds(const clvae_gemm_shape *s, int n, size_t *out, int max);

/* ---- the search (ocl_tune.c) ---- */

typedef struct clvae_tune_options {
    double seconds;     /* time budget; at least one candidate is always evaluated */
    int max_candidates; /* 0 = no limit */
    bool progress;      /* progress on stderr: one line per candidate, or a \r line on a tty */
    bool helpers;       /* last 20% of the budget: the copy/pad/transpose kernels' parameters */
    int max_sets;       /* parameter sets in the file, 1..CLVAE_TUNE_MAX_SETS (0 = 1): on PoCL a
                           switch between sets costs the host about 2 ms, more than they saved */
    uint64_t seed;      /* random sampling */
} clvae_tune_options;

/* Searches CLBlast's GEMM parameters on the device of an OpenCL backend for the given shapes,
 * verifying every candidate against the reference GEMM (nmse <= 1e-8) before it may win, and
 * writes the tuning file into the backend's cache directory (`path` receives its name, "" when
 * there is no cache directory). The backend stays usable, with the winner applied. */
int clvae_opencl_tune(clvae_backend *be, const clvae_gemm_shape *shapes, int n,
                      const clvae_tune_options *o, clvae_tuning *result, char *path,
                      size_t path_size);

/* clvae_opencl_backend_create without applying the tuning file: CLBlast keeps its defaults, so
 * a search can measure them (clvae tune, bench_gemm). ocl_backend.c */
int clvae_opencl_backend_create_untuned(const clvae_config *cfg, clvae_backend *out);

/* Tuning state of an OpenCL backend at creation. */
typedef enum clvae_tuning_state {
    CLVAE_TUNING_NONE,    /* no tuning file for this device */
    CLVAE_TUNING_APPLIED, /* a tuning file was found and applied */
    CLVAE_TUNING_IGNORED  /* a tuning file was corrupt or for another device/version */
} clvae_tuning_state;

/* Whether `be` is an OpenCL backend, and its tuning state. */
bool clvae_backend_is_opencl(const clvae_backend *be);
clvae_tuning_state clvae_opencl_tuning_state(const clvae_backend *be);
/* Reads and applies the backend's tuning file now (as creation does); returns the new state. */
clvae_tuning_state clvae_opencl_tuning_reload(clvae_backend *be);
/* Path of the backend's tuning file ("" without a cache directory). */
void clvae_opencl_tuning_file(const clvae_backend *be, char *path, size_t size);

/* Reads the tuning file for the backend's device and applies it (ocl_backend.c calls this at
 * creation). Corrupt or foreign files are reported and ignored; never an error. */
struct ocl_ctx;
void clvae_ocl_tuning_load(struct ocl_ctx *c);

#endif
