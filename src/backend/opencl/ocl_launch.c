/* Helpers shared by the OpenCL op files: error messages, view checks and kernel launches. */
#include <stdint.h>
#include <stdio.h>

#include "backend/opencl/ocl_internal.h"

int clvae_ocl_fail(const ocl_ctx *c, const char *op, const char *call, cl_int err)
{
    return clvae_error(CLVAE_ERR_DEVICE, "opencl %s on \"%s\": %s failed: %s (%d)", op, c->dev.name,
                       call, clvae_ocl_error_name(err), err);
}

int clvae_ocl_view(const ocl_ctx *c, const char *op, const char *name, clvae_view v, size_t floats,
                   cl_mem *mem, cl_ulong *off)
{
    if (!v.buf)
        return clvae_error(CLVAE_ERR_INTERNAL, "opencl %s on \"%s\": %s has no buffer", op,
                           c->dev.name, name);
    if (v.off % sizeof(float) != 0 || v.off > v.buf->bytes ||
        floats > (v.buf->bytes - v.off) / sizeof(float))
        return clvae_error(CLVAE_ERR_INTERNAL,
                           "opencl %s on \"%s\": %s (%zu floats at byte offset %zu) does not fit "
                           "its %zu-byte buffer or is not 4-byte aligned",
                           op, c->dev.name, name, floats, v.off, v.buf->bytes);
    *mem = v.buf->mem;
    *off = v.off / sizeof(float);
    return CLVAE_OK;
}

int clvae_ocl_launch(ocl_ctx *c, ocl_kernel_id k, const char *op, size_t items, size_t local,
                     const ocl_arg *args, int nargs)
{
    cl_kernel kern = c->kernels[k];
    if (items == 0) return CLVAE_OK;
    if (local == 0) local = c->local[k];
    if (items > SIZE_MAX - local)
        return clvae_error(CLVAE_ERR_INTERNAL, "opencl %s: %zu work-items is too many", op, items);
    for (int i = 0; i < nargs; i++) {
        cl_int err = clSetKernelArg(kern, (cl_uint)i, args[i].size, args[i].value);
        if (err != CL_SUCCESS) {
            char call[64];
            snprintf(call, sizeof call, "clSetKernelArg(%d)", i);
            return clvae_ocl_fail(c, op, call, err);
        }
    }
    size_t global = (items + local - 1) / local * local;
    cl_event ev = NULL; /* kept only while profiling (ocl_profile.c) */
    cl_int err = clEnqueueNDRangeKernel(c->queue, kern, 1, NULL, &global, &local, 0, NULL,
                                        OCL_PROF_EVENT(c, ev));
    if (err != CL_SUCCESS) return clvae_ocl_fail(c, op, "clEnqueueNDRangeKernel", err);
    clvae_ocl_prof_compute(c, op, ev);
    return CLVAE_OK;
}
