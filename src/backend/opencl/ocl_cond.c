/* The conditional-model ops of the OpenCL backend (backend.h "Conditional models"): checks the
 * shapes and views and enqueues the cl/cond.cl kernel on the in-order compute queue. */
#include "backend/opencl/ocl_internal.h"

int clvae_ocl_onehot(void *ctx, int rows, int batch, int classes, clvae_view labels,
                     clvae_view out)
{
    ocl_ctx *c = ctx;
    const char *op = "onehot";
    cl_mem lm, om;
    cl_ulong lo, oo;
    cl_uint r = (cl_uint)rows, b = (cl_uint)batch, k = (cl_uint)classes;
    size_t count = (size_t)rows * (classes > 0 ? classes : 0);
    if (rows < 0 || classes < 0 || (rows > 0 && batch <= 0))
        return clvae_error(CLVAE_ERR_INTERNAL,
                           "opencl %s on \"%s\": bad shape rows %d batch %d classes %d", op,
                           c->dev.name, rows, batch, classes);
    if (count == 0) return CLVAE_OK;
    int st = clvae_ocl_view(c, op, "labels", labels, (size_t)(batch < rows ? batch : rows), &lm, &lo);
    if (!st) st = clvae_ocl_view(c, op, "out", out, count, &om, &oo);
    if (st) return st;
    ocl_arg args[] = {OCL_ARG(lm), OCL_ARG(lo), OCL_ARG(om), OCL_ARG(oo),
                      OCL_ARG(r),  OCL_ARG(b),  OCL_ARG(k)};
    return clvae_ocl_launch(c, OCL_K_ONEHOT, op, count, 0, args, OCL_NARGS(args));
}
