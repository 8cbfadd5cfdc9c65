/* The per-device GEMM tuning file: <cache>/gemm-<hash>.json (cJSON), written atomically, read
 * and checked against the device, driver and CLBlast version (load.c applies it). A corrupt
 * file is an error naming it and what is wrong, never a crash. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "backend/opencl/ocl_cache.h"
#include "backend/opencl/gemm/file.h"
#include "core/log.h"
#include "io/atomic.h"


#define TUNING_FORMAT "clvae-gemm-tuning"
#define TUNING_VERSION 1
#define PARAM_MAX 65536 /* no CLBlast parameter is larger; bigger values mean a corrupt file */

void clvae_tuning_identify(clvae_tuning *t, cl_platform_id platform, cl_device_id dev)
{
    memset(t->platform, 0, sizeof t->platform);
    memset(t->device, 0, sizeof t->device);
    memset(t->driver, 0, sizeof t->driver);
    clGetPlatformInfo(platform, CL_PLATFORM_NAME, sizeof t->platform - 1, t->platform, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_NAME, sizeof t->device - 1, t->device, NULL);
    clGetDeviceInfo(dev, CL_DRIVER_VERSION, sizeof t->driver - 1, t->driver, NULL);
    snprintf(t->clblast, sizeof t->clblast, "%s", clvae_clblast_version());
}

void clvae_tuning_path(const char *dir, cl_platform_id platform, cl_device_id dev, char *path,
                       size_t size)
{
    clvae_tuning id;
    clvae_tuning_identify(&id, platform, dev);
    /* v2: GEMMs are CLBlast column-major calls (ocl_gemm.c), so v1 parameters are not reused */
    uint64_t h = clvae_fnv1a64_str(CLVAE_FNV64_INIT, "clvae gemm tuning v2");
    h = clvae_fnv1a64_str(h, id.platform);
    h = clvae_fnv1a64_str(h, id.device);
    h = clvae_fnv1a64_str(h, id.driver);
    h = clvae_fnv1a64_str(h, id.clblast);
    snprintf(path, size, "%s/gemm-%016llx.json", dir, (unsigned long long)h);
}

static const char *get_params(const cJSON *root, const char *kernel, const char *const *names,
                              int n, size_t *v);

/* ---- writing ---- */

static cJSON *params_object(const char *const *names, const size_t *v, int n)
{
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; o && i < n; i++)
        if (!cJSON_AddNumberToObject(o, names[i], (double)v[i])) {
            cJSON_Delete(o);
            return NULL;
        }
    return o;
}

/* A shape's register-tiled kernel: "kernel": {"form": "outer", "mr": 8, "nb": 3, ...}. */
static bool add_tiled(cJSON *o, const clvae_tiled *v)
{
    cJSON *k = cJSON_AddObjectToObject(o, "kernel");
    return k && cJSON_AddStringToObject(k, "form", clvae_tiled_form_name(v->form)) &&
           cJSON_AddNumberToObject(k, "mr", v->mr) && cJSON_AddNumberToObject(k, "nb", v->nb) &&
           cJSON_AddNumberToObject(k, "vw", v->vw) && cJSON_AddNumberToObject(k, "lx", v->lx) &&
           cJSON_AddNumberToObject(k, "rows_first", v->rows_first) &&
           (v->ks <= 1 || cJSON_AddNumberToObject(k, "ks", v->ks));
}

static bool add_shapes(cJSON *root, const clvae_tuning *t)
{
    cJSON *arr = cJSON_AddArrayToObject(root, "shapes");
    for (int i = 0; arr && i < t->n_shapes; i++) {
        const clvae_gemm_shape *s = &t->shapes[i];
        char op[3] = {s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', '\0'};
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o)) return false;
        cJSON_AddStringToObject(o, "op", op);
        cJSON_AddNumberToObject(o, "m", s->m);
        cJSON_AddNumberToObject(o, "n", s->n);
        cJSON_AddNumberToObject(o, "k", s->k);
        cJSON_AddNumberToObject(o, "calls", s->calls);
        cJSON_AddNumberToObject(o, "default_ms", t->shape_default_ms[i]);
        cJSON_AddNumberToObject(o, "tuned_ms", t->shape_tuned_ms[i]);
        if (!t->use_defaults && t->shape_set[i] > 0 && t->shape_set[i] <= t->n_extra)
            cJSON_AddNumberToObject(o, "set", t->shape_set[i]);
        if (t->shape_tiled[i].form != CLVAE_TILED_NONE && !add_tiled(o, &t->shape_tiled[i]))
            return false;
    }
    return arr != NULL;
}

/* One parameter set as {"Xgemm": {...}, "XgemmDirect": {...}, "GemmRoutine": {...}} members of o. */
static void add_params(cJSON *o, const clvae_gemm_params *p)
{
    cJSON_AddItemToObject(o, "Xgemm", params_object(clvae_xgemm_names, p->x, CLVAE_XGEMM_NP));
    cJSON_AddItemToObject(o, "XgemmDirect",
                          params_object(clvae_xgemmd_names, p->d, CLVAE_XGEMMD_NP));
    cJSON_AddItemToObject(o, "GemmRoutine", params_object(clvae_routine_names, &p->min_indirect, 1));
    for (int k = 0; p->has_helpers && k < 4; k++)
        cJSON_AddItemToObject(o, clvae_helper_kernels[k],
                              params_object(clvae_helper_names + clvae_helper_first[k],
                                            p->h + clvae_helper_first[k],
                                            clvae_helper_first[k + 1] - clvae_helper_first[k]));
}

/* The optional helper-kernel objects of a parameter set: all four or none. */
static const char *get_helpers(const cJSON *o, clvae_gemm_params *p)
{
    int present = 0;
    for (int k = 0; k < 4; k++)
        present += cJSON_GetObjectItemCaseSensitive(o, clvae_helper_kernels[k]) != NULL;
    p->has_helpers = present > 0;
    for (int k = 0; present && k < 4; k++) {
        const char *bad = get_params(o, clvae_helper_kernels[k], clvae_helper_names + clvae_helper_first[k],
                                     clvae_helper_first[k + 1] - clvae_helper_first[k], p->h + clvae_helper_first[k]);
        if (bad) return bad;
    }
    return NULL;
}

static bool add_extra_sets(cJSON *root, const clvae_tuning *t)
{
    if (t->use_defaults || t->n_extra < 1) return true;
    cJSON *arr = cJSON_AddArrayToObject(root, "extra_sets");
    for (int j = 0; arr && j < t->n_extra; j++) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o)) return false;
        add_params(o, &t->extra[j]);
    }
    return arr != NULL;
}

static cJSON *tuning_json(const clvae_tuning *t)
{
    cJSON *r = cJSON_CreateObject();
    if (!r) return NULL;
    cJSON_AddStringToObject(r, "format", TUNING_FORMAT);
    cJSON_AddNumberToObject(r, "version", TUNING_VERSION);
    cJSON_AddStringToObject(r, "platform", t->platform);
    cJSON_AddStringToObject(r, "device", t->device);
    cJSON_AddStringToObject(r, "driver", t->driver);
    cJSON_AddStringToObject(r, "clblast", t->clblast);
    cJSON_AddBoolToObject(r, "use_defaults", t->use_defaults);
    if (!t->use_defaults) add_params(r, &t->p);
    cJSON_AddNumberToObject(r, "default_ms_per_step", t->default_ms);
    cJSON_AddNumberToObject(r, "tuned_ms_per_step", t->tuned_ms);
    cJSON_AddNumberToObject(r, "search_seconds", t->seconds);
    cJSON_AddNumberToObject(r, "evaluated", t->evaluated);
    cJSON_AddNumberToObject(r, "rejected", t->rejected);
    if (!add_shapes(r, t) || !add_extra_sets(r, t)) {
        cJSON_Delete(r);
        return NULL;
    }
    return r;
}

int clvae_tuning_write(const char *path, const clvae_tuning *t)
{
    cJSON *root = tuning_json(t);
    char *text = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text) return clvae_error(CLVAE_ERR_NOMEM, "%s: out of memory writing tuning", path);
    clvae_atomic_file af;
    int st = clvae_atomic_open(&af, path);
    if (!st) st = clvae_atomic_write(&af, text, strlen(text));
    if (!st) st = clvae_atomic_write(&af, "\n", 1);
    if (!st)
        st = clvae_atomic_finish(&af);
    else
        clvae_atomic_abort(&af);
    free(text);
    return st;
}

/* ---- reading ---- */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n >= 0 && n < (1L << 24) && fseek(f, 0, SEEK_SET) == 0) text = malloc((size_t)n + 1);
    if (text && fread(text, 1, (size_t)n, f) != (size_t)n) {
        free(text);
        text = NULL;
    }
    if (text) text[n] = '\0';
    fclose(f);
    return text;
}

static bool get_string(const cJSON *o, const char *key, char *out, size_t size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= size) return false;
    memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
    return true;
}

static bool get_int(const cJSON *o, const char *key, long lo, long hi, long *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
        v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi)
        return false;
    *out = (long)v->valuedouble;
    return true;
}

static double get_double(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) ? v->valuedouble : 0.0;
}

/* Reads object `kernel` holding every name in `names`; returns the first bad name or NULL. */
static const char *get_params(const cJSON *root, const char *kernel, const char *const *names,
                              int n, size_t *v)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, kernel);
    if (!cJSON_IsObject(o)) return kernel;
    for (int i = 0; i < n; i++) {
        long x;
        if (!get_int(o, names[i], 0, PARAM_MAX, &x)) return names[i];
        v[i] = (size_t)x;
    }
    return NULL;
}

/* A shape's optional "kernel" (CLVAE_TILED_NONE without one); false when it is malformed or
 * does not fit the shape's transposes. */
static bool get_tiled(const cJSON *o, const clvae_gemm_shape *s, clvae_tiled *v)
{
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "kernel");
    *v = (clvae_tiled){CLVAE_TILED_NONE, 0, 0, 0, 0, 0, 0};
    if (!k) return true;
    char form[8];
    long mr, nb, vw, lx, rows_first = 0, ks = 0;
    if (!cJSON_IsObject(k) || !get_string(k, "form", form, sizeof form) ||
        !get_int(k, "mr", 1, 16, &mr) || !get_int(k, "nb", 1, 8, &nb) ||
        !get_int(k, "vw", 1, 16, &vw) || !get_int(k, "lx", 1, 1024, &lx) ||
        (cJSON_GetObjectItemCaseSensitive(k, "rows_first") &&
         !get_int(k, "rows_first", 0, 1, &rows_first)) ||
        (cJSON_GetObjectItemCaseSensitive(k, "ks") &&
         !get_int(k, "ks", 1, CLVAE_TILED_MAX_KS, &ks)))
        return false;
    int f = -1;
    for (int i = CLVAE_TILED_OUTER; i <= CLVAE_TILED_LAST; i++)
        if (!strcmp(form, clvae_tiled_form_name(i))) f = i;
    if (f < 0) return false;
    *v = (clvae_tiled){f, (int)mr, (int)nb, (int)vw, (int)lx, (int)rows_first, (int)ks};
    return clvae_tiled_valid(v, s->ta, s->tb);
}

/* The informational shape list; false when it is malformed. Shapes past CLVAE_TUNE_MAX_SHAPES
 * (a file from a build that holds more) are left out: the file lists the model it was tuned for
 * first, so what is kept is that model's and the most recent others'. */
static bool get_shapes(const cJSON *root, clvae_tuning *t)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "shapes"), *o;
    t->n_shapes = 0;
    if (!arr) return true;
    if (!cJSON_IsArray(arr)) return false;
    cJSON_ArrayForEach(o, arr)
    {
        char op[3];
        long m, n, k, calls;
        if (t->n_shapes == CLVAE_TUNE_MAX_SHAPES) {
            CLVAE_DEBUG("gemm tuning file: %d shapes kept, the rest left out",
                        CLVAE_TUNE_MAX_SHAPES);
            break;
        }
        if (!get_string(o, "op", op, sizeof op) ||
            strlen(op) != 2 || !get_int(o, "m", 1, 1L << 30, &m) ||
            !get_int(o, "n", 1, 1L << 30, &n) || !get_int(o, "k", 1, 1L << 30, &k) ||
            !get_int(o, "calls", 1, 1L << 20, &calls))
            return false;
        int i = t->n_shapes++;
        t->shapes[i] =
            (clvae_gemm_shape){op[0] == 'T', op[1] == 'T', (int)m, (int)n, (int)k, (int)calls};
        t->shape_default_ms[i] = get_double(o, "default_ms");
        t->shape_tuned_ms[i] = get_double(o, "tuned_ms");
        long set = 0;
        if (cJSON_GetObjectItemCaseSensitive(o, "set") &&
            !get_int(o, "set", 0, CLVAE_TUNE_MAX_SETS - 1, &set))
            return false;
        t->shape_set[i] = (int)set;
        if (!get_tiled(o, &t->shapes[i], &t->shape_tiled[i])) return false;
    }
    return true;
}

/* The optional "extra_sets" (every set complete); returns the first bad name or NULL. */
static const char *get_extra_sets(const cJSON *root, clvae_tuning *t)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "extra_sets"), *o;
    t->n_extra = 0;
    if (!arr) return NULL;
    if (!cJSON_IsArray(arr) || t->use_defaults) return "extra_sets";
    const char *bad = NULL;
    cJSON_ArrayForEach(o, arr)
    {
        if (t->n_extra == CLVAE_TUNE_MAX_SETS - 1) return "extra_sets";
        clvae_gemm_params *p = &t->extra[t->n_extra++];
        if ((bad = get_params(o, "Xgemm", clvae_xgemm_names, CLVAE_XGEMM_NP, p->x)) ||
            (bad = get_params(o, "XgemmDirect", clvae_xgemmd_names, CLVAE_XGEMMD_NP, p->d)) ||
            (bad = get_params(o, "GemmRoutine", clvae_routine_names, 1, &p->min_indirect)) ||
            (bad = get_helpers(o, p)))
            return bad;
    }
    return NULL;
}

/* Fills t from a parsed document; false with `why` set when something is wrong. */
static bool parse_tuning(const cJSON *root, clvae_tuning *t, char *why, size_t size)
{
    char fmt[64];
    long version;
    const char *bad = NULL;
    const cJSON *ud = cJSON_GetObjectItemCaseSensitive(root, "use_defaults");
    if (!cJSON_IsObject(root))
        bad = "not a JSON object";
    else if (!get_string(root, "format", fmt, sizeof fmt) || strcmp(fmt, TUNING_FORMAT))
        bad = "\"format\" is not \"" TUNING_FORMAT "\"";
    else if (!get_int(root, "version", 0, 1000, &version) || version != TUNING_VERSION)
        bad = "unsupported \"version\"";
    else if (!get_string(root, "platform", t->platform, sizeof t->platform) ||
             !get_string(root, "device", t->device, sizeof t->device) ||
             !get_string(root, "driver", t->driver, sizeof t->driver) ||
             !get_string(root, "clblast", t->clblast, sizeof t->clblast))
        bad = "missing platform, device, driver or clblast";
    else if (!cJSON_IsBool(ud))
        bad = "missing \"use_defaults\"";
    if (bad) {
        snprintf(why, size, "%s", bad);
        return false;
    }
    t->use_defaults = cJSON_IsTrue(ud);
    if (!t->use_defaults && !(bad = get_params(root, "Xgemm", clvae_xgemm_names, 16, t->p.x)) &&
        !(bad = get_params(root, "XgemmDirect", clvae_xgemmd_names, 10, t->p.d)))
        if (!(bad = get_params(root, "GemmRoutine", clvae_routine_names, 1, &t->p.min_indirect)))
            bad = get_helpers(root, &t->p);
    if (bad) {
        snprintf(why, size, "missing or invalid parameter %s", bad);
        return false;
    }
    if ((bad = get_extra_sets(root, t))) {
        snprintf(why, size, "missing or invalid parameter %s in \"extra_sets\"", bad);
        return false;
    }
    if (!get_shapes(root, t)) {
        snprintf(why, size, "malformed \"shapes\"");
        return false;
    }
    for (int i = 0; i < t->n_shapes; i++)
        if (t->shape_set[i] > t->n_extra) {
            snprintf(why, size, "shape %d names set %d of %d", i + 1, t->shape_set[i],
                     t->n_extra + 1);
            return false;
        }
    t->default_ms = get_double(root, "default_ms_per_step");
    t->tuned_ms = get_double(root, "tuned_ms_per_step");
    t->seconds = get_double(root, "search_seconds");
    t->evaluated = (int)get_double(root, "evaluated");
    t->rejected = (int)get_double(root, "rejected");
    return true;
}

int clvae_tuning_read(const char *path, clvae_tuning *t)
{
    memset(t, 0, sizeof *t);
    char *text = slurp(path);
    if (!text) return clvae_error(CLVAE_ERR_IO, "%s: cannot read the tuning file", path);
    cJSON *root = cJSON_Parse(text);
    free(text);
    char why[160] = "not valid JSON";
    bool ok = root && parse_tuning(root, t, why, sizeof why);
    cJSON_Delete(root);
    if (!ok) return clvae_error(CLVAE_ERR_DATA, "%s: corrupt tuning file: %s", path, why);
    return CLVAE_OK;
}

bool clvae_tuning_matches(const clvae_tuning *t, const clvae_tuning *want, char *why, size_t size)
{
    const char *what = strcmp(t->platform, want->platform) ? "platform"
                       : strcmp(t->device, want->device)   ? "device"
                       : strcmp(t->driver, want->driver)   ? "driver version"
                       : strcmp(t->clblast, want->clblast) ? "CLBlast version"
                                                           : NULL;
    if (what)
        snprintf(why, size,
                 "it was made for \"%s\" on \"%s\", driver %s, CLBlast %s (the %s "
                 "differs)",
                 t->device, t->platform, t->driver, t->clblast, what);
    return what == NULL;
}
