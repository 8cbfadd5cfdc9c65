/* Record the training step once, replay it (cl_khr_command_buffer, provisional 0.9.0 as PoCL 3.1
 * and NVIDIA's drivers offer it). Recording runs the step as always, op by op, and adds every
 * kernel to a command buffer as well, so the recording step itself is the plain step and a
 * step that turns out not to be recordable (a GEMM on CLBlast, a kernel with other per-step
 * arguments) has lost nothing. The two arguments that change every step live in a 16-byte
 * device-side step state (reparam's Philox step, Adam's step size and sqrt(1 - beta2^t)): the
 * recorded reparam and Adam commands read it, and a replay writes it with clEnqueueFillBuffer
 * (the pattern is copied at the call, so no host memory must outlive it) before enqueueing the
 * buffer on the in-order compute queue. Every recorded command gets a kernel object of its own
 * with its arguments set: PoCL 3.1 reads a recorded kernel's arguments when the buffer runs,
 * not when the command is recorded (a later clSetKernelArg on the shared kernel would change
 * the recorded command). GEMM scratch buffers (the packed forms' panels, split-K's partial
 * products) are reallocated when a larger GEMM comes (an eval batch); a command buffer need not
 * keep the buffers its commands name alive, so a recording retains each scratch buffer it uses
 * (clvae_ocl_cmdbuf_hold) and its graph releases them when freed: a replay after a grow runs
 * on the buffers it was recorded with, large enough for the step's own GEMMs (the context's
 * later op-by-op GEMMs take the new one). Entry points come from
 * clGetExtensionFunctionAddressForPlatform; device.command_buffer = off never loads them. */
#include <stdlib.h>
#include <string.h>

#include <CL/cl_ext.h>

#include "backend/opencl/ocl_internal.h"
#include "core/log.h"

struct ocl_cmdbuf {
    clCreateCommandBufferKHR_fn create;
    clFinalizeCommandBufferKHR_fn finalize;
    clReleaseCommandBufferKHR_fn release;
    clEnqueueCommandBufferKHR_fn enqueue;
    clCommandNDRangeKernelKHR_fn ndrange;
    bool simultaneous; /* a buffer may be enqueued again while pending */
    cl_mem state;      /* (OCL_STATE_BYTES) the step state */
    /* The recording in progress (cur NULL: none). */
    cl_command_buffer_khr cur;
    const char *why; /* NULL while recordable, else why not (static) */
    cl_sync_point_khr last;
    bool have_last;
    int state_arg; /* the next command's step-state argument, -1 = none */
    uint64_t noise_step, t;
    bool adam;
    float lr, beta1, beta2;
    bool logged;      /* a refusal was logged */
    uint64_t n_cmds;  /* commands recorded (the GEMM slot checks that its kernel was) */
    cl_kernel *kerns; /* (n_kerns) the recorded commands' own kernel objects */
    size_t n_kerns, cap_kerns;
    cl_mem *mems; /* (n_mems) retained: the scratch buffers the recorded commands use */
    size_t n_mems, cap_mems;
};

struct clvae_graph {
    cl_command_buffer_khr cb;
    cl_command_queue queue; /* the queue it was recorded for */
    bool adam;
    float lr, beta1, beta2;
    cl_event last;    /* the newest replay (waited on without simultaneous use) */
    cl_kernel *kerns; /* (n_kerns) owned: the commands' kernel objects */
    size_t n_kerns;
    cl_mem *mems; /* (n_mems) owned references: the scratch buffers the commands use */
    size_t n_mems;
};

/* The step state's layout (OCL_STATE_*). */
typedef union step_state {
    cl_ulong u[2];
    float f[4];
} step_state;

static void release_kernels(cl_kernel *k, size_t n)
{
    for (size_t i = 0; i < n; i++)
        clReleaseKernel(k[i]);
    free(k);
}

static void release_mems(cl_mem *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        clReleaseMemObject(m[i]);
    free(m);
}

/* Drops what the recording in progress owns (its kernels and held buffers). */
static void drop_recorded(struct ocl_cmdbuf *b)
{
    release_kernels(b->kerns, b->n_kerns);
    release_mems(b->mems, b->n_mems);
    b->kerns = NULL;
    b->n_kerns = b->cap_kerns = 0;
    b->mems = NULL;
    b->n_mems = b->cap_mems = 0;
}

/* Whether the device's extension list names `ext` as a whole word. */
static bool has_extension(const ocl_ctx *c, const char *ext)
{
    size_t size = 0;
    if (clGetDeviceInfo(c->dev.id, CL_DEVICE_EXTENSIONS, 0, NULL, &size) != CL_SUCCESS || !size)
        return false;
    char *list = malloc(size + 1);
    bool found = false;
    if (list && clGetDeviceInfo(c->dev.id, CL_DEVICE_EXTENSIONS, size, list, NULL) == CL_SUCCESS) {
        list[size] = '\0';
        size_t n = strlen(ext);
        for (const char *p = strstr(list, ext); p && !found; p = strstr(p + 1, ext))
            found = (p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0');
    }
    free(list);
    return found;
}

/* Why recording is not offered here (static text), or NULL with the entry points loaded. */
static const char *load(ocl_ctx *c, struct ocl_cmdbuf *b)
{
    if (!has_extension(c, "cl_khr_command_buffer")) return "the device lacks cl_khr_command_buffer";
    cl_command_queue_properties need = 0;
    cl_device_command_buffer_capabilities_khr caps = 0;
    clGetDeviceInfo(c->dev.id, CL_DEVICE_COMMAND_BUFFER_REQUIRED_QUEUE_PROPERTIES_KHR, sizeof need,
                    &need, NULL);
    if (need & ~(cl_command_queue_properties)CL_QUEUE_PROFILING_ENABLE)
        return "its command buffers need an out-of-order queue";
    clGetDeviceInfo(c->dev.id, CL_DEVICE_COMMAND_BUFFER_CAPABILITIES_KHR, sizeof caps, &caps, NULL);
    b->simultaneous = (caps & CL_COMMAND_BUFFER_CAPABILITY_SIMULTANEOUS_USE_KHR) != 0;
    cl_platform_id p = c->dev.platform;
    b->create = (clCreateCommandBufferKHR_fn)clGetExtensionFunctionAddressForPlatform(
        p, "clCreateCommandBufferKHR");
    b->finalize = (clFinalizeCommandBufferKHR_fn)clGetExtensionFunctionAddressForPlatform(
        p, "clFinalizeCommandBufferKHR");
    b->release = (clReleaseCommandBufferKHR_fn)clGetExtensionFunctionAddressForPlatform(
        p, "clReleaseCommandBufferKHR");
    b->enqueue = (clEnqueueCommandBufferKHR_fn)clGetExtensionFunctionAddressForPlatform(
        p, "clEnqueueCommandBufferKHR");
    b->ndrange = (clCommandNDRangeKernelKHR_fn)clGetExtensionFunctionAddressForPlatform(
        p, "clCommandNDRangeKernelKHR");
    if (!b->create || !b->finalize || !b->release || !b->enqueue || !b->ndrange)
        return "the platform does not export its cl_khr_command_buffer entry points";
    return NULL;
}

int clvae_ocl_cmdbuf_init(ocl_ctx *c, clvae_cmdbuf_mode mode)
{
    if (mode == CLVAE_CMDBUF_OFF) return CLVAE_OK;
    struct ocl_cmdbuf *b = calloc(1, sizeof *b);
    if (!b) return clvae_error(CLVAE_ERR_NOMEM, "opencl: out of host memory");
    b->state_arg = -1;
    const char *why = load(c, b);
    cl_int err = CL_SUCCESS;
    if (!why) {
        b->state = clCreateBuffer(c->context, CL_MEM_READ_WRITE, OCL_STATE_BYTES, NULL, &err);
        if (err != CL_SUCCESS) why = "the step-state buffer could not be created";
    }
    if (why) {
        free(b);
        if (mode == CLVAE_CMDBUF_ON)
            return clvae_error(CLVAE_ERR_INPUT,
                               "device.command_buffer = on, but on \"%s\" %s (valid: auto, off)",
                               c->dev.name, why);
        CLVAE_INFO("opencl: steps are enqueued op by op on \"%s\": %s", c->dev.name, why);
        return CLVAE_OK;
    }
    CLVAE_DEBUG("opencl: cl_khr_command_buffer on \"%s\"%s", c->dev.name,
                b->simultaneous ? " (simultaneous use)" : "");
    c->cb = b;
    return CLVAE_OK;
}

void clvae_ocl_cmdbuf_free(ocl_ctx *c)
{
    struct ocl_cmdbuf *b = c->cb;
    if (!b) return;
    if (b->cur) b->release(b->cur);
    drop_recorded(b);
    if (b->state) clReleaseMemObject(b->state);
    free(b);
    c->cb = NULL;
}

bool clvae_ocl_recording(const ocl_ctx *c)
{
    return c->cb && c->cb->cur;
}

void clvae_ocl_cmdbuf_refuse(ocl_ctx *c, const char *why)
{
    if (clvae_ocl_recording(c) && !c->cb->why) c->cb->why = why;
}

void clvae_ocl_cmdbuf_hold(ocl_ctx *c, cl_mem mem)
{
    struct ocl_cmdbuf *b = c->cb;
    if (!clvae_ocl_recording(c) || b->why || !mem) return;
    for (size_t i = 0; i < b->n_mems; i++)
        if (b->mems[i] == mem) return;
    if (b->n_mems == b->cap_mems) {
        size_t cap = b->cap_mems ? 2 * b->cap_mems : 4;
        cl_mem *r = realloc(b->mems, cap * sizeof *r);
        if (!r) {
            b->why = "out of host memory holding a GEMM scratch buffer";
            return;
        }
        b->mems = r;
        b->cap_mems = cap;
    }
    if (clRetainMemObject(mem) != CL_SUCCESS) {
        b->why = "a GEMM scratch buffer could not be retained";
        return;
    }
    b->mems[b->n_mems++] = mem;
}

void clvae_ocl_cmdbuf_step_arg(ocl_ctx *c, int arg, uint64_t value, int which)
{
    struct ocl_cmdbuf *b = c->cb;
    if (!clvae_ocl_recording(c)) return;
    if (value != (which == 0 ? b->noise_step : b->t))
        clvae_ocl_cmdbuf_refuse(c, "a kernel's step argument differs from the recorded step's");
    b->state_arg = arg;
}

void clvae_ocl_cmdbuf_adam(ocl_ctx *c, float lr, float beta1, float beta2)
{
    struct ocl_cmdbuf *b = c->cb;
    if (!clvae_ocl_recording(c)) return;
    if (b->adam && (b->lr != lr || b->beta1 != beta1 || b->beta2 != beta2))
        clvae_ocl_cmdbuf_refuse(c, "two optimizer launches with different settings");
    b->adam = true;
    b->lr = lr;
    b->beta1 = beta1;
    b->beta2 = beta2;
}

/* A new kernel object for `kern`'s function with args (the step state for argument `state`),
 * kept in b->kerns; NULL with b->why set on failure. */
static cl_kernel own_kernel(struct ocl_cmdbuf *b, cl_kernel kern, const ocl_arg *args, int nargs,
                            int state)
{
    char name[128];
    cl_program prog = NULL;
    cl_int err = clGetKernelInfo(kern, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL);
    if (!err) err = clGetKernelInfo(kern, CL_KERNEL_PROGRAM, sizeof prog, &prog, NULL);
    cl_kernel k = err ? NULL : clCreateKernel(prog, name, &err);
    if (err || !k) {
        b->why = "a kernel object for a recorded command could not be created";
        return NULL;
    }
    for (int i = 0; i < nargs && !err; i++)
        err = i == state ? clSetKernelArg(k, (cl_uint)i, sizeof(cl_mem), &b->state)
                         : clSetKernelArg(k, (cl_uint)i, args[i].size, args[i].value);
    if (!err && b->n_kerns == b->cap_kerns) {
        size_t cap = b->cap_kerns ? 2 * b->cap_kerns : 64;
        cl_kernel *r = realloc(b->kerns, cap * sizeof *r);
        if (r)
            b->kerns = r, b->cap_kerns = cap;
        else
            err = CL_OUT_OF_HOST_MEMORY;
    }
    if (err) {
        clReleaseKernel(k);
        b->why = "setting a recorded command's arguments failed";
        return NULL;
    }
    b->kerns[b->n_kerns++] = k;
    return k;
}

void clvae_ocl_cmdbuf_add(ocl_ctx *c, cl_kernel kern, const ocl_arg *args, int nargs, cl_uint dims,
                          const size_t *global, const size_t *local)
{
    struct ocl_cmdbuf *b = c->cb;
    if (!clvae_ocl_recording(c)) return;
    int arg = b->state_arg;
    b->state_arg = -1;
    if (b->why || !kern) return;
    cl_kernel own = own_kernel(b, kern, args, nargs, arg);
    if (!own) return;
    cl_sync_point_khr sp;
    cl_int err = b->ndrange(b->cur, NULL, NULL, own, dims, NULL, global, local,
                            b->have_last ? 1 : 0, b->have_last ? &b->last : NULL, &sp, NULL);
    if (err != CL_SUCCESS) {
        b->why = "clCommandNDRangeKernelKHR failed";
        CLVAE_DEBUG("opencl: clCommandNDRangeKernelKHR: %s (%d)", clvae_ocl_error_name(err), err);
        return;
    }
    b->last = sp;
    b->have_last = true;
    b->n_cmds++;
}

uint64_t clvae_ocl_cmdbuf_count(const ocl_ctx *c)
{
    return clvae_ocl_recording(c) ? c->cb->n_cmds : 0;
}

int clvae_ocl_graph_begin(void *ctx, uint64_t noise_step, uint64_t t)
{
    ocl_ctx *c = ctx;
    struct ocl_cmdbuf *b = c->cb;
    if (!b) return clvae_error(CLVAE_ERR_UNSUPPORTED, "opencl: no command buffers here");
    if (b->cur) return clvae_error(CLVAE_ERR_INTERNAL, "opencl: graph_begin while recording");
    cl_command_buffer_properties_khr props[] = {CL_COMMAND_BUFFER_FLAGS_KHR,
                                                CL_COMMAND_BUFFER_SIMULTANEOUS_USE_KHR, 0};
    cl_int err;
    b->cur = b->create(1, &c->queue, b->simultaneous ? props : NULL, &err);
    if (err != CL_SUCCESS || !b->cur) {
        b->cur = NULL;
        CLVAE_WARN("opencl: clCreateCommandBufferKHR failed on \"%s\": %s (%d); steps are "
                   "enqueued op by op",
                   c->dev.name, clvae_ocl_error_name(err), err);
        return clvae_error(CLVAE_ERR_UNSUPPORTED, "opencl: clCreateCommandBufferKHR failed");
    }
    b->why = NULL;
    drop_recorded(b); /* nothing left over: graph_end hands them on or drops them */
    b->have_last = false;
    b->state_arg = -1;
    b->noise_step = noise_step;
    b->t = t;
    b->adam = false;
    return CLVAE_OK;
}

int clvae_ocl_graph_end(void *ctx, clvae_graph **out)
{
    ocl_ctx *c = ctx;
    struct ocl_cmdbuf *b = c->cb;
    *out = NULL;
    if (!b || !b->cur) return clvae_error(CLVAE_ERR_INTERNAL, "opencl: graph_end without begin");
    cl_command_buffer_khr cb = b->cur;
    b->cur = NULL;
    if (!b->why && !b->have_last) b->why = "the step enqueued no kernel";
    if (!b->why) {
        cl_int err = b->finalize(cb);
        if (err != CL_SUCCESS) b->why = "clFinalizeCommandBufferKHR failed";
    }
    clvae_graph *g = b->why ? NULL : calloc(1, sizeof *g);
    if (!g) {
        b->release(cb);
        drop_recorded(b);
        if (!b->why) return clvae_error(CLVAE_ERR_NOMEM, "opencl: out of host memory");
        if (!b->logged)
            CLVAE_INFO("opencl: the training step is enqueued op by op on \"%s\": %s", c->dev.name,
                       b->why);
        b->logged = true;
        return CLVAE_OK;
    }
    *g = (clvae_graph){cb,   c->queue, b->adam,    b->lr,   b->beta1, b->beta2,
                       NULL, b->kerns, b->n_kerns, b->mems, b->n_mems};
    b->kerns = NULL; /* the graph owns them now */
    b->n_kerns = b->cap_kerns = 0;
    b->mems = NULL;
    b->n_mems = b->cap_mems = 0;
    *out = g;
    return CLVAE_OK;
}

int clvae_ocl_graph_replay(void *ctx, clvae_graph *g, uint64_t noise_step, uint64_t t)
{
    ocl_ctx *c = ctx;
    struct ocl_cmdbuf *b = c->cb;
    if (!b || g->queue != c->queue)
        return clvae_error(CLVAE_ERR_DEVICE, "opencl: a recorded step outlived its queue");
    step_state s = {.u = {noise_step, 0}};
    if (g->adam)
        clvae_ocl_adam_scalars(g->lr, g->beta1, g->beta2, t, &s.f[OCL_STATE_ADAM_STEP],
                               &s.f[OCL_STATE_ADAM_SBC2]);
    if (!b->simultaneous && g->last) { /* it may not be enqueued again while pending */
        cl_int err = clWaitForEvents(1, &g->last);
        if (err != CL_SUCCESS) return clvae_ocl_fail(c, "graph_replay", "clWaitForEvents", err);
    }
    int64_t t0 = clvae_ocl_now_ns();
    cl_int err = clEnqueueFillBuffer(c->queue, b->state, &s, sizeof s, 0, sizeof s, 0, NULL, NULL);
    if (err != CL_SUCCESS) return clvae_ocl_fail(c, "graph_replay", "clEnqueueFillBuffer", err);
    cl_event ev = NULL;
    err = b->enqueue(0, NULL, g->cb, 0, NULL, &ev);
    if (err != CL_SUCCESS)
        return clvae_ocl_fail(c, "graph_replay", "clEnqueueCommandBufferKHR", err);
    clvae_ocl_count(c, t0, 2);
    c->n_replay++;
    if (g->last) clReleaseEvent(g->last);
    g->last = ev;
    if (clvae_ocl_prof_compute_on(c) && clRetainEvent(ev) == CL_SUCCESS)
        clvae_ocl_prof_compute(c, "command_buffer", ev);
    return CLVAE_OK;
}

void clvae_ocl_graph_free(void *ctx, clvae_graph *g)
{
    ocl_ctx *c = ctx;
    if (!g) return;
    if (g->last) {
        clWaitForEvents(1, &g->last);
        clReleaseEvent(g->last);
    }
    if (c->cb) c->cb->release(g->cb);
    release_kernels(g->kerns, g->n_kerns);
    release_mems(g->mems, g->n_mems); /* after the buffer: it no longer names them */
    free(g);
}
