/* The C API's handles: version, logging, device list, contexts, creating, loading, saving and
 * freeing models (include/clvae/clvae.h). Training and inference are in api_model.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api_internal.h"
#include "backend/backend.h"
#include "core/log.h"
#include "io/safetensors.h"
#include "train/checkpoint.h"

#ifdef CLVAE_HAVE_OPENCL
#include <CL/cl.h>
#endif

static bool log_set; /* the user chose a log sink; else the API keeps the library silent */

const char *clvae_version(void)
{
    return CLVAE_VERSION_STRING;
}

int clvae_set_log(int level, clvae_log_fn fn, void *user)
{
    if (level < CLVAE_LOG_LEVEL_DEBUG || level > CLVAE_LOG_LEVEL_OFF)
        return clvae_error(CLVAE_ERR_INPUT, "clvae_set_log: level %d is not one of 0 (debug) .. "
                                            "4 (off)", level);
    clvae_log_route(level, fn, user);
    log_set = true;
    return CLVAE_OK;
}

int api_need(const void *p, const char *what)
{
    return p ? CLVAE_OK : clvae_error(CLVAE_ERR_INPUT, "%s is NULL", what);
}

/* ---- devices ---- */

static void put_device(clvae_device_info *out, int cap, int *n, const char *name,
                       const char *platform, const char *type, const char *backend)
{
    if (*n < cap) {
        clvae_device_info *d = &out[*n];
        snprintf(d->name, sizeof d->name, "%s", name);
        snprintf(d->platform, sizeof d->platform, "%s", platform);
        snprintf(d->type, sizeof d->type, "%s", type);
        snprintf(d->backend, sizeof d->backend, "%s", backend);
    }
    (*n)++;
}

#ifdef CLVAE_HAVE_OPENCL
static void opencl_devices(clvae_device_info *out, int cap, int *n)
{
    cl_platform_id plats[16];
    cl_uint np = 0;
    if (clGetPlatformIDs(16, plats, &np) != CL_SUCCESS) return; /* no ICD: no OpenCL devices */
    for (cl_uint p = 0; p < np && p < 16; p++) {
        char pname[256] = "";
        cl_device_id devs[32];
        cl_uint nd = 0;
        clGetPlatformInfo(plats[p], CL_PLATFORM_NAME, sizeof pname, pname, NULL);
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 32, devs, &nd) != CL_SUCCESS) continue;
        for (cl_uint d = 0; d < nd && d < 32; d++) {
            char dname[256] = "";
            cl_device_type t = 0;
            clGetDeviceInfo(devs[d], CL_DEVICE_NAME, sizeof dname, dname, NULL);
            clGetDeviceInfo(devs[d], CL_DEVICE_TYPE, sizeof t, &t, NULL);
            const char *type = (t & CL_DEVICE_TYPE_GPU) ? "gpu" : (t & CL_DEVICE_TYPE_CPU) ? "cpu"
                               : (t & CL_DEVICE_TYPE_ACCELERATOR) ? "accelerator" : "other";
            put_device(out, cap, n, dname, pname, type, "opencl");
        }
    }
}
#endif

int clvae_devices(clvae_device_info *out, int cap, int *count)
{
    int st = api_need(count, "clvae_devices: count");
    if (st) return st;
    if (cap < 0 || (cap > 0 && !out))
        return clvae_error(CLVAE_ERR_INPUT, "clvae_devices: out is NULL with cap = %d", cap);
    int n = 0;
    put_device(out, cap, &n, "reference", "", "cpu", "ref");
#ifdef CLVAE_HAVE_OPENCL
    opencl_devices(out, cap, &n);
#endif
    *count = n;
    return CLVAE_OK;
}

/* ---- contexts ---- */

int clvae_context_create(const char *device, clvae_context **out)
{
    int st = api_need(out, "clvae_context_create: out");
    if (st) return st;
    *out = NULL;
    if (device && strlen(device) >= sizeof((clvae_context *)0)->device)
        return clvae_error(CLVAE_ERR_INPUT, "device selection '%.40s...' is too long", device);
    if (!log_set) clvae_log_route(CLVAE_LOG_LEVEL_OFF, NULL, NULL); /* silent unless asked */
    clvae_context *c = calloc(1, sizeof *c);
    if (!c) return clvae_error(CLVAE_ERR_NOMEM, "out of memory");
    if (device) snprintf(c->device, sizeof c->device, "%s", device);
    *out = c;
    return CLVAE_OK;
}

void clvae_context_free(clvae_context *ctx)
{
    free(ctx);
}

int api_apply_device(const clvae_context *ctx, clvae_config *cfg)
{
    const char *d = ctx->device;
    char set[300];
    int st = CLVAE_OK;
    if (!d[0]) return CLVAE_OK;
    if (!strcmp(d, "auto") || !strcmp(d, "ref") || !strcmp(d, "opencl"))
        return clvae_config_set(cfg, strcmp(d, "ref") ? (strcmp(d, "auto") ? "device.backend=opencl"
                                                         : "device.backend=auto")
                                                      : "device.backend=ref");
    st = clvae_config_set(cfg, "device.backend=opencl");
    if (!st && (!strcmp(d, "gpu") || !strcmp(d, "cpu"))) {
        snprintf(set, sizeof set, "device.type=%s", d);
        return clvae_config_set(cfg, set);
    }
    snprintf(set, sizeof set, "device.device=%s", d);
    return st ? st : clvae_config_set(cfg, set);
}

/* ---- configs ---- */

int api_config_from_text(clvae_config *cfg, const char *text)
{
    const char *dir = getenv("TMPDIR");
    char path[CLVAE_PATH_MAX], msg[2048];
    snprintf(path, sizeof path, "%s/clvae-config-XXXXXX", dir && dir[0] ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) return clvae_error(CLVAE_ERR_IO, "config string: cannot create a temporary file "
                                                 "in %s: %s", dir ? dir : "/tmp", strerror(errno));
    size_t len = strlen(text);
    ssize_t wrote = write(fd, text, len);
    close(fd);
    int st = wrote == (ssize_t)len ? clvae_config_load(cfg, path)
                                   : clvae_error(CLVAE_ERR_IO, "config string: write failed");
    unlink(path);
    if (st) {
        snprintf(msg, sizeof msg, "%s", clvae_last_error());
        const char *at = strstr(msg, path);
        if (at) clvae_error(st, "config string%s", at + strlen(path));
        else clvae_error(st, "config string: %s", msg);
    }
    return st;
}

static int create(clvae_context *ctx, const char *path, const char *text,
                  const char *const *sets, int n_sets, clvae_vae **out)
{
    int st = api_need(out, "clvae_vae_create: out");
    if (!st) *out = NULL;
    if (!st) st = api_need(ctx, "clvae_vae_create: ctx");
    if (!st && n_sets > 0) st = api_need(sets, "clvae_vae_create: sets");
    if (!st && n_sets < 0) st = clvae_error(CLVAE_ERR_INPUT, "n_sets = %d is negative", n_sets);
    if (st) return st;
    clvae_vae *v = calloc(1, sizeof *v);
    if (!v) return clvae_error(CLVAE_ERR_NOMEM, "out of memory");
    v->ctx = ctx;
    clvae_config_defaults(&v->cfg);
    if (text) st = api_config_from_text(&v->cfg, text);
    else if (path) st = clvae_config_load(&v->cfg, path);
    for (int i = 0; i < n_sets && !st; i++)
        st = sets[i] ? clvae_config_set(&v->cfg, sets[i])
                     : clvae_error(CLVAE_ERR_INPUT, "sets[%d] is NULL", i);
    if (!st) st = api_apply_device(ctx, &v->cfg);
    if (!st) st = clvae_config_validate(&v->cfg);
    if (st) {
        free(v);
        return st;
    }
    *out = v;
    return CLVAE_OK;
}

int clvae_vae_create(clvae_context *ctx, const char *config_path, const char *const *sets,
                     int n_sets, clvae_vae **out)
{
    return create(ctx, config_path, NULL, sets, n_sets, out);
}

int clvae_vae_create_from_string(clvae_context *ctx, const char *config_text,
                                 const char *const *sets, int n_sets, clvae_vae **out)
{
    int st = api_need(config_text, "clvae_vae_create_from_string: config_text");
    return st ? st : create(ctx, NULL, config_text, sets, n_sets, out);
}

void api_close_trained(clvae_vae *vae)
{
    if (!vae->fitted) return;
    clvae_model_free(&vae->m);
    memset(&vae->m, 0, sizeof vae->m);
    clvae_session_close(vae->sess);
    vae->sess = NULL;
    vae->model = NULL;
    free(vae->ckpt);
    vae->ckpt = NULL;
    vae->fitted = false;
    vae->gen++;
}

void clvae_vae_free(clvae_vae *vae)
{
    if (!vae) return;
    api_close_trained(vae);
    if (vae->has_be) clvae_backend_free(&vae->be);
    free(vae);
}

/* The whole file at path, malloc'd. */
static int read_file(const char *path, unsigned char **out, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return clvae_error(CLVAE_ERR_CHECKPOINT, "%s: %s", path, strerror(errno));
    int st = CLVAE_OK;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    unsigned char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) st = clvae_error(CLVAE_ERR_IO, "%s: cannot seek", path);
    else if (!buf) st = clvae_error(CLVAE_ERR_NOMEM, "out of memory reading %s", path);
    else if (fread(buf, 1, (size_t)n, f) != (size_t)n)
        st = clvae_error(CLVAE_ERR_IO, "%s: read error", path);
    fclose(f);
    if (st) {
        free(buf);
        return st;
    }
    *out = buf;
    *size = (size_t)n;
    return CLVAE_OK;
}

/* The checkpoint must be able to hold the layout's parameters (file_size bytes): a config in
 * a damaged file never makes the model allocate more than the file could fill. The batch of
 * the inference passes is the config's train.batch (as `clvae eval`: the same ELBO noise)
 * unless its activations would pass 256 MiB, then smaller (results per row do not change). */
static int bounded_batch(const clvae_model *m, int batch, size_t file_size, const char *path,
                         int *out)
{
    double per_row = (double)m->dim;
    if ((double)m->n_floats * sizeof(float) > (double)file_size)
        return clvae_error(CLVAE_ERR_CHECKPOINT, "%s: %zu bytes cannot hold the %zu parameters "
                                                 "its config describes", path, file_size,
                           m->n_floats);
    for (int i = 0; i < m->n_params; i++)
        if (!m->params[i].is_bias) per_row += 4.0 * m->params[i].rows; /* activations, grads */
    double cap = (256.0 * 1024 * 1024) / (sizeof(float) * per_row);
    *out = batch < 1 ? 1 : (batch > cap ? (cap < 1 ? 1 : (int)cap) : batch);
    return CLVAE_OK;
}

int api_open_trained(clvae_vae *vae, const clvae_config *trained, int dim, const char *path)
{
    unsigned char *bytes = NULL;
    size_t size = 0;
    clvae_ckpt_state pos = {0};
    int st = read_file(path, &bytes, &size);
    if (st) return st;
    api_close_trained(vae);
    vae->trained = *trained;
    if (!vae->has_be && !(st = clvae_backend_create(trained, &vae->be))) vae->has_be = true;
    if (!st) {
        int batch = 0;
        if ((st = clvae_model_layout(&vae->m, trained, dim)) && st != CLVAE_ERR_NOMEM) {
            char msg[2048];
            snprintf(msg, sizeof msg, "%s", clvae_last_error());
            st = clvae_error(CLVAE_ERR_CHECKPOINT, "%s: %s", path, msg);
        }
        if (!st) st = bounded_batch(&vae->m, trained->train.batch, size, path, &batch);
        if (!st) st = clvae_model_init(&vae->m, &vae->be, batch, 1, false);
        if (!st) st = clvae_checkpoint_load_file(&vae->m, path, false, &pos);
        if (st) {
            clvae_model_free(&vae->m);
            memset(&vae->m, 0, sizeof vae->m);
        }
    }
    if (st) {
        free(bytes);
        return st;
    }
    vae->ckpt = bytes;
    vae->ckpt_size = size;
    vae->fitted = true;
    vae->model = &vae->m;
    vae->gen++;
    return CLVAE_OK;
}

/* D of a checkpoint: decoder.out's bias has D rows (a learned-variance Gaussian keeps its
 * variances in decoder.logvar). */
static int checkpoint_dim(const clvae_st_file *f, const char *path, int *dim)
{
    const clvae_st_tensor *t = clvae_st_find(f, "decoder.out.bias");
    if (!t || t->ndim != 1 || t->shape[0] < 1)
        return clvae_error(CLVAE_ERR_CHECKPOINT, "%s: no decoder.out.bias tensor of shape (D): "
                                                 "not a clvae checkpoint", path);
    long long d = (long long)t->shape[0];
    if (d < 1 || d > (1LL << 24))
        return clvae_error(CLVAE_ERR_CHECKPOINT, "%s: decoder.out.bias gives %lld features per "
                                                 "sample, not in 1..2^24", path, d);
    *dim = (int)d;
    return CLVAE_OK;
}

int clvae_vae_load(clvae_context *ctx, const char *checkpoint_path, clvae_vae **out)
{
    clvae_st_file *f = NULL;
    clvae_vae *v = NULL;
    int dim = 0, st = api_need(out, "clvae_vae_load: out");
    if (!st) *out = NULL;
    if (!st) st = api_need(ctx, "clvae_vae_load: ctx");
    if (!st) st = api_need(checkpoint_path, "clvae_vae_load: checkpoint_path");
    if (!st) st = clvae_st_open(checkpoint_path, &f);
    if (st) return st;
    const char *text = clvae_st_meta(f, "config"), *epoch = clvae_st_meta(f, "epoch");
    if (!text) {
        st = clvae_error(CLVAE_ERR_CHECKPOINT, "%s: no config in its metadata: not a clvae "
                                               "checkpoint", checkpoint_path);
        goto done;
    }
    if (!(v = calloc(1, sizeof *v))) {
        st = clvae_error(CLVAE_ERR_NOMEM, "out of memory");
        goto done;
    }
    v->ctx = ctx;
    clvae_config_defaults(&v->cfg);
    if ((st = api_config_from_text(&v->cfg, text)) || (st = clvae_config_validate(&v->cfg))) {
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", clvae_last_error());
        st = clvae_error(CLVAE_ERR_CHECKPOINT, "%s: the config in its metadata: %s",
                         checkpoint_path, msg);
        goto done;
    }
    if ((st = api_apply_device(ctx, &v->cfg))) goto done;
    if ((st = checkpoint_dim(f, checkpoint_path, &dim))) goto done;
    v->epochs = epoch ? atoi(epoch) : 0;
    st = api_open_trained(v, &v->cfg, dim, checkpoint_path);
done:
    clvae_st_close(f);
    if (st) clvae_vae_free(v);
    else *out = v;
    return st;
}

int clvae_vae_save(clvae_vae *vae, const char *path)
{
    char tmp[CLVAE_PATH_MAX + 16];
    int st = api_need(vae, "clvae_vae_save: vae");
    if (!st) st = api_need(path, "clvae_vae_save: path");
    if (st) return st;
    if (!vae->fitted)
        return clvae_error(CLVAE_ERR_INPUT, "clvae_vae_save: the model has no parameters yet "
                                            "(fit or load it first)");
    if (vae->sess) return clvae_session_save(vae->sess, path); /* a fitted model (atomic) */
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return clvae_error(CLVAE_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    bool ok = fwrite(vae->ckpt, 1, vae->ckpt_size, f) == vae->ckpt_size;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        st = clvae_error(CLVAE_ERR_IO, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
    }
    return st;
}

int clvae_vae_get_info(const clvae_vae *vae, clvae_vae_info *info)
{
    int st = api_need(vae, "clvae_vae_get_info: vae");
    if (!st) st = api_need(info, "clvae_vae_get_info: info");
    if (st) return st;
    memset(info, 0, sizeof *info);
    const clvae_config *c = vae->fitted ? &vae->trained : &vae->cfg;
    info->fitted = vae->fitted;
    info->latent = c->model.latent[c->model.n_latent > 0 ? c->model.n_latent - 1 : 0];
    info->classes = c->model.conditional ? c->model.classes : 0;
    if (!vae->fitted) return CLVAE_OK;
    info->dim = vae->model->dim;
    info->latent = vae->model->latent;
    info->epochs_done = vae->sess ? clvae_session_epochs_done(vae->sess) : vae->epochs;
    info->steps = (int64_t)vae->model->step;
    snprintf(info->device, sizeof info->device, "%s", vae->be.ops->device_name(vae->be.ctx));
    snprintf(info->backend, sizeof info->backend, "%s", vae->be.ops->name);
    return CLVAE_OK;
}
