/* Test harness helpers shared by every test_*.c. */
#include "testutil.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

#include "backend/ref/ref_math.h"

#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>

int tu_failures = 0;
int tu_checks = 0;

uint64_t tu_xorshift(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 0x2545F4914F6CDD1Dull;
}

double tu_nmse(const float *ref, const float *got, size_t n)
{
    return clvae_nmse(ref, got, n);
}

double tu_max_rel(const float *ref, const float *got, size_t n, double floor)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double a = fabs(ref[i]), b = fabs(got[i]);
        double m = a > b ? a : b;
        if (m < floor) m = floor;
        double r = fabs((double)ref[i] - got[i]) / m;
        if (r > worst) worst = r;
    }
    return worst;
}

int tu_has_nonfinite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 1;
    return 0;
}

int tu_finish(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, tu_checks - tu_failures, tu_failures);
    return tu_failures ? 1 : 0;
}

const char *tu_tmp_path(const char *leaf)
{
    static char buf[4096];
    const char *dir = getenv("CLVAE_TMP");
    if (!dir || !*dir) dir = "/tmp";
    mkdir(dir, 0755);
    snprintf(buf, sizeof buf, "%s/%s", dir, leaf);
    return buf;
}

/* ---- golden files (JSON) ---- */

char *tu_slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf) buf[n] = 0;
    fclose(fp);
    return buf;
}

/* Copies a JSON array of exactly n numbers into dst; 0 on success. */
int tu_json_floats(const cJSON *arr, float *dst, size_t n, const char *what)
{
    if (!cJSON_IsArray(arr) || (size_t)cJSON_GetArraySize(arr) != n) {
        fprintf(stderr, "golden file: %s is not an array of %zu numbers\n", what, n);
        return -1;
    }
    size_t i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) dst[i++] = (float)v->valuedouble;
    return 0;
}

double tu_json_num(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

