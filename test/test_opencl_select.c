/* OpenCL device selection: explicit selections that match nothing are CLVAE_ERR_INPUT with the
 * list of what exists, substrings and indices select the right platform, Clover (no devices)
 * is never chosen, `clvae devices` prints the config lines; error-code names. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "testutil.h"

#ifdef CLVAE_HAVE_OPENCL
#include <CL/cl.h>

#include "backend/opencl/ocl_device.h"

static clvae_config make_cfg(clvae_device_type type, const char *platform, const char *device)
{
    clvae_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.device.backend = CLVAE_BACKEND_OPENCL;
    cfg.device.type = type;
    snprintf(cfg.device.platform, sizeof cfg.device.platform, "%s", platform);
    snprintf(cfg.device.device, sizeof cfg.device.device, "%s", device);
    return cfg;
}

/* Runs the selection; returns the status and the best candidate's index (or -1). */
static int select_one(const clvae_ocl_inventory *inv, clvae_device_type type, const char *platform,
                      const char *device, int *best)
{
    clvae_config cfg = make_cfg(type, platform, device);
    int order[64], n = 0;
    int st = clvae_ocl_select(inv, &cfg, order, &n);
    *best = st == CLVAE_OK && n > 0 ? order[0] : -1;
    return st;
}

/* Whether a usable device of type t exists; with real_only, simulators (Oclgrind calls itself
 * a GPU) do not count. */
static bool has_type(const clvae_ocl_inventory *inv, cl_device_type t, bool real_only)
{
    for (int i = 0; i < inv->n_devices; i++) {
        const clvae_ocl_device *d = &inv->devices[i];
        if (real_only && strstr(d->platform_name, "Oclgrind")) continue;
        if (d->usable && (d->type & t)) return true;
    }
    return false;
}

static int find_platform(const clvae_ocl_inventory *inv, const char *name)
{
    for (int p = 0; p < inv->n_platforms; p++)
        if (strstr(inv->platforms[p].name, name)) return p;
    return -1;
}

static void expect_input_error(const clvae_ocl_inventory *inv, clvae_device_type type,
                               const char *platform, const char *device)
{
    int best;
    int st = select_one(inv, type, platform, device, &best);
    CHECK(st == CLVAE_ERR_INPUT, "platform=\"%s\" device=\"%s\" type=%d: status %d", platform,
          device, type, st);
    CHECK(strstr(clvae_last_error(), "available:") != NULL, "message lacks the list: %s",
          clvae_last_error());
    printf("selection platform=\"%s\" device=\"%s\" type=%d -> %d: %s\n", platform, device, type,
           st, clvae_last_error());
}

static void test_errors(const clvae_ocl_inventory *inv)
{
    expect_input_error(inv, CLVAE_DEVTYPE_ANY, "nosuch", "");
    expect_input_error(inv, CLVAE_DEVTYPE_ANY, "", "99");
    expect_input_error(inv, CLVAE_DEVTYPE_ANY, "99", "");
    expect_input_error(inv, CLVAE_DEVTYPE_ANY, "", "no such device");
    if (!has_type(inv, CL_DEVICE_TYPE_GPU, false))
        expect_input_error(inv, CLVAE_DEVTYPE_GPU, "", "");
    if (!has_type(inv, CL_DEVICE_TYPE_ACCELERATOR, false))
        expect_input_error(inv, CLVAE_DEVTYPE_ACCEL, "", "");
    int clover = find_platform(inv, "Clover");
    if (clover >= 0 && inv->platforms[clover].n_devices == 0) {
        char idx[16];
        snprintf(idx, sizeof idx, "%d", clover);
        expect_input_error(inv, CLVAE_DEVTYPE_ANY, "clover", "");
        expect_input_error(inv, CLVAE_DEVTYPE_ANY, idx, "");
        CHECK(strstr(clvae_last_error(), "no devices") != NULL, "%s", clvae_last_error());
    }
    /* the user-facing path through the registry: an explicit bad selection is an input error */
    clvae_config cfg = make_cfg(CLVAE_DEVTYPE_ANY, "nosuch", "");
    clvae_backend be;
    cfg.device.backend = CLVAE_BACKEND_AUTO;
    CHECK(clvae_backend_create(&cfg, &be) == CLVAE_ERR_INPUT, "registry accepted \"nosuch\"");
}

static void test_matches(const clvae_ocl_inventory *inv)
{
    int best, pocl = find_platform(inv, "Portable Computing Language");
    /* the default policy: GPU, then accelerator, then CPU; never a platform without devices */
    CHECK(select_one(inv, CLVAE_DEVTYPE_ANY, "", "", &best) == CLVAE_OK, "%s", clvae_last_error());
    if (best >= 0) {
        const clvae_ocl_device *d = &inv->devices[best];
        CHECK(!strstr(d->platform_name, "Clover"), "Clover selected");
        CHECK(!strstr(d->platform_name, "Oclgrind") || inv->n_devices == 1,
              "the simulator was chosen over a real device");
        if (!has_type(inv, CL_DEVICE_TYPE_GPU, true) &&
            !has_type(inv, CL_DEVICE_TYPE_ACCELERATOR, true) &&
            has_type(inv, CL_DEVICE_TYPE_CPU, true))
            CHECK(d->type & CL_DEVICE_TYPE_CPU, "default is not a CPU: %s", d->name);
        if (has_type(inv, CL_DEVICE_TYPE_GPU, true))
            CHECK(d->type & CL_DEVICE_TYPE_GPU, "a GPU exists but %s was chosen", d->name);
        printf("default choice: platform %d device %d %s\n", d->platform_index, d->device_index,
               d->name);
    }
    if (pocl >= 0 && inv->platforms[pocl].n_devices > 0) {
        static const char *sel[] = {"pocl", "POCL", "portable", "Portable Computing"};
        for (int i = 0; i < 4; i++) {
            CHECK(select_one(inv, CLVAE_DEVTYPE_ANY, sel[i], "", &best) == CLVAE_OK, "%s: %s",
                  sel[i], clvae_last_error());
            CHECK(best >= 0 && inv->devices[best].platform_index == pocl, "\"%s\" missed PoCL",
                  sel[i]);
        }
        char idx[16];
        snprintf(idx, sizeof idx, "%d", pocl);
        CHECK(select_one(inv, CLVAE_DEVTYPE_CPU, idx, "0", &best) == CLVAE_OK, "%s",
              clvae_last_error());
        CHECK(best >= 0 && inv->devices[best].platform_index == pocl, "index %s missed PoCL", idx);
    }
    for (int i = 0; i < inv->n_devices; i++) { /* every usable device by its name */
        const clvae_ocl_device *d = &inv->devices[i];
        char pidx[16];
        snprintf(pidx, sizeof pidx, "%d", d->platform_index);
        if (!d->usable) continue;
        CHECK(select_one(inv, CLVAE_DEVTYPE_ANY, pidx, d->name, &best) == CLVAE_OK, "%s",
              clvae_last_error());
        CHECK(best == i, "device \"%s\" not selected by its name", d->name);
    }
}

/* A backend on PoCL through the public entry point: device_name is the device's name. */
static void test_backend_pocl(const clvae_ocl_inventory *inv)
{
    int pocl = find_platform(inv, "Portable Computing Language");
    if (pocl < 0 || inv->platforms[pocl].n_devices == 0) {
        printf("SKIP backend on PoCL: not present\n");
        return;
    }
    clvae_config cfg = make_cfg(CLVAE_DEVTYPE_ANY, "pocl", "");
    clvae_backend be;
    int st = clvae_opencl_backend_create(&cfg, &be);
    CHECK(st == CLVAE_OK, "%s", clvae_last_error());
    if (st) return;
    const char *name = be.ops->device_name(be.ctx);
    bool found = false;
    for (int i = 0; i < inv->n_devices; i++)
        found |= inv->devices[i].platform_index == pocl && !strcmp(inv->devices[i].name, name);
    CHECK(found, "device_name \"%s\" is not a PoCL device", name);
    CHECK(!strcmp(be.ops->name, "opencl"), "backend name %s", be.ops->name);
    clvae_backend_free(&be);
}

static void test_list_devices(const clvae_ocl_inventory *inv)
{
    FILE *f = tmpfile();
    CHECK(f != NULL, "tmpfile");
    if (!f) return;
    CHECK(clvae_opencl_list_devices(f) == CLVAE_OK, "%s", clvae_last_error());
    long size = ftell(f);
    char *text = calloc(1, size + 1);
    rewind(f);
    CHECK(fread(text, 1, size, f) == (size_t)size, "read back");
    fclose(f);
    fputs(text, stdout);
    for (int p = 0; p < inv->n_platforms; p++) {
        char line[64];
        snprintf(line, sizeof line, "platform %d: ", p);
        CHECK(strstr(text, line) != NULL, "no line for platform %d", p);
        if (inv->platforms[p].n_devices == 0)
            CHECK(strstr(text, "no devices") != NULL, "no note for the empty platform %d", p);
    }
    if (inv->n_devices > 0) {
        CHECK(strstr(text, "[device] backend = opencl / platform = ") != NULL, "no config line");
        CHECK(strstr(text, "fp64") && strstr(text, "compute units"), "no capabilities");
    }
    const char *env = getenv("RUSTICL_ENABLE");
    int rusticl = find_platform(inv, "rusticl");
    if (rusticl >= 0 && inv->platforms[rusticl].n_devices == 0 && !(env && *env))
        CHECK(strstr(text, "RUSTICL_ENABLE=swrast") != NULL, "no rusticl hint");
    free(text);
}

static void test_error_names(void)
{
    CHECK(!strcmp(clvae_ocl_error_name(0), "CL_SUCCESS"), "0");
    CHECK(!strcmp(clvae_ocl_error_name(-5), "CL_OUT_OF_RESOURCES"), "-5");
    CHECK(!strcmp(clvae_ocl_error_name(-19), "CL_KERNEL_ARG_INFO_NOT_AVAILABLE"), "-19");
    CHECK(!strcmp(clvae_ocl_error_name(-54), "CL_INVALID_WORK_GROUP_SIZE"), "-54");
    CHECK(!strcmp(clvae_ocl_error_name(-72), "CL_MAX_SIZE_RESTRICTION_EXCEEDED"), "-72");
    CHECK(!strcmp(clvae_ocl_error_name(-1001), "CL_PLATFORM_NOT_FOUND_KHR"), "-1001");
    for (int code = -72; code <= 0; code++)
        if (code >= -19 || code <= -30)
            CHECK(strncmp(clvae_ocl_error_name(code), "unknown", 7), "code %d unnamed", code);
    CHECK(!strcmp(clvae_clblast_status_name(-2050), "CLBlastInsufficientMemoryTemp"), "-2050");
    CHECK(!strcmp(clvae_clblast_status_name(-1017), "CLBlastInvalidDimension"), "-1017");
    CHECK(!strcmp(clvae_clblast_status_name(-4), "CL_MEM_OBJECT_ALLOCATION_FAILURE"), "-4");
    for (int code = -2050; code <= -2039; code++)
        CHECK(strncmp(clvae_clblast_status_name(code), "unknown", 7), "CLBlast %d", code);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_error_names();
    clvae_ocl_inventory inv;
    int st = clvae_ocl_inventory_init(&inv);
    CHECK(st == CLVAE_OK, "%s", clvae_last_error());
    if (st == CLVAE_OK && inv.n_platforms == 0) {
        printf("SKIP: no OpenCL platform\n");
        return TU_SKIP;
    }
    test_list_devices(&inv);
    if (inv.n_devices > 0) {
        test_errors(&inv);
        test_matches(&inv);
        test_backend_pocl(&inv);
    }
    clvae_ocl_inventory_free(&inv);
    return tu_finish("test_opencl_select");
}

#else
int main(void)
{
    printf("SKIP: built without OpenCL\n");
    return TU_SKIP;
}
#endif
