/* Lean steps on OpenCL, each against the plain path bit for bit (the parameters after a few
 * Adam steps of the default model's shape, narrower, with the batch in one of three upload
 * slots per step as the stream scheduler feeds it):
 * - the fused ops (sum_add2, reparam_bwd_col_sum) against the unfused sequence;
 * - the recorded and replayed step (device.command_buffer = auto) against
 *   device.command_buffer = off, twice: every GEMM on one register-tiled kernel, and the GEMMs
 *   on kernels with GEMM scratch (NT packb, NN packed, TN split along k, as a tuning file can
 *   choose), with GEMMs larger than the step's between steps (as an eval batch runs) that
 *   reallocate both scratch buffers, once between two recordings and once among the replays
 *   (the first recorded step itself grows the panel buffer between two of its GEMMs).
 *   Where the device offers cl_khr_command_buffer (device.command_buffer = on opens) the
 *   replays must happen; where it does not (rusticl) the auto path falls back to plain
 *   enqueues: the test says so and still compares the two. */
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "clvae/data.h"
#include "devrun.h"
#include "model/vae.h"
#include "model/vae_shapes.h"
#include "testutil.h"
#ifdef CLVAE_HAVE_OPENCL
#include "backend/opencl/gemm/tune.h"
#endif

#define STEPS 8
#define SLOTS 3
#define GROW_N 512 /* the larger GEMMs' m = n = k at most (the step's are 64 x 784 at most) */

#ifdef CLVAE_HAVE_OPENCL
/* Which kernels the steps' GEMMs run on (check_cmdbuf). */
typedef enum kernels { KERNELS_TILED, KERNELS_SCRATCH } kernels;

/* Backend counters over the steps after the first SLOTS (the recording ones). */
static clvae_backend_counters g_k0, g_k1;
static uint64_t g_grows; /* scratch reallocations by the larger GEMMs (KERNELS_SCRATCH) */
static uint64_t g_grows0; /* scratch allocations and reallocations in step 0 (recorded) */

/* Per transpose a kernel with GEMM scratch for the step's shapes, installed as a tuning file's
 * choices: NT packb (op(B)^T's panels), NN packed (both operands' panels), TN outer split in 3
 * along k (the slices' partial products). */
static int install_scratch(clvae_backend *be, const clvae_model *m, int batch, int samples)
{
    static clvae_tuning t;
    memset(&t, 0, sizeof t);
    t.n_shapes = clvae_model_gemm_shapes(m, batch, samples, t.shapes, CLVAE_TUNE_MAX_SHAPES);
    if (t.n_shapes <= 0) return clvae_error(CLVAE_ERR_INTERNAL, "test: no GEMM shapes");
    const clvae_tiled packb = {CLVAE_TILED_PACKB, 4, 2, 4, 1, 1, 0},
                      packed = {CLVAE_TILED_PACKED, 4, 2, 4, 1, 0, 0},
                      split = {CLVAE_TILED_OUTER, 3, 2, 4, 1, 0, 3};
    for (int i = 0; i < t.n_shapes; i++) {
        const clvae_gemm_shape *g = &t.shapes[i];
        t.shape_tiled[i] = !g->ta && g->tb ? packb : !g->ta ? packed : split;
        if (!clvae_tiled_valid(&t.shape_tiled[i], g->ta, g->tb))
            return clvae_error(CLVAE_ERR_INTERNAL, "test: no scratch kernel for %c%c",
                               g->ta ? 'T' : 'N', g->tb ? 'T' : 'N');
    }
    return clvae_ocl_tiled_install(be->ctx, &t);
}

/* A packed NN and a split-K GEMM of n x n x n, larger than the step's: both scratch buffers are
 * reallocated, as an eval batch does between epochs (counted in g_grows). */
static int grow_scratch(clvae_backend *be, int n)
{
    const clvae_backend_ops *o = be->ops;
    const clvae_tiled forms[2] = {{CLVAE_TILED_PACKED, 4, 2, 4, 1, 0, 0},
                                  {CLVAE_TILED_OUTER, 3, 2, 4, 1, 0, 4}};
    size_t bytes = (size_t)n * n * sizeof(float);
    clvae_buffer *buf[3] = {0};
    clvae_backend_counters k0 = {0}, k1 = {0};
    o->counters(be->ctx, &k0);
    int st = CLVAE_OK;
    for (int i = 0; i < 3 && !st; i++) {
        st = o->buffer_alloc(be->ctx, bytes, &buf[i]);
        if (!st) st = o->fill(be->ctx, (clvae_view){buf[i], 0}, (size_t)n * n, 0.5f);
    }
    for (int f = 0; f < 2 && !st; f++) {
        st = clvae_opencl_gemm_force(be, &forms[f]);
        if (!st)
            st = o->gemm(be->ctx, false, false, n, n, n, 1.0f, (clvae_view){buf[0], 0}, n,
                         (clvae_view){buf[1], 0}, n, 0.0f, (clvae_view){buf[2], 0}, n);
        clvae_opencl_gemm_force(be, NULL); /* back to the installed choices */
    }
    if (!st) st = o->finish(be->ctx);
    for (int i = 0; i < 3; i++)
        if (buf[i]) o->buffer_free(be->ctx, buf[i]);
    o->counters(be->ctx, &k1);
    g_grows += k1.scratch_grows - k0.scratch_grows;
    return st;
}

/* STEPS training steps, step s reading its batch from slot s % SLOTS; params (n_floats) out. */
static int run_steps(const clvae_config *cfg, const clvae_dataset *ds, clvae_backend *be,
                     kernels kern, float **params, size_t *n)
{
    clvae_model m;
    clvae_buffer *slot[SLOTS] = {0};
    int B = cfg->train.batch, st;
    size_t floats = (size_t)B * ds->dim;
    float *stage = malloc(floats * sizeof(float));
    *params = NULL;
    if (!stage) return clvae_error(CLVAE_ERR_NOMEM, "test: out of memory");
    if ((st = clvae_model_layout(&m, cfg, (int)ds->dim))) goto done;
    if ((st = clvae_model_init(&m, be, B, cfg->train.samples, true))) goto done;
    if (kern == KERNELS_SCRATCH && (st = install_scratch(be, &m, B, cfg->train.samples)))
        goto model;
    clvae_view own = m.x;
    for (int i = 0; i < SLOTS && !st; i++) {
        uint32_t idx[1024];
        for (int r = 0; r < B; r++)
            idx[r] = (uint32_t)(i * B + r);
        clvae_dataset_gather(ds, idx, (size_t)B, stage);
        st = be->ops->buffer_alloc(be->ctx, floats * sizeof(float), &slot[i]);
        if (!st) st = be->ops->upload(be->ctx, (clvae_view){slot[i], 0}, stage, floats * 4);
    }
    for (int s = 0; s < STEPS && !st; s++) {
        if (s == SLOTS && be->ops->counters) be->ops->counters(be->ctx, &g_k0);
        m.x = (clvae_view){slot[s % SLOTS], 0};
        /* between two recordings, then among the replays (after the counters' start) */
        if (kern == KERNELS_SCRATCH && (s == 1 || s == SLOTS + 1))
            st = grow_scratch(be, s == 1 ? GROW_N / 2 : GROW_N);
        clvae_backend_counters a = {0}, z = {0};
        if (s == 0) be->ops->counters(be->ctx, &a);
        if (!st) st = clvae_model_train_step(&m, B);
        if (s == 0) be->ops->counters(be->ctx, &z);
        if (s == 0) g_grows0 = z.scratch_grows - a.scratch_grows;
    }
    if (be->ops->counters) be->ops->counters(be->ctx, &g_k1);
    m.x = own;
    *n = m.n_floats;
    if (!st && !(*params = malloc(m.n_floats * sizeof(float))))
        st = clvae_error(CLVAE_ERR_NOMEM, "test: out of memory");
    if (!st) st = clvae_model_get_params(&m, *params);
    for (int i = 0; i < SLOTS; i++)
        be->ops->buffer_free(be->ctx, slot[i]);
model:
    clvae_model_free(&m);
done:
    free(stage);
    return st;
}

/* Forces a tiled GEMM valid for the model's three transposes (NT, TN, NN) on every shape. */
static int force_tiled(clvae_backend *be)
{
    static const clvae_tiled variants[] = {{CLVAE_TILED_OUTER, 3, 2, 4, 1, 0, 0},
                                           {CLVAE_TILED_OUTER, 5, 3, 1, 1, 0, 0},
                                           {CLVAE_TILED_DOT, 3, 2, 4, 1, 0, 0}};
    for (size_t v = 0; v < sizeof variants / sizeof *variants; v++)
        if (clvae_tiled_valid(&variants[v], false, true) &&
            clvae_tiled_valid(&variants[v], true, false) &&
            clvae_tiled_valid(&variants[v], false, false))
            return clvae_opencl_gemm_force(be, &variants[v]);
    return clvae_error(CLVAE_ERR_INTERNAL, "test: no tiled variant takes NT, TN and NN");
}

/* Recorded and replayed steps (on where offered, else auto) against op-by-op steps (off), the
 * GEMMs on `kern`. */
static void check_cmdbuf(const clvae_config *base, const clvae_dataset *ds, kernels kern)
{
    const char *what = kern == KERNELS_TILED ? "tiled GEMMs" : "packb/packed/split-K GEMMs";
    float *p[2] = {NULL, NULL};
    size_t n[2] = {0, 0};
    uint64_t replays = 0;
    bool offered = false;
    double launches[2] = {0, 0}, host_us[2] = {0, 0};
    char name[256] = "";
    for (int on = 0; on < 2; on++) {
        clvae_config c = *base;
        clvae_backend be;
        c.device.command_buffer = on ? CLVAE_CMDBUF_ON : CLVAE_CMDBUF_OFF;
        offered = on && clvae_opencl_backend_create(&c, &be) == CLVAE_OK;
        c.device.command_buffer = on ? CLVAE_CMDBUF_AUTO : CLVAE_CMDBUF_OFF;
        if (!offered && clvae_opencl_backend_create(&c, &be) != CLVAE_OK) {
            CHECK(0, "backend: %s", clvae_last_error());
            return;
        }
        snprintf(name, sizeof name, "%s", be.ops->device_name(be.ctx));
        if (kern == KERNELS_TILED) CHECK(force_tiled(&be) == CLVAE_OK, "%s", clvae_last_error());
        g_grows = 0;
        CHECK(run_steps(&c, ds, &be, kern, &p[on], &n[on]) == CLVAE_OK, "%s", clvae_last_error());
        clvae_backend_counters k = {0};
        be.ops->counters(be.ctx, &k);
        launches[on] = (double)(g_k1.launches - g_k0.launches) / (STEPS - SLOTS);
        host_us[on] = (double)(g_k1.enqueue_ns - g_k0.enqueue_ns) / 1e3 / (STEPS - SLOTS);
        if (on)
            replays = k.replays;
        else
            CHECK(k.replays == 0, "%s: replays with command_buffer = off", name);
        /* two larger-GEMM passes, each growing the panel and the split-K scratch; and the
         * first step (recorded where offered) allocates both and grows the panels once more
         * between its GEMMs (a later GEMM packs more), which its replays must survive */
        if (kern == KERNELS_SCRATCH) {
            CHECK(g_grows == 4, "%s: %llu scratch reallocations by the larger GEMMs, expected 4",
                  name, (unsigned long long)g_grows);
            CHECK(g_grows0 > 2, "%s: %llu scratch allocations in the first step, expected > 2",
                  name, (unsigned long long)g_grows0);
        }
        clvae_backend_free(&be);
    }
    if (getenv("LEAN_DEBUG") && p[0] && p[1]) {
        size_t bad = 0, first = 0;
        for (size_t i = 0; i < n[0]; i++)
            if (p[0][i] != p[1][i] && !bad++) first = i;
        printf("debug: %zu of %zu differ, first %zu: %.9g vs %.9g\n", bad, n[0], first, p[0][first],
               p[1][first]);
    }
    /* exact: a replay runs the recorded kernels with the same arguments (scratch included: the
     * recording holds the buffers it used), the step state holding the very floats the plain
     * launch passes */
    CHECK(p[0] && p[1] && n[0] == n[1] && memcmp(p[0], p[1], n[0] * sizeof(float)) == 0,
          "%s, %s: replayed and op-by-op steps give different parameters", name, what);
    /* 3 slots, STEPS steps: the first step on each slot records, the others replay */
    if (offered)
        CHECK(replays == STEPS - SLOTS, "%s, %s: %llu replays, expected %d", name, what,
              (unsigned long long)replays, STEPS - SLOTS);
    else
        CHECK(replays == 0, "%s: %llu replays where command buffers are not offered", name,
              (unsigned long long)replays);
    printf(
        "%s, %s: command buffers %s; parameters after %d steps %s\n", name, what,
        offered ? "replayed" : "not offered (SKIP of the replay path: the fallback was compared)",
        STEPS, p[0] && p[1] && !memcmp(p[0], p[1], n[0] * sizeof(float)) ? "identical" : "DIFFER");
    /* not a speed claim (a loaded shared machine): what one step costs the host, back to back */
    printf("%s, %s: per step after recording: op by op %.1f launches, %.1f us host enqueue; "
           "command_buffer = auto %.1f launches, %.1f us (under load)\n",
           name, what, launches[0], host_us[0], launches[1], host_us[1]);
    free(p[0]);
    free(p[1]);
}

/* The fused slots against the same backend with them taken out of its ops table. */
static void check_fusions(const clvae_config *cfg, const clvae_dataset *ds, clvae_backend *be)
{
    clvae_backend_ops plain_ops = *be->ops;
    plain_ops.sum_add2 = NULL;
    plain_ops.reparam_bwd_col_sum = NULL;
    clvae_backend plain = {&plain_ops, be->ctx};
    float *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    CHECK(be->ops->sum_add2 && be->ops->reparam_bwd_col_sum, "the OpenCL backend lacks a fusion");
    CHECK(run_steps(cfg, ds, &plain, KERNELS_TILED, &a, &na) == CLVAE_OK, "%s", clvae_last_error());
    CHECK(run_steps(cfg, ds, be, KERNELS_TILED, &b, &nb) == CLVAE_OK, "%s", clvae_last_error());
    /* exact: each fusion adds the same floats in the same order as the ops it replaces */
    CHECK(a && b && na == nb && memcmp(a, b, na * sizeof(float)) == 0,
          "%s: fused and unfused steps give different parameters", be->ops->device_name(be->ctx));
    free(a);
    free(b);
}
#endif

int main(void)
{
#ifndef CLVAE_HAVE_OPENCL
    printf("SKIP: built without OpenCL\n");
    return TU_SKIP;
#else
    clvae_dataset ds;
    clvae_config base, c;
    if (dr_load_images(&ds, 512)) return TU_SKIP;
    setenv("RUSTICL_ENABLE", "swrast", 1);
    const char *platforms[] = {"portable", "rusticl"};
    int ran = 0;
    for (int p = 0; p < 2; p++) {
        clvae_config_defaults(&base);
        /* rusticl/llvmpipe is slow: a narrower model there */
        int h = p == 0 ? 64 : 32;
        base.model.encoder[0] = (clvae_widths){.n = 1, .w = {h}};
        base.model.decoder[0] = (clvae_widths){.n = 1, .w = {h}};
        base.train.batch = h;
        base.device.autotune = false;
        clvae_backend be;
        if (dr_open_platform(&base, platforms[p], &c, &be) != CLVAE_OK) {
            printf("SKIP device %s: %s\n", platforms[p], clvae_last_error());
            continue;
        }
        ran++;
        printf("%s\n", be.ops->device_name(be.ctx));
        check_fusions(&c, &ds, &be);
        clvae_backend_free(&be);
        check_cmdbuf(&c, &ds, KERNELS_TILED);
        check_cmdbuf(&c, &ds, KERNELS_SCRATCH);
    }
    clvae_dataset_free(&ds);
    if (!ran) {
        printf("SKIP: no OpenCL device\n");
        return TU_SKIP;
    }
    return tu_finish("test_lean");
#endif
}
