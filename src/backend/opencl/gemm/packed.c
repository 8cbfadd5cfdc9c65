/* The packed GEMMs (cl/gemm_packed.cl) at run time: their program per variant, the buffer the
 * operand panels are packed into (grown on demand, kept by the context), and one GEMM as two
 * launches: pack op(A) and op(B)^T (form CLVAE_TILED_PACKED) or op(B)^T alone (form
 * CLVAE_TILED_PACKB, op(A) read in place), then the tile kernel. tiled.c builds and picks them
 * like the register-tiled forms. */
#include <stdio.h>

#include "backend/opencl/gemm/run.h"
#include "backend/opencl/ocl_internal.h"
#include "core/log.h"

int clvae_ocl_packed_build(struct ocl_ctx *c, const clvae_tiled *v, const char *what,
                           cl_program *prog, cl_kernel *gemm, cl_kernel *pack)
{
    char prelude[256];
    snprintf(prelude, sizeof prelude,
             "#pragma OPENCL FP_CONTRACT OFF\n#define CLVAE_GEMM_PACKED 1\n#define GP_MR %d\n"
             "#define GP_NB %d\n#define GP_VW %d\n#define GP_PACK_A %d\n",
             v->mr, v->nb, v->vw, v->form == CLVAE_TILED_PACKED);
    int st = clvae_ocl_program_build_file(c, prelude, "gemm_packed.cl", what, prog);
    if (st) return st;
    cl_int err;
    *gemm = clCreateKernel(*prog, "clvae_gemm_packed", &err);
    if (err != CL_SUCCESS)
        return clvae_ocl_fail(c, "gemm", "clCreateKernel(clvae_gemm_packed)", err);
    *pack = clCreateKernel(*prog, "clvae_gemm_pack", &err);
    if (err != CL_SUCCESS) return clvae_ocl_fail(c, "gemm", "clCreateKernel(clvae_gemm_pack)", err);
    return CLVAE_OK;
}

void clvae_ocl_pack_buf_free(clvae_pack_buf *b)
{
    if (b->mem) clReleaseMemObject(b->mem);
    b->mem = NULL;
    b->bytes = 0;
}

int clvae_ocl_pack_buf_grow(ocl_ctx *c, clvae_pack_buf *b, size_t bytes)
{
    if (bytes <= b->bytes) return CLVAE_OK;
    size_t want = bytes + bytes / 4;
    clvae_ocl_pack_buf_free(b);
    cl_int err;
    b->mem = clCreateBuffer(c->context, CL_MEM_READ_WRITE, want, NULL, &err);
    if (err != CL_SUCCESS) return clvae_ocl_fail(c, "gemm", "clCreateBuffer(GEMM scratch)", err);
    b->bytes = want;
    c->n_scratch_grow++;
    CLVAE_DEBUG("opencl gemm: a GEMM scratch buffer grown to %zu bytes", want);
    return CLVAE_OK;
}

int clvae_ocl_packed_gemm(struct ocl_ctx *c, cl_kernel gemm, cl_kernel kpack, const clvae_tiled *v,
                          const clvae_gemm_call *g, clvae_pack_buf *buf)
{
    const int mr = v->mr, nr = v->nb * v->vw;
    const bool pack_a = v->form == CLVAE_TILED_PACKED; /* packb: B's panels alone, from 0 */
    const size_t pm = (size_t)(g->m + mr - 1) / mr, pn = (size_t)(g->n + nr - 1) / nr;
    const cl_ulong a_floats = pack_a ? pm * mr * (size_t)g->k : 0;
    const cl_ulong b_floats = pn * nr * (size_t)g->k;
    int st = clvae_ocl_pack_buf_grow(c, buf, (size_t)(a_floats + b_floats) * sizeof(float));
    /* a recording keeps these panels alive past a later grow (ocl_cmdbuf.c) */
    if (!st) clvae_ocl_cmdbuf_hold(c, buf->mem);
    /* op(A)(r, q) is a[q lda + r] when transposed; op(B)^T(col, q) is b[col ldb + q] when B is */
    int ars = g->ta ? 1 : g->lda, aqs = g->ta ? g->lda : 1;
    int brs = g->tb ? g->ldb : 1, bqs = g->tb ? 1 : g->ldb;
    ocl_arg pargs[] = {OCL_ARG(g->k),  OCL_ARG(g->a),    OCL_ARG(g->aoff), OCL_ARG(g->m),
                       OCL_ARG(ars),   OCL_ARG(aqs),     OCL_ARG(g->b),    OCL_ARG(g->boff),
                       OCL_ARG(g->n),  OCL_ARG(brs),     OCL_ARG(bqs),     OCL_ARG(buf->mem),
                       OCL_ARG(a_floats)};
    size_t pglobal[3] = {(size_t)(pack_a && mr > nr ? mr : nr), (size_t)g->k,
                         (pack_a ? pm : 0) + pn};
    if (!st)
        st = clvae_ocl_gemm_enqueue(c, kpack, pargs, OCL_NARGS(pargs), pglobal[2] ? 3 : 2, pglobal,
                                    NULL);
    if (st) return st;
    int rows_first = v->rows_first;
    cl_mem bias = g->epi ? g->bias : g->c; /* never read without an epilogue */
    cl_mem a = pack_a ? buf->mem : g->a; /* packed: the panels (aoff, ars, aqs not read) */
    cl_ulong aoff = pack_a ? 0 : g->aoff;
    ocl_arg args[] = {OCL_ARG(g->m),     OCL_ARG(g->n),     OCL_ARG(g->k),    OCL_ARG(g->alpha),
                      OCL_ARG(a),        OCL_ARG(aoff),     OCL_ARG(ars),     OCL_ARG(aqs),
                      OCL_ARG(buf->mem), OCL_ARG(a_floats), OCL_ARG(g->beta), OCL_ARG(g->c),
                      OCL_ARG(g->coff),  OCL_ARG(g->ldc),   OCL_ARG(rows_first), OCL_ARG(bias),
                      OCL_ARG(g->biasoff), OCL_ARG(g->epi)};
    size_t gx = rows_first ? pm : pn, gy = rows_first ? pn : pm;
    size_t global[2] = {(gx + v->lx - 1) / v->lx * v->lx, gy}, local[2] = {(size_t)v->lx, 1};
    return clvae_ocl_gemm_enqueue(c, gemm, args, OCL_NARGS(args), 2, global, local);
}
