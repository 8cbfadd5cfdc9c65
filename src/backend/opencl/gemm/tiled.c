/* clvae's GEMM kernels at run time, the register-tiled forms (cl/gemm_tiled.cl) and the packed
 * one (cl/gemm_packed.cl, launched by packed.c): one program per variant and transposes (per
 * variant for packed), built on first use through the kernel cache; the per-shape choices from
 * the tuning file (a shape the tuner did not time takes its nearest tuned neighbour's choice); and
 * a forced variant for the tuner, test_ops and clvae check. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/opencl/ocl_internal.h"
#include "backend/opencl/gemm/run.h"
#include "core/log.h"

#define MAX_BUILT 96    /* distinct (variant, transposes) programs one context keeps */
#define NEAR_LOG 1.3863 /* ln 4: how far (per dimension) a tuned shape's choice reaches */

typedef struct tiled_prog {
    bool ta, tb;
    clvae_tiled v;
    cl_program prog;
    cl_kernel kern; /* NULL: the build failed (reported once; the GEMM goes to CLBlast) */
    cl_kernel kpack; /* packed forms: the panel-packing kernel */
    cl_kernel ksum;  /* outer: split-K's sum of the slices */
    size_t sum_lx;   /* its work-group width (the device's limit for it, at most 64) */
} tiled_prog;

typedef struct tiled_choice {
    clvae_gemm_key s; /* first: clvae_gemm_key_find */
    clvae_tiled v;
} tiled_choice;

struct ocl_gemm_tiled {
    tiled_prog built[MAX_BUILT];
    int n_built;
    tiled_choice choice[CLVAE_TUNE_MAX_SHAPES]; /* the tuning file's shapes */
    int n_choices;
    tiled_choice seen[CLVAE_TUNE_MAX_SHAPES]; /* other shapes met so far, and what they took */
    int n_seen;
    bool forced;
    clvae_tiled force;
    clvae_pack_buf pack; /* packed forms: the operand panels */
    clvae_pack_buf split; /* split-K: the slices' partial products (ks, m, n) */
};

static struct ocl_gemm_tiled *state(ocl_ctx *c)
{
    if (!c->tiled) {
        c->tiled = calloc(1, sizeof *c->tiled);
        if (!c->tiled) clvae_error(CLVAE_ERR_NOMEM, "opencl: out of host memory (tiled GEMM)");
    }
    return c->tiled;
}

void clvae_ocl_tiled_free(ocl_ctx *c)
{
    struct ocl_gemm_tiled *t = c->tiled;
    if (!t) return;
    for (int i = 0; i < t->n_built; i++) {
        if (t->built[i].kern) clReleaseKernel(t->built[i].kern);
        if (t->built[i].kpack) clReleaseKernel(t->built[i].kpack);
        if (t->built[i].ksum) clReleaseKernel(t->built[i].ksum);
        if (t->built[i].prog) clReleaseProgram(t->built[i].prog);
    }
    clvae_ocl_pack_buf_free(&t->pack);
    clvae_ocl_pack_buf_free(&t->split);
    free(t);
    c->tiled = NULL;
}

/* The same program (the grid order is a kernel argument). */
static bool same_variant(const clvae_tiled *a, const clvae_tiled *b)
{
    return a->form == b->form && a->mr == b->mr && a->nb == b->nb && a->vw == b->vw &&
           a->lx == b->lx;
}

static int check_group(ocl_ctx *c, tiled_prog *p, const char *what);

/* Builds the program of v for these transposes and checks the work-group size fits. */
static int build(ocl_ctx *c, tiled_prog *p)
{
    char prelude[320], what[96], name[48];
    clvae_tiled prog = p->v;
    prog.rows_first = 0; /* a kernel argument: both orders share the program (and its name) */
    clvae_tiled_format(&prog, name, sizeof name);
    snprintf(what, sizeof what, "the tiled GEMM %s %c%c", name, p->ta ? 'T' : 'N',
             p->tb ? 'T' : 'N');
    int st;
    if (clvae_tiled_is_packed(p->v.form)) {
        snprintf(what, sizeof what, "the GEMM %s", name);
        st = clvae_ocl_packed_build(c, &p->v, what, &p->prog, &p->kern, &p->kpack);
        if (st && p->kern) { /* half built: the program counts as failed */
            clReleaseKernel(p->kern);
            p->kern = NULL;
        }
        return st ? st : check_group(c, p, what);
    }
    snprintf(prelude, sizeof prelude,
             "#pragma OPENCL FP_CONTRACT OFF\n#define CLVAE_GEMM_TILED 1\n#define GT_FORM %d\n#define GT_TA %d\n#define GT_TB %d\n"
             "#define GT_MR %d\n#define GT_NB %d\n#define GT_VW %d\n",
             p->v.form, p->ta, p->tb, p->v.mr, p->v.nb, p->v.vw);
    st = clvae_ocl_program_build_file(c, prelude, "gemm_tiled.cl", what, &p->prog);
    if (st) return st;
    cl_int err;
    p->kern = clCreateKernel(p->prog, "clvae_gemm_tiled", &err);
    if (err != CL_SUCCESS)
        return clvae_ocl_fail(c, "gemm", "clCreateKernel(clvae_gemm_tiled)", err);
    p->ksum = clCreateKernel(p->prog, "clvae_gemm_split_sum", &err);
    if (err != CL_SUCCESS) {
        clReleaseKernel(p->kern);
        p->kern = NULL;
        return clvae_ocl_fail(c, "gemm", "clCreateKernel(clvae_gemm_split_sum)", err);
    }
    size_t lx = 1;
    clGetKernelWorkGroupInfo(p->ksum, c->dev.id, CL_KERNEL_WORK_GROUP_SIZE, sizeof lx, &lx, NULL);
    if (lx > 64) lx = 64;
    if (lx > c->max_item[0]) lx = c->max_item[0];
    p->sum_lx = lx ? lx : 1;
    return check_group(c, p, what);
}

/* Whether the variant's work-group fits what the device allows its GEMM kernel. */
static int check_group(ocl_ctx *c, tiled_prog *p, const char *what)
{
    size_t kwg = 0;
    clGetKernelWorkGroupInfo(p->kern, c->dev.id, CL_KERNEL_WORK_GROUP_SIZE, sizeof kwg, &kwg, NULL);
    if ((size_t)p->v.lx > kwg || (size_t)p->v.lx > c->max_item[0]) {
        clReleaseKernel(p->kern);
        p->kern = NULL;
        return clvae_error(CLVAE_ERR_UNSUPPORTED,
                           "opencl: %s needs work-groups of %d, \"%s\" allows %zu for it", what,
                           p->v.lx, c->dev.name, kwg < c->max_item[0] ? kwg : c->max_item[0]);
    }
    return CLVAE_OK;
}

/* The program of v for these transposes, built on first use; NULL with the error recorded. */
static const tiled_prog *kernel_for(ocl_ctx *c, struct ocl_gemm_tiled *t, const clvae_tiled *v,
                                    bool ta, bool tb, int *st)
{
    if (clvae_tiled_is_packed(v->form)) ta = tb = false; /* one program for every transpose */
    for (int i = 0; i < t->n_built; i++)
        if (t->built[i].ta == ta && t->built[i].tb == tb && same_variant(&t->built[i].v, v)) {
            if (!t->built[i].kern)
                *st = clvae_error(CLVAE_ERR_DEVICE,
                                  "opencl: a tiled GEMM variant failed to build or does not fit "
                                  "the device's work-group limits");
            return t->built[i].kern ? &t->built[i] : NULL;
        }
    if (t->n_built == MAX_BUILT) {
        *st = clvae_error(CLVAE_ERR_UNSUPPORTED, "opencl: more than %d tiled GEMM variants",
                          MAX_BUILT);
        return NULL;
    }
    tiled_prog *p = &t->built[t->n_built++];
    *p = (tiled_prog){ta, tb, *v, NULL, NULL, NULL, NULL, 0};
    *st = build(c, p);
    return *st ? NULL : p;
}

/* How far tuned shape g is from (m, n, k): the sum of the log ratios, or INFINITY when a
 * dimension other than the batch one differs by more than NEAR_LOG. The batch dimension (m of
 * NN and NT: rows of activations; k of TN: weight gradients sum over rows) may differ freely:
 * the tiled forms spread m over more work-items at the same per-item cost and take a longer k
 * in each work-item's loop, so a choice made at the training batch also fits the last short
 * batch and evaluation's large ones. */
static double distance(const tiled_choice *g, int m, int n, int k)
{
    double d[3] = {fabs(log((double)g->s.m / m)), fabs(log((double)g->s.n / n)),
                   fabs(log((double)g->s.k / k))};
    int batch = g->s.ta && !g->s.tb ? 2 : !g->s.ta ? 0 : -1;
    for (int i = 0; i < 3; i++)
        if (i != batch && d[i] > NEAR_LOG) return INFINITY;
    return d[0] + d[1] + d[2];
}

/* What a shape runs with: its own tuned choice, else the nearest tuned shape's (distance()),
 * else CLBlast; remembered. */
static clvae_tiled choose(struct ocl_gemm_tiled *t, bool ta, bool tb, int m, int n, int k)
{
    const clvae_gemm_key key = {ta, tb, m, n, k};
    const tiled_choice *h = clvae_gemm_key_find(t->choice, sizeof *h, t->n_choices, &key);
    if (!h) h = clvae_gemm_key_find(t->seen, sizeof *h, t->n_seen, &key);
    if (h) return h->v;
    clvae_tiled v = {CLVAE_TILED_NONE, 0, 0, 0, 0, 0, 0};
    double best = INFINITY;
    for (int i = 0; i < t->n_choices; i++) {
        const tiled_choice *g = &t->choice[i];
        double d = g->s.ta == ta && g->s.tb == tb ? distance(g, m, n, k) : INFINITY;
        if (d < best) best = d, v = g->v;
    }
    if (t->n_seen < CLVAE_TUNE_MAX_SHAPES)
        t->seen[t->n_seen++] = (tiled_choice){key, v};
    return v;
}

int clvae_ocl_tiled_install(ocl_ctx *c, const clvae_tuning *tu)
{
    struct ocl_gemm_tiled *t = c->tiled;
    if (t) t->n_choices = t->n_seen = 0;
    for (int i = 0; tu && i < tu->n_shapes && i < CLVAE_TUNE_MAX_SHAPES; i++) {
        const clvae_gemm_shape *s = &tu->shapes[i];
        if (!t && !(t = state(c))) return CLVAE_ERR_NOMEM;
        t->choice[t->n_choices++] =
            (tiled_choice){{s->ta, s->tb, s->m, s->n, s->k}, tu->shape_tiled[i]};
    }
    return CLVAE_OK;
}

int clvae_opencl_gemm_force(clvae_backend *be, const clvae_tiled *v)
{
    if (!clvae_backend_is_opencl(be)) return CLVAE_OK;
    ocl_ctx *c = be->ctx;
    struct ocl_gemm_tiled *t = state(c);
    if (!t) return CLVAE_ERR_NOMEM;
    t->forced = v != NULL;
    if (v) t->force = *v;
    return CLVAE_OK;
}

/* The tile kernel over (m, n) tiles and `slices` k slices (1: unsplit). */
static int launch(ocl_ctx *c, cl_kernel kern, const clvae_tiled *v, int m, int n, int slices,
                  const ocl_arg *args, int nargs)
{
    size_t cols = v->form == CLVAE_TILED_DOT ? (size_t)v->nb : (size_t)v->nb * v->vw;
    size_t gx = ((size_t)n + cols - 1) / cols, gy = ((size_t)m + v->mr - 1) / v->mr;
    if (v->rows_first) {
        size_t t = gx;
        gx = gy;
        gy = t;
    }
    size_t global[3] = {(gx + v->lx - 1) / v->lx * v->lx, gy, (size_t)slices};
    size_t local[3] = {(size_t)v->lx, 1, 1};
    return clvae_ocl_gemm_enqueue(c, kern, args, nargs, slices > 1 ? 3 : 2, global, local);
}

/* The variant a GEMM of this shape runs with, its program built; 1 (and *prog NULL) when the
 * shape goes to CLBlast. */
static int pick(ocl_ctx *c, bool ta, bool tb, int m, int n, int k, clvae_tiled *v,
                const tiled_prog **prog)
{
    struct ocl_gemm_tiled *t = c->tiled;
    *prog = NULL;
    if (!t || (!t->forced && t->n_choices == 0)) return 1;
    *v = t->forced ? t->force : choose(t, ta, tb, m, n, k);
    if (v->form == CLVAE_TILED_NONE) return 1;
    if (!clvae_tiled_valid(v, ta, tb)) {
        if (!t->forced) return 1; /* not reachable from a checked file; CLBlast then */
        return clvae_error(CLVAE_ERR_INTERNAL, "opencl: the forced tiled GEMM does not fit %c%c",
                           ta ? 'T' : 'N', tb ? 'T' : 'N');
    }
    int st = CLVAE_OK;
    *prog = kernel_for(c, t, v, ta, tb, &st);
    if (*prog) return CLVAE_OK;
    if (t->forced) return st;
    CLVAE_WARN("opencl: %s; that GEMM shape runs on CLBlast", clvae_last_error());
    for (int i = 0; i < t->n_choices; i++) /* do not try it again */
        if (t->choice[i].s.ta == ta && t->choice[i].s.tb == tb && same_variant(&t->choice[i].v, v))
            t->choice[i].v.form = CLVAE_TILED_NONE;
    t->n_seen = 0;
    return 1;
}

bool clvae_ocl_tiled_takes(ocl_ctx *c, bool ta, bool tb, int m, int n, int k)
{
    clvae_tiled v;
    const tiled_prog *prog;
    return pick(c, ta, tb, m, n, k, &v, &prog) == CLVAE_OK;
}

/* Split-K: the tile kernel writes each of the ks k-slices' products (alpha 1, beta 0, no
 * epilogue) into its own (m, n) block of the split scratch, then clvae_gemm_split_sum adds
 * the blocks in slice order and applies alpha, beta and the epilogue: two launches, the same
 * bits on every run. A recording holds the scratch it used (ocl_cmdbuf.c), as the packed
 * panels, so a later grow leaves a recorded step's buffer alone. */
static int split_gemm(ocl_ctx *c, const tiled_prog *prog, const clvae_tiled *v,
                      const clvae_gemm_call *g)
{
    int kc = (g->k + v->ks - 1) / v->ks, slices = (g->k + kc - 1) / kc;
    cl_ulong cstride = (cl_ulong)g->m * (cl_ulong)g->n, zero = 0;
    clvae_pack_buf *buf = &c->tiled->split;
    int st = clvae_ocl_pack_buf_grow(c, buf, (size_t)slices * cstride * sizeof(float));
    if (st) return st;
    clvae_ocl_cmdbuf_hold(c, buf->mem);
    float one = 1.0f, nil = 0.0f;
    int none = 0, ldp = g->n;
    ocl_arg args[] = {OCL_ARG(g->m),    OCL_ARG(g->n),   OCL_ARG(g->k),     OCL_ARG(one),
                      OCL_ARG(g->a),    OCL_ARG(g->aoff), OCL_ARG(g->lda),  OCL_ARG(g->b),
                      OCL_ARG(g->boff), OCL_ARG(g->ldb), OCL_ARG(nil),      OCL_ARG(buf->mem),
                      OCL_ARG(zero),    OCL_ARG(ldp),    OCL_ARG(v->rows_first), OCL_ARG(buf->mem),
                      OCL_ARG(zero),    OCL_ARG(none),   OCL_ARG(kc),       OCL_ARG(cstride)};
    if ((st = launch(c, prog->kern, v, g->m, g->n, slices, args, OCL_NARGS(args)))) return st;
    cl_mem bias = g->epi ? g->bias : g->c;
    ocl_arg sargs[] = {OCL_ARG(g->m),    OCL_ARG(g->n),    OCL_ARG(slices),  OCL_ARG(g->alpha),
                       OCL_ARG(buf->mem), OCL_ARG(g->beta), OCL_ARG(g->c),    OCL_ARG(g->coff),
                       OCL_ARG(g->ldc),  OCL_ARG(bias),    OCL_ARG(g->biasoff), OCL_ARG(g->epi)};
    size_t local[2] = {prog->sum_lx, 1};
    size_t global[2] = {((size_t)g->n + local[0] - 1) / local[0] * local[0], (size_t)g->m};
    return clvae_ocl_gemm_enqueue(c, prog->ksum, sargs, OCL_NARGS(sargs), 2, global, local);
}

int clvae_ocl_tiled_gemm_epi(ocl_ctx *c, const clvae_gemm_call *g)
{
    clvae_tiled v;
    const tiled_prog *prog;
    int st = pick(c, g->ta, g->tb, g->m, g->n, g->k, &v, &prog);
    if (st) return st;
    if (clvae_tiled_is_packed(v.form))
        return clvae_ocl_packed_gemm(c, prog->kern, prog->kpack, &v, g, &c->tiled->pack);
    if (v.ks > 1 && g->k > 1) return split_gemm(c, prog, &v, g);
    /* without an epilogue the bias argument is C (never read) */
    cl_mem bias = g->epi ? g->bias : g->c;
    int kc = g->k;
    cl_ulong cstride = 0;
    ocl_arg args[] = {OCL_ARG(g->m),    OCL_ARG(g->n),   OCL_ARG(g->k),    OCL_ARG(g->alpha),
                      OCL_ARG(g->a),    OCL_ARG(g->aoff), OCL_ARG(g->lda), OCL_ARG(g->b),
                      OCL_ARG(g->boff), OCL_ARG(g->ldb), OCL_ARG(g->beta), OCL_ARG(g->c),
                      OCL_ARG(g->coff), OCL_ARG(g->ldc), OCL_ARG(v.rows_first), OCL_ARG(bias),
                      OCL_ARG(g->biasoff), OCL_ARG(g->epi), OCL_ARG(kc), OCL_ARG(cstride)};
    return launch(c, prog->kern, &v, g->m, g->n, 1, args, OCL_NARGS(args));
}

int clvae_ocl_tiled_gemm(ocl_ctx *c, bool ta, bool tb, int m, int n, int k, float alpha, cl_mem a,
                         cl_ulong aoff, int lda, cl_mem b, cl_ulong boff, int ldb, float beta,
                         cl_mem cm, cl_ulong coff, int ldc)
{
    const clvae_gemm_call g = {.ta = ta, .tb = tb, .m = m, .n = n, .k = k, .alpha = alpha,
                               .beta = beta, .a = a, .b = b, .c = cm, .aoff = aoff, .boff = boff,
                               .coff = coff, .lda = lda, .ldb = ldb, .ldc = ldc};
    return clvae_ocl_tiled_gemm_epi(c, &g);
}

int clvae_opencl_tiled_choices(const clvae_backend *be, clvae_gemm_shape *shapes, clvae_tiled *v,
                               int max)
{
    if (!clvae_backend_is_opencl(be)) return 0;
    const struct ocl_gemm_tiled *t = ((const ocl_ctx *)be->ctx)->tiled;
    int n = 0;
    for (int i = 0; t && i < t->n_choices && n < max; i++) {
        const tiled_choice *h = &t->choice[i];
        if (h->v.form == CLVAE_TILED_NONE) continue;
        shapes[n] = (clvae_gemm_shape){h->s.ta, h->s.tb, h->s.m, h->s.n, h->s.k, 1};
        v[n++] = h->v;
    }
    return n;
}
