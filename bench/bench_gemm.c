/* bench_gemm: GF/s of the configured model's GEMM shapes (and 1024^3) with CLBlast's default
 * parameters, with the device's tuning file applied, and with OpenBLAS's cblas_sgemm, all in
 * one run; prints a table and one JSON line per shape plus a per-step summary.
 *   usage: bench_gemm [-c FILE] [--set SECTION.KEY=VALUE]... [--no-default]
 *                     [--shape TT:MxNxK]... [--kernel SPEC]...
 *   (repo root; --no-default skips the slow CLBlast-defaults column). --shape (e.g.
 *   TN:784x2048x2048, T = transposed) times those shapes instead of the model's; each --kernel
 *   (e.g. "packed 8x2x16 rows", "packb 8x2x16 rows", "outer 8x3x16/4", "CLBlast": as
 *   clvae_tiled_format prints them) adds a column with that kernel forced on every shape; each
 *   shape's columns, OpenBLAS's included, are timed back to back. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "backend/ref/ref_math.h"
#include "clvae/config.h"
#include "clvae/data.h"
#include "clvae/status.h"
#include "model/vae.h"
#include "train/autotune.h"
#ifdef CLVAE_HAVE_OPENCL
#include "backend/opencl/gemm/tune.h"
#endif
#ifdef CLVAE_HAVE_OPENBLAS
#include <cblas.h>
#endif

#define MAX_SHAPES 40
#define BATCH_SECONDS 0.02
#define BATCHES 5

typedef struct row {
    clvae_gemm_shape s;
    float *a, *b, *c_blas, *c_cl; /* host copies */
    double ms_default, ms_tuned, ms_blas, nmse_default, nmse_tuned;
    double ms_kernel[8], nmse_kernel[8]; /* --kernel columns (0: not valid for the shape) */
} row;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double gflops(const clvae_gemm_shape *s, double ms)
{
    return ms > 0 ? 2.0 * s->m * s->n * s->k / (ms * 1e6) : 0.0;
}

static bool skip_default; /* --no-default: only tuned and OpenBLAS (CLBlast's defaults are slow) */
#define MAX_KERNELS 8
static clvae_gemm_shape user_shapes[MAX_SHAPES]; /* --shape */
static int n_user_shapes;
static char kernel_specs[MAX_KERNELS][64]; /* --kernel */
static int n_kernels;

/* "TN:784x2048x2048" */
static int parse_shape(const char *v)
{
    char ta, tb;
    int m, n, k, used = 0;
    if (n_user_shapes == MAX_SHAPES - 1 ||
        sscanf(v, "%c%c:%dx%dx%d%n", &ta, &tb, &m, &n, &k, &used) != 5 || v[used] ||
        (ta != 'N' && ta != 'T') || (tb != 'N' && tb != 'T') || m < 1 || n < 1 || k < 1)
        return clvae_error(CLVAE_ERR_USAGE,
                           "bench_gemm: --shape \"%s\": want TT:MxNxK with T one of N, T "
                           "(e.g. NT:512x1024x784), at most %d shapes",
                           v, MAX_SHAPES - 1);
    user_shapes[n_user_shapes++] = (clvae_gemm_shape){ta == 'T', tb == 'T', m, n, k, 1};
    return CLVAE_OK;
}

static int parse_args(int argc, char **argv, clvae_config *cfg)
{
    clvae_config_defaults(cfg);
    int st = CLVAE_OK;
    for (int i = 1; i < argc && !st; i += 2) {
        if (!strcmp(argv[i], "--no-default")) {
            skip_default = true;
            i--;
            continue;
        }
        if (i + 1 < argc && !strcmp(argv[i], "--shape")) {
            st = parse_shape(argv[i + 1]);
            continue;
        }
        if (i + 1 < argc && !strcmp(argv[i], "--kernel") && n_kernels < MAX_KERNELS) {
            snprintf(kernel_specs[n_kernels++], sizeof kernel_specs[0], "%s", argv[i + 1]);
            continue;
        }
        if (i + 1 >= argc || (strcmp(argv[i], "-c") && strcmp(argv[i], "--set"))) {
            fprintf(stderr, "usage: bench_gemm [-c FILE] [--set SECTION.KEY=VALUE]... "
                            "[--no-default] [--shape TT:MxNxK]... [--kernel SPEC]...\n");
            return CLVAE_ERR_USAGE;
        }
        st = !strcmp(argv[i], "-c") ? clvae_config_load(cfg, argv[i + 1])
                                    : clvae_config_set(cfg, argv[i + 1]);
    }
    return st ? st : clvae_config_validate(cfg);
}

/* The model's shapes (layer table from the data's feature count) and 1024^3. */
static int collect_shapes(const clvae_config *cfg, row *rows, int *n)
{
    clvae_dataset ds = {0};
    clvae_model m = {0};
    clvae_gemm_shape s[MAX_SHAPES];
    int k = n_user_shapes, st = CLVAE_OK;
    memcpy(s, user_shapes, sizeof user_shapes);
    if (k == 0) {
        st = clvae_dataset_load(&ds, cfg->data.train, NULL, cfg->data.format, 1);
        if (!st) st = clvae_model_layout(&m, cfg, (int)ds.dim);
        clvae_dataset_free(&ds);
        if (st) return st;
        k = clvae_model_gemm_shapes(&m, cfg->train.batch, cfg->train.samples, s, MAX_SHAPES - 1);
        s[k++] = (clvae_gemm_shape){false, false, 1024, 1024, 1024, 0};
    }
    for (int i = 0; i < k; i++) {
        rows[i] = (row){.s = s[i]};
        size_t na = (size_t)s[i].m * s[i].k, nb = (size_t)s[i].k * s[i].n;
        size_t nc = (size_t)s[i].m * s[i].n;
        rows[i].a = malloc(na * 4);
        rows[i].b = malloc(nb * 4);
        rows[i].c_blas = malloc(nc * 4);
        rows[i].c_cl = malloc(nc * 4);
        if (!rows[i].a || !rows[i].b || !rows[i].c_blas || !rows[i].c_cl)
            return clvae_error(CLVAE_ERR_NOMEM, "bench_gemm: out of memory");
        for (size_t j = 0; j < na; j++)
            rows[i].a[j] = (float)((j * 2654435761u) % 2001) / 1000.0f - 1.0f;
        for (size_t j = 0; j < nb; j++)
            rows[i].b[j] = (float)((j * 40503u + 7) % 2001) / 1000.0f - 1.0f;
        *n = i + 1;
    }
    return CLVAE_OK;
}

/* Times fn(ctx) as the fastest of BATCHES batches; returns ms per call. */
static double time_calls(int (*fn)(void *), void *ctx, int *st)
{
    double t = now_s();
    *st = fn(ctx);
    double one = now_s() - t, best = one;
    int reps = one > 0 ? (int)(BATCH_SECONDS / one) : 100;
    reps = reps < 1 ? 1 : reps > 200 ? 200 : reps;
    for (int b = 0; b < BATCHES && !*st; b++) {
        t = now_s();
        for (int i = 0; i < reps && !*st; i++)
            *st = fn(ctx);
        double per = (now_s() - t) / reps;
        if (per < best) best = per;
    }
    return best * 1e3;
}

#ifdef CLVAE_HAVE_OPENBLAS
static int blas_call(void *p)
{
    row *r = p;
    const clvae_gemm_shape *s = &r->s;
    cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans,
                s->m, s->n, s->k, 1.0f, r->a, s->ta ? s->m : s->k, r->b, s->tb ? s->k : s->n, 0.0f,
                r->c_blas, s->n);
    return 0;
}
#endif

#ifdef CLVAE_HAVE_OPENCL
typedef struct cl_case {
    clvae_backend *be;
    row *r;
    clvae_buffer *a, *b, *c;
} cl_case;

static int cl_call(void *p)
{
    cl_case *k = p;
    const clvae_gemm_shape *s = &k->r->s;
    int st = k->be->ops->gemm(k->be->ctx, s->ta, s->tb, s->m, s->n, s->k, 1.0f,
                              (clvae_view){k->a, 0}, s->ta ? s->m : s->k, (clvae_view){k->b, 0},
                              s->tb ? s->k : s->n, 0.0f, (clvae_view){k->c, 0}, s->n);
    return st ? st : k->be->ops->finish(k->be->ctx);
}

/* Times one shape on the backend with CLBlast's current parameters; nmse vs OpenBLAS. */
static int time_cl(clvae_backend *be, row *r, double *ms, double *err)
{
    const clvae_backend_ops *o = be->ops;
    const clvae_gemm_shape *s = &r->s;
    size_t na = (size_t)s->m * s->k, nb = (size_t)s->k * s->n, nc = (size_t)s->m * s->n;
    cl_case k = {be, r, NULL, NULL, NULL};
    int st = o->buffer_alloc(be->ctx, na * 4, &k.a);
    if (!st) st = o->buffer_alloc(be->ctx, nb * 4, &k.b);
    if (!st) st = o->buffer_alloc(be->ctx, nc * 4, &k.c);
    if (!st) st = o->upload(be->ctx, (clvae_view){k.a, 0}, r->a, na * 4);
    if (!st) st = o->upload(be->ctx, (clvae_view){k.b, 0}, r->b, nb * 4);
    if (!st) *ms = time_calls(cl_call, &k, &st);
    if (!st) st = o->download(be->ctx, (clvae_view){k.c, 0}, r->c_cl, nc * 4);
    if (!st) *err = clvae_nmse(r->c_blas, r->c_cl, nc);
    if (k.a) o->buffer_free(be->ctx, k.a);
    if (k.b) o->buffer_free(be->ctx, k.b);
    if (k.c) o->buffer_free(be->ctx, k.c);
    return st;
}

/* "packed 8x2x16/4 rows" or "outer 8x1x16 k8" (clvae_tiled_format's spelling) or "CLBlast". */
static int parse_kernel(const char *spec, clvae_tiled *v)
{
    *v = (clvae_tiled){CLVAE_TILED_NONE, 0, 0, 0, 1, 0, 0};
    if (!strcmp(spec, "CLBlast")) return CLVAE_OK;
    char form[16];
    int used = 0, more = 0;
    bool ok = sscanf(spec, "%15s %dx%dx%d%n", form, &v->mr, &v->nb, &v->vw, &used) == 4;
    const char *p = spec + used;
    if (ok && *p == '/') {
        ok = sscanf(p, "/%d%n", &v->lx, &more) == 1;
        p += more;
    }
    if (ok && !strncmp(p, " rows", 5)) {
        v->rows_first = 1;
        p += 5;
    }
    if (ok && *p == ' ') {
        ok = sscanf(p, " k%d%n", &v->ks, &more) == 1;
        p += ok ? more : 0;
    }
    if (*p) ok = false;
    for (int f = CLVAE_TILED_OUTER; ok && f <= CLVAE_TILED_LAST; f++)
        if (!strcmp(form, clvae_tiled_form_name(f))) v->form = f;
    if (ok && v->form != CLVAE_TILED_NONE && clvae_tiled_valid(v, false, false)) return CLVAE_OK;
    if (ok && v->form == CLVAE_TILED_DOT && clvae_tiled_valid(v, false, true)) return CLVAE_OK;
    return clvae_error(CLVAE_ERR_USAGE,
                       "bench_gemm: --kernel \"%s\": want FORM MRxNBxVW[/LX][ rows][ kN] with FORM "
                       "outer, dot, packed or packb (e.g. \"packed 8x2x16 rows\"), or CLBlast",
                       spec);
}

/* Every shape with every --kernel forced, back to back per shape. */
static int time_kernels(clvae_backend *be, row *rows, int n)
{
    clvae_tiled v[MAX_KERNELS];
    int st = CLVAE_OK;
    for (int j = 0; j < n_kernels && !st; j++)
        st = parse_kernel(kernel_specs[j], &v[j]);
    for (int i = 0; i < n && !st; i++) {
#ifdef CLVAE_HAVE_OPENBLAS
        rows[i].ms_blas = time_calls(blas_call, &rows[i], &st); /* next to the kernels */
#endif
        for (int j = 0; j < n_kernels && !st; j++) {
            if (!clvae_tiled_valid(&v[j], rows[i].s.ta, rows[i].s.tb)) continue;
            st = clvae_opencl_gemm_force(be, &v[j]);
            if (!st) st = time_cl(be, &rows[i], &rows[i].ms_kernel[j], &rows[i].nmse_kernel[j]);
        }
    }
    int st2 = clvae_opencl_gemm_force(be, NULL);
    return st ? st : st2;
}

static void print_kernels(const row *rows, int n)
{
    printf("%-22s %14s", "shape (m x n x k)", "OpenBLAS GF/s");
    for (int j = 0; j < n_kernels; j++)
        printf("  %22s", kernel_specs[j]);
    printf("\n");
    for (int i = 0; i < n; i++) {
        const row *r = &rows[i];
        char name[64];
        snprintf(name, sizeof name, "%c%c %dx%dx%d", r->s.ta ? 'T' : 'N', r->s.tb ? 'T' : 'N',
                 r->s.m, r->s.n, r->s.k);
        printf("%-22s %14.1f", name, gflops(&r->s, r->ms_blas));
        for (int j = 0; j < n_kernels; j++)
            printf("  %13.1f (%6.1e)", gflops(&r->s, r->ms_kernel[j]), r->nmse_kernel[j]);
        printf("\n");
        for (int j = 0; j < n_kernels; j++)
            printf("{\"shape\": \"%s\", \"kernel\": \"%s\", \"gflops\": %.2f, \"nmse\": %.2e, "
                   "\"openblas_gflops\": %.2f}\n",
                   name, kernel_specs[j], gflops(&r->s, r->ms_kernel[j]), r->nmse_kernel[j],
                   gflops(&r->s, r->ms_blas));
    }
    printf("(GF/s, nmse against OpenBLAS in parentheses; 0.0: the kernel does not take the "
           "shape's transposes)\n");
}

#endif

static void print_table(const row *rows, int n, bool tuned)
{
    double d = 0, t = 0, b = 0;
    printf("%-18s %5s %13s %11s %14s %9s %10s %11s\n", "shape (m x n x k)", "calls", "default GF/s",
           "tuned GF/s", "OpenBLAS GF/s", "tuned/def", "tuned/BLAS", "tuned nmse");
    for (int i = 0; i < n; i++) {
        const row *r = &rows[i];
        char name[64];
        snprintf(name, sizeof name, "%c%c %dx%dx%d", r->s.ta ? 'T' : 'N', r->s.tb ? 'T' : 'N',
                 r->s.m, r->s.n, r->s.k);
        double gd = gflops(&r->s, r->ms_default), gt = gflops(&r->s, r->ms_tuned);
        double gb = gflops(&r->s, r->ms_blas);
        printf("%-18s %5d %13.1f %11.1f %14.1f %8.1fx %9.0f%% %11.1e\n", name, r->s.calls, gd,
               tuned ? gt : 0, gb, tuned && gd > 0 ? gt / gd : 0,
               tuned && gb > 0 ? 100 * gt / gb : 0, r->nmse_tuned);
        printf("{\"shape\": \"%s\", \"m\": %d, \"n\": %d, \"k\": %d, \"calls\": %d, "
               "\"default_gflops\": %.2f, \"tuned_gflops\": %.2f, \"openblas_gflops\": %.2f, "
               "\"default_nmse\": %.2e, \"tuned_nmse\": %.2e}\n",
               name, r->s.m, r->s.n, r->s.k, r->s.calls, gd, tuned ? gt : 0, gb, r->nmse_default,
               r->nmse_tuned);
        d += r->ms_default * r->s.calls;
        t += r->ms_tuned * r->s.calls;
        b += r->ms_blas * r->s.calls;
    }
    printf("per training step (calls-weighted): default %.3f ms, tuned %.3f ms, OpenBLAS %.3f ms; "
           "tuned/default %.1fx, tuned at %.0f%% of OpenBLAS\n",
           d, tuned ? t : 0, b, tuned && t > 0 ? d / t : 0, tuned && t > 0 ? 100 * b / t : 0);
    printf("{\"summary\": \"step\", \"default_ms\": %.4f, \"tuned_ms\": %.4f, \"openblas_ms\": "
           "%.4f}\n",
           d, tuned ? t : 0, b);
}

#ifdef CLVAE_HAVE_OPENCL
static int run(const clvae_config *cfg, row *rows, int n)
{
    clvae_backend be = {0};
    int st = CLVAE_OK;
    for (int i = 0; i < n && n_kernels == 0; i++) {
#ifdef CLVAE_HAVE_OPENBLAS
        rows[i].ms_blas = time_calls(blas_call, &rows[i], &st);
#endif
    }
    if (n_kernels > 0) { /* the tuning file's CLBlast parameters, then each kernel forced */
        st = clvae_opencl_backend_create(cfg, &be);
        if (!st) st = time_kernels(&be, rows, n);
        if (!st) printf("device: %s\n", be.ops->device_name(be.ctx));
        clvae_backend_free(&be);
        if (!st) print_kernels(rows, n);
        return st;
    }
    st = clvae_opencl_backend_create_untuned(cfg, &be);
    for (int i = 0; i < n && !st && !skip_default; i++)
        st = time_cl(&be, &rows[i], &rows[i].ms_default, &rows[i].nmse_default);
    bool tuned = !st && clvae_opencl_tuning_reload(&be) == CLVAE_TUNING_APPLIED;
    for (int i = 0; i < n && !st && tuned; i++)
        st = time_cl(&be, &rows[i], &rows[i].ms_tuned, &rows[i].nmse_tuned);
    if (!st) printf("device: %s\n", be.ops->device_name(be.ctx));
#ifdef CLVAE_HAVE_OPENBLAS
    printf("OpenBLAS: core %s, %d threads (OPENBLAS_CORETYPE overrides the detected core)\n",
           openblas_get_corename(), openblas_get_num_threads());
#endif
    clvae_backend_free(&be);
    if (!st) print_table(rows, n, tuned);
    return st;
}
#else
static int run(const clvae_config *cfg, row *rows, int n)
{
    return clvae_error(CLVAE_ERR_UNSUPPORTED, "bench_gemm needs a build with OpenCL");
}
#endif

int main(int argc, char **argv)
{
    clvae_config cfg;
    row rows[MAX_SHAPES] = {0};
    int n = 0;
    int st = parse_args(argc, argv, &cfg);
    if (!st) st = collect_shapes(&cfg, rows, &n);
    if (!st) st = run(&cfg, rows, n);
    for (int i = 0; i < n; i++) {
        free(rows[i].a);
        free(rows[i].b);
        free(rows[i].c_blas);
        free(rows[i].c_cl);
    }
    if (st) fprintf(stderr, "bench_gemm: error: %s\n", clvae_last_error());
    return st ? 1 : 0;
}
