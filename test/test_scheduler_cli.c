/* The scheduler through the clvae tool on a slice of Fashion-MNIST: a loader failure and a
 * host-memory budget overrun end with exit 1 and one clear error line, no hang; train and bench
 * --profile write a Chrome trace and report the overlap share; bench reports the residency.
 * Uses the reference backend, plus the OpenCL device when there is one. Skips (77) without the
 * dataset. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>

#include "testutil.h"

#define DATA "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"

static char out_text[1 << 16], err_text[1 << 16];

static void slurp(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, size - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = 0;
}

/* Runs `env clvae command <slice options> args` (a 120 s timeout guards against hangs);
 * stdout/stderr land in out_text/err_text; returns the exit status (124 = hung). */
static int run(const char *env, const char *command, const char *args)
{
    char cmd[4096], out[1024], err[1024];
    snprintf(out, sizeof out, "%s", tu_tmp_path("sched_cli.out"));
    snprintf(err, sizeof err, "%s", tu_tmp_path("sched_cli.err"));
    snprintf(cmd, sizeof cmd,
             "%s timeout 120 %s %s -c %s/config/default.ini --set data.limit_train=640 "
             "--set model.encoder=64 --set model.decoder=64 --set device.autotune=off %s >%s 2>%s",
             env, getenv("CLVAE_BIN"), command, getenv("CLVAE_SRC"), args, out, err);
    int rc = system(cmd);
    slurp(out, out_text, sizeof out_text);
    slurp(err, err_text, sizeof err_text);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

static int count(const char *text, const char *word)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, word)); p += strlen(word))
        n++;
    return n;
}

static void test_failures(const char *backend)
{
    char args[512];
    snprintf(args, sizeof args,
             "--set device.backend=%s --set data.limit_test=100 -q "
             "--set data.residency=stream --set output.dir=%s",
             backend, tu_tmp_path("sched_cli_run"));
    int rc = run("CLVAE_SCHED_FAIL_AT=2", "train", args);
    CHECK(rc == 1, "%s loader failure: exit %d, stderr: %s", backend, rc, err_text);
    CHECK(strstr(err_text, "loader") && strstr(err_text, "injected"), "stderr: %s", err_text);
    CHECK(count(err_text, "error") == 1, "one error line: %s", err_text);
    rc = run("CLVAE_HOST_MEM_BUDGET=100K", "train", args);
    CHECK(rc == 1, "%s over budget: exit %d, stderr: %s", backend, rc, err_text);
    CHECK(strstr(err_text, "host memory budget") != NULL, "stderr: %s", err_text);
}

/* The trace file parses and holds complete events on the expected tracks. */
static void check_trace_file(const char *path, bool uploads)
{
    static char text[4 << 20];
    slurp(path, text, sizeof text);
    cJSON *root = cJSON_Parse(text);
    const cJSON *ev = cJSON_GetObjectItem(root, "traceEvents"), *e;
    int tracks[4] = {0};
    CHECK(cJSON_IsArray(ev), "%s: no traceEvents", path);
    cJSON_ArrayForEach(e, ev)
    {
        const char *ph = cJSON_GetStringValue(cJSON_GetObjectItem(e, "ph"));
        int tid = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(e, "tid"));
        if (ph && !strcmp(ph, "X") && tid >= 1 && tid <= 3) tracks[tid]++;
    }
    CHECK(tracks[1] > 0, "%s: no compute events", path);
    if (uploads) CHECK(tracks[2] > 0 && tracks[3] > 0, "%s: no uploads/gathers", path);
    cJSON_Delete(root);
}

static void test_profile(const char *backend)
{
    char args[1024], trace[512];
    snprintf(trace, sizeof trace, "%s", tu_tmp_path("sched_cli_trace.json"));
    remove(trace);
    snprintf(args, sizeof args,
             "--set device.backend=%s --set data.limit_test=100 -q "
             "--set data.residency=stream --set train.epochs=1 --set output.dir=%s --profile %s",
             backend, tu_tmp_path("sched_cli_run"), trace);
    int rc = run("", "train", args);
    CHECK(rc == 0, "%s train --profile: exit %d: %s", backend, rc, err_text);
    CHECK(strstr(err_text, "overlapped compute") != NULL, "no overlap share: %s", err_text);
    if (!rc) check_trace_file(trace, true);
    remove(trace);
    snprintf(args, sizeof args,
             "--steps 12 --set device.backend=%s "
             "--set data.residency=device --profile %s",
             backend, trace);
    rc = run("", "bench", args);
    CHECK(rc == 0, "%s bench --profile: exit %d: %s", backend, rc, err_text);
    CHECK(strstr(out_text, "\"residency\": \"device\"") && strstr(out_text, "\"samples_per_s\""),
          "bench line: %s", out_text);
    if (!rc) check_trace_file(trace, false);
    snprintf(args, sizeof args,
             "--steps 12 --set device.backend=%s "
             "--set data.residency=stream --set data.overlap=false",
             backend);
    rc = run("", "bench", args);
    CHECK(rc == 0 && strstr(out_text, "\"residency\": \"stream\", \"overlap\": false"),
          "%s bench stream serialized: exit %d: %s %s", backend, rc, out_text, err_text);
    printf("%s: %s", backend, out_text);
}

int main(void)
{
    if (!getenv("CLVAE_BIN") || !getenv("CLVAE_SRC")) {
        printf("SKIP: CLVAE_BIN / CLVAE_SRC not set (run through ctest)\n");
        return TU_SKIP;
    }
    FILE *f = fopen(DATA, "rb");
    if (!f) {
        printf("SKIP: %s missing (Debian package dataset-fashion-mnist)\n", DATA);
        return TU_SKIP;
    }
    fclose(f);
    test_failures("ref");
    test_profile("ref");
    /* The probe's exit 2 (no device) skips the OpenCL half; a hang (timeout's 124) or a crash
     * fails instead of hiding behind that skip. */
    int probe = run("", "bench", "--steps 1 --set device.backend=opencl");
    if (probe == 0) { /* a device exists */
        test_failures("opencl");
        test_profile("opencl");
    } else if (probe == 124 || probe >= 128) {
        CHECK(0, "the OpenCL probe (clvae bench --steps 1) hung or crashed: exit %d: %s", probe,
              err_text);
    } else {
        printf("SKIP part: no OpenCL device: %s\n", err_text);
    }
    return tu_finish("test_scheduler_cli");
}
