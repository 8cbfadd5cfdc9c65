/* OpenCL device discovery, the [device] selection policy and `clvae devices` output. */
#include "backend/opencl/ocl_device.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "clvae/status.h"
#include "core/log.h"

#define MAX_PLATFORMS 64
#define MAX_DEVICES_PER_PLATFORM 64

const char *clvae_ocl_type_name(cl_device_type type)
{
    if (type & CL_DEVICE_TYPE_GPU) return "gpu";
    if (type & CL_DEVICE_TYPE_ACCELERATOR) return "accelerator";
    if (type & CL_DEVICE_TYPE_CPU) return "cpu";
    if (type & CL_DEVICE_TYPE_CUSTOM) return "custom";
    return "other";
}

static void platform_str(cl_platform_id p, cl_platform_info what, char *buf, size_t size)
{
    buf[0] = '\0';
    if (clGetPlatformInfo(p, what, size, buf, NULL) != CL_SUCCESS) snprintf(buf, size, "?");
    buf[size - 1] = '\0';
}

static void device_str(cl_device_id d, cl_device_info what, char *buf, size_t size)
{
    buf[0] = '\0';
    if (clGetDeviceInfo(d, what, size, buf, NULL) != CL_SUCCESS) snprintf(buf, size, "?");
    buf[size - 1] = '\0';
}

/* "OpenCL 3.0 ..." -> 300; 0 when it cannot be parsed. */
static int parse_cl_version(const char *s)
{
    int major = 0, minor = 0;
    if (sscanf(s, "OpenCL %d.%d", &major, &minor) != 2) return 0;
    return major * 100 + minor * 10;
}

/* Fills the description of one device and decides whether clvae can use it. */
static void device_describe(clvae_ocl_device *d)
{
    cl_bool available = CL_FALSE, compiler = CL_FALSE;
    device_str(d->id, CL_DEVICE_NAME, d->name, sizeof d->name);
    device_str(d->id, CL_DEVICE_VENDOR, d->vendor, sizeof d->vendor);
    device_str(d->id, CL_DRIVER_VERSION, d->driver, sizeof d->driver);
    device_str(d->id, CL_DEVICE_VERSION, d->version, sizeof d->version);
    if (clGetDeviceInfo(d->id, CL_DEVICE_TYPE, sizeof d->type, &d->type, NULL) != CL_SUCCESS)
        d->type = 0;
    clGetDeviceInfo(d->id, CL_DEVICE_AVAILABLE, sizeof available, &available, NULL);
    clGetDeviceInfo(d->id, CL_DEVICE_COMPILER_AVAILABLE, sizeof compiler, &compiler, NULL);
    d->usable = false;
    if (!available)
        snprintf(d->why, sizeof d->why, "device reports it is not available");
    else if (!compiler)
        snprintf(d->why, sizeof d->why, "no OpenCL C compiler for this device");
    else if (parse_cl_version(d->version) < 120)
        snprintf(d->why, sizeof d->why, "OpenCL 1.2 or newer needed (device: %s)", d->version);
    else
        d->usable = true;
}

static int inventory_add_platform(clvae_ocl_inventory *inv, cl_platform_id pid, int pindex)
{
    clvae_ocl_platform *p = &inv->platforms[pindex];
    cl_device_id ids[MAX_DEVICES_PER_PLATFORM];
    cl_uint n = 0;
    p->id = pid;
    platform_str(pid, CL_PLATFORM_NAME, p->name, sizeof p->name);
    platform_str(pid, CL_PLATFORM_VENDOR, p->vendor, sizeof p->vendor);
    platform_str(pid, CL_PLATFORM_VERSION, p->version, sizeof p->version);
    p->status = clGetDeviceIDs(pid, CL_DEVICE_TYPE_ALL, MAX_DEVICES_PER_PLATFORM, ids, &n);
    if (p->status != CL_SUCCESS) n = 0;
    if (n > MAX_DEVICES_PER_PLATFORM) n = MAX_DEVICES_PER_PLATFORM;
    p->n_devices = (int)n;
    if (n == 0) {
        CLVAE_DEBUG("opencl: platform %d \"%s\" has no devices (%s); skipped", pindex, p->name,
                    clvae_ocl_error_name(p->status));
        return CLVAE_OK;
    }
    clvae_ocl_device *grown = realloc(inv->devices, (inv->n_devices + n) * sizeof *grown);
    if (!grown) return clvae_error(CLVAE_ERR_NOMEM, "opencl: out of memory listing devices");
    inv->devices = grown;
    for (cl_uint i = 0; i < n; i++) {
        clvae_ocl_device *d = &inv->devices[inv->n_devices++];
        memset(d, 0, sizeof *d);
        d->platform = pid;
        d->id = ids[i];
        d->platform_index = pindex;
        d->device_index = (int)i;
        snprintf(d->platform_name, sizeof d->platform_name, "%s", p->name);
        snprintf(d->platform_vendor, sizeof d->platform_vendor, "%s", p->vendor);
        device_describe(d);
    }
    return CLVAE_OK;
}

int clvae_ocl_inventory_init(clvae_ocl_inventory *inv)
{
    cl_platform_id ids[MAX_PLATFORMS];
    cl_uint n = 0;
    memset(inv, 0, sizeof *inv);
    cl_int err = clGetPlatformIDs(MAX_PLATFORMS, ids, &n);
    if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR: no ICD installed */ || n == 0) return CLVAE_OK;
    if (err != CL_SUCCESS)
        return clvae_error(CLVAE_ERR_DEVICE, "opencl: clGetPlatformIDs failed: %s (%d)",
                           clvae_ocl_error_name(err), err);
    if (n > MAX_PLATFORMS) n = MAX_PLATFORMS;
    inv->platforms = calloc(n, sizeof *inv->platforms);
    if (!inv->platforms) return clvae_error(CLVAE_ERR_NOMEM, "opencl: out of memory");
    inv->n_platforms = (int)n;
    for (cl_uint i = 0; i < n; i++) {
        int st = inventory_add_platform(inv, ids[i], (int)i);
        if (st != CLVAE_OK) {
            clvae_ocl_inventory_free(inv);
            return st;
        }
    }
    return CLVAE_OK;
}

void clvae_ocl_inventory_free(clvae_ocl_inventory *inv)
{
    free(inv->platforms);
    free(inv->devices);
    memset(inv, 0, sizeof *inv);
}

/* Case-insensitive substring test. */
static bool contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n) return true;
    }
    return n == 0;
}

static bool all_digits(const char *s)
{
    if (!*s) return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return false;
    return true;
}

/* An index ("2") or a case-insensitive substring of either name. "" matches anything. */
static bool selector_matches(const char *sel, int index, const char *name, const char *vendor)
{
    if (!sel[0]) return true;
    if (all_digits(sel)) return strtol(sel, NULL, 10) == index;
    return contains_nocase(name, sel) || contains_nocase(vendor, sel);
}

static bool type_matches(clvae_device_type want, cl_device_type have)
{
    switch (want) {
    case CLVAE_DEVTYPE_GPU: return (have & CL_DEVICE_TYPE_GPU) != 0;
    case CLVAE_DEVTYPE_CPU: return (have & CL_DEVICE_TYPE_CPU) != 0;
    case CLVAE_DEVTYPE_ACCEL: return (have & CL_DEVICE_TYPE_ACCELERATOR) != 0;
    default: return true;
    }
}

static const char *devtype_name(clvae_device_type t)
{
    switch (t) {
    case CLVAE_DEVTYPE_GPU: return "gpu";
    case CLVAE_DEVTYPE_CPU: return "cpu";
    case CLVAE_DEVTYPE_ACCEL: return "accelerator";
    default: return "any";
    }
}

/* Lower is preferred: GPU, accelerator, CPU, anything else. A simulator (Oclgrind, which calls
 * itself a GPU and may be installed as an ICD) comes last: it is chosen only when it is the
 * only match, e.g. under `oclgrind clvae ...` or with an explicit selection. */
static int device_rank(const clvae_ocl_device *d)
{
    if (contains_nocase(d->platform_name, "oclgrind")) return 4;
    if (d->type & CL_DEVICE_TYPE_GPU) return 0;
    if (d->type & CL_DEVICE_TYPE_ACCELERATOR) return 1;
    if (d->type & CL_DEVICE_TYPE_CPU) return 2;
    return 3;
}

static bool rusticl_needs_env(const clvae_ocl_platform *p)
{
    const char *env = getenv("RUSTICL_ENABLE");
    return p->n_devices == 0 && contains_nocase(p->name, "rusticl") && !(env && *env);
}

/* Appends printf-style text to buf (always terminated, truncates silently). */
static void appendf(char *buf, size_t size, const char *fmt, ...)
{
    size_t len = strlen(buf);
    if (len + 1 >= size) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, size - len, fmt, ap);
    va_end(ap);
}

void clvae_ocl_describe_available(const clvae_ocl_inventory *inv, char *buf, size_t size)
{
    buf[0] = '\0';
    appendf(buf, size, "available:");
    if (inv->n_platforms == 0) appendf(buf, size, " no OpenCL platform (no ICD installed)");
    for (int p = 0; p < inv->n_platforms; p++) {
        const clvae_ocl_platform *pl = &inv->platforms[p];
        appendf(buf, size, "%s platform %d \"%s\":", p ? ";" : "", p, pl->name);
        if (pl->n_devices == 0)
            appendf(buf, size, " no devices%s",
                    rusticl_needs_env(pl) ? " (set RUSTICL_ENABLE=swrast for llvmpipe)" : "");
        for (int i = 0; i < inv->n_devices; i++) {
            const clvae_ocl_device *d = &inv->devices[i];
            if (d->platform_index != p) continue;
            appendf(buf, size, " device %d \"%s\" (%s%s%s)", d->device_index, d->name,
                    clvae_ocl_type_name(d->type),
                    d->usable ? "" : ", unusable: ", d->usable ? "" : d->why);
        }
    }
}

/* Insertion sort of candidate indices by (type rank, platform, device): stable and tiny. */
static void sort_candidates(const clvae_ocl_inventory *inv, int *order, int n)
{
    for (int i = 1; i < n; i++) {
        int v = order[i], j = i;
        while (j > 0 && device_rank(&inv->devices[order[j - 1]]) > device_rank(&inv->devices[v])) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
}

int clvae_ocl_select(const clvae_ocl_inventory *inv, const clvae_config *cfg, int *order,
                     int *n_order)
{
    char avail[1600];
    int n = 0, unusable = -1;
    *n_order = 0;
    for (int i = 0; i < inv->n_devices; i++) {
        const clvae_ocl_device *d = &inv->devices[i];
        if (!type_matches(cfg->device.type, d->type) ||
            !selector_matches(cfg->device.platform, d->platform_index, d->platform_name,
                              d->platform_vendor) ||
            !selector_matches(cfg->device.device, d->device_index, d->name, d->vendor))
            continue;
        if (!d->usable) {
            CLVAE_INFO("opencl: skipping platform %d device %d \"%s\": %s", d->platform_index,
                       d->device_index, d->name, d->why);
            unusable = i;
            continue;
        }
        order[n++] = i;
    }
    if (n > 0) {
        sort_candidates(inv, order, n);
        *n_order = n;
        return CLVAE_OK;
    }
    clvae_ocl_describe_available(inv, avail, sizeof avail);
    int status = inv->n_devices == 0 ? CLVAE_ERR_DEVICE : CLVAE_ERR_INPUT;
    return clvae_error(status,
                       "no usable OpenCL device matches [device] type = %s, platform = \"%s\", "
                       "device = \"%s\"%s%s (platform and device take an index or a name "
                       "substring); %s",
                       devtype_name(cfg->device.type), cfg->device.platform, cfg->device.device,
                       unusable >= 0 ? ": the match is unusable: " : "",
                       unusable >= 0 ? inv->devices[unusable].why : "", avail);
}

/* ---- clvae devices ---------------------------------------------------------------------- */

static bool has_extension(cl_device_id d, const char *ext)
{
    size_t size = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, 0, NULL, &size) != CL_SUCCESS || size == 0)
        return false;
    char *s = malloc(size + 1);
    if (!s) return false;
    bool found = false;
    if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, size, s, NULL) == CL_SUCCESS) {
        s[size] = '\0';
        size_t n = strlen(ext);
        for (char *p = strstr(s, ext); p && !found; p = strstr(p + 1, ext))
            found = (p == s || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0');
    }
    free(s);
    return found;
}

static void print_device(FILE *f, const clvae_ocl_device *d, bool is_default)
{
    cl_uint cus = 0;
    cl_ulong mem = 0;
    size_t wg = 0;
    clGetDeviceInfo(d->id, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cus, &cus, NULL);
    clGetDeviceInfo(d->id, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
    clGetDeviceInfo(d->id, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    fprintf(f, "  device %d: %s%s\n", d->device_index, d->name,
            is_default ? "   <- default choice (backend = auto)" : "");
    fprintf(f,
            "    type %s, %u compute units, %.1f GiB global memory, max work-group %zu, "
            "fp16 %s, fp64 %s\n",
            clvae_ocl_type_name(d->type), cus, (double)mem / (1024.0 * 1024.0 * 1024.0), wg,
            has_extension(d->id, "cl_khr_fp16") ? "yes" : "no",
            has_extension(d->id, "cl_khr_fp64") ? "yes" : "no");
    fprintf(f, "    vendor %s, driver %s, %s\n", d->vendor, d->driver, d->version);
    if (!d->usable) fprintf(f, "    not usable by clvae: %s\n", d->why);
    fprintf(f, "    select: [device] backend = opencl / platform = %d / device = %d\n",
            d->platform_index, d->device_index);
    fprintf(f,
            "       or: --set device.backend=opencl --set device.platform=%d "
            "--set device.device=%d\n",
            d->platform_index, d->device_index);
}

/* Index of the device the automatic policy picks, or -1. */
static int default_choice(const clvae_ocl_inventory *inv)
{
    clvae_config cfg;
    memset(&cfg, 0, sizeof cfg);
    int *order = malloc((inv->n_devices ? inv->n_devices : 1) * sizeof *order), n = 0, pick = -1;
    if (!order) return -1;
    if (clvae_ocl_select(inv, &cfg, order, &n) == CLVAE_OK && n > 0) pick = order[0];
    free(order);
    return pick;
}

int clvae_opencl_list_devices(void *stream)
{
    FILE *f = stream ? (FILE *)stream : stdout;
    clvae_ocl_inventory inv;
    int st = clvae_ocl_inventory_init(&inv);
    if (st != CLVAE_OK) return st;
    if (inv.n_platforms == 0)
        fprintf(f, "no OpenCL platform found (install an ICD, e.g. pocl-opencl-icd)\n");
    int pick = default_choice(&inv);
    for (int p = 0; p < inv.n_platforms; p++) {
        const clvae_ocl_platform *pl = &inv.platforms[p];
        fprintf(f, "platform %d: %s (%s), %s\n", p, pl->name, pl->vendor, pl->version);
        if (pl->n_devices == 0)
            fprintf(f, "  no devices (%s)%s\n", clvae_ocl_error_name(pl->status),
                    rusticl_needs_env(pl) ? "; rusticl lists llvmpipe only with "
                                            "RUSTICL_ENABLE=swrast in the environment"
                                          : "");
        for (int i = 0; i < inv.n_devices; i++)
            if (inv.devices[i].platform_index == p) print_device(f, &inv.devices[i], i == pick);
    }
    clvae_ocl_inventory_free(&inv);
    return CLVAE_OK;
}
