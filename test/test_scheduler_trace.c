/* Stream residency on an OpenCL device with profiling: trains an epoch with a ring of 2 slots,
 * reads the Chrome trace back (cJSON) and checks its shape (tracks, op names, complete events),
 * that every upload finishes before the first command of the step that reads it starts, and that
 * the upload of batch i+1 overlaps the compute of batch i (their time spans intersect).
 * Skips (77) without an OpenCL device. */
#include <cjson/cJSON.h>

#include "test_scheduler.h"
#include "train/profile.h"

#define STEPS 14
#define BATCH 64

typedef struct span {
    double t0, t1;
    int n;
} span;

static void widen(span *s, double t0, double t1)
{
    if (!s->n || t0 < s->t0) s->t0 = t0;
    if (!s->n || t1 > s->t1) s->t1 = t1;
    s->n++;
}

static int train_profiled(clvae_backend *be, const char *path)
{
    clvae_dataset ds;
    clvae_model m = {0};
    clvae_profile *prof = NULL;
    clvae_sched *s = NULL;
    uint32_t perm[STEPS * BATCH];
    /* CIFAR-sized rows: 768 KiB per batch, so an upload outlasts the few tens of microseconds
     * a CPU device takes to start the next kernel after a marker */
    int st = ts_dataset(&ds, STEPS * BATCH, 32, 96, false), b;
    if (!st) st = ts_model(&m, be, (int)ds.dim, BATCH, 128, 16);
    if (!st) st = clvae_profile_open(&prof, be, path, 0, 50);
    clvae_sched_options o = ts_options(CLVAE_RESIDENCY_STREAM, true, 2);
    o.profile = prof;
    if (!st) st = clvae_sched_init(&s, &m, &ds, BATCH, &o);
    clvae_philox_permutation(5, 1, perm, ds.n);
    if (!st) st = clvae_sched_epoch_begin(s, perm, 0);
    while (!st && !(st = clvae_sched_next(s, &b)) && b) {
        st = clvae_model_train_step(&m, b);
        if (!st) st = clvae_sched_step_done(s);
    }
    if (!st) st = be->ops->finish(be->ctx);
    if (!st) st = clvae_profile_close(prof);
    if (!st)
        CHECK(clvae_profile_overlap(prof) > 0, "overlap share %g", clvae_profile_overlap(prof));
    printf("overlap share %.2f\n", clvae_profile_overlap(prof));
    clvae_sched_free(s);
    clvae_profile_free(prof);
    clvae_model_free(&m);
    clvae_dataset_free(&ds);
    return st;
}

/* Per step: the span of its compute commands and of its upload; names seen per track. */
static void read_trace(const cJSON *events, span *comp, span *up, int *seen_names)
{
    static const char *names[] = {"gemm",      "bias_act", "likelihood",
                                  "optimizer", "upload",   "gather"};
    const cJSON *e;
    cJSON_ArrayForEach(e, events)
    {
        const char *ph = cJSON_GetStringValue(cJSON_GetObjectItem(e, "ph"));
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(e, "name"));
        if (!ph || !name || strcmp(ph, "X")) continue;
        int tid = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(e, "tid"));
        double ts = cJSON_GetNumberValue(cJSON_GetObjectItem(e, "ts"));
        double dur = cJSON_GetNumberValue(cJSON_GetObjectItem(e, "dur"));
        const cJSON *args = cJSON_GetObjectItem(e, "args");
        int step = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(args, "step"));
        CHECK(dur >= 0 && ts >= 0 && tid >= 1 && tid <= 3, "%s: ts %g dur %g tid %d", name, ts, dur,
              tid);
        CHECK(step >= 0 && step < STEPS, "%s: step %d", name, step);
        if (step < 0 || step >= STEPS) continue;
        for (int k = 0; k < 6; k++)
            seen_names[k] += !strcmp(name, names[k]);
        if (tid == CLVAE_TRACK_COMPUTE) widen(&comp[step], ts, ts + dur);
        if (tid == CLVAE_TRACK_TRANSFER) widen(&up[step], ts, ts + dur);
    }
    for (int k = 0; k < 6; k++)
        CHECK(seen_names[k] > 0, "no \"%s\" event in the trace", names[k]);
}

static void check_trace(const char *path)
{
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL, "%s not written", path);
    if (!f) return;
    static char text[4 << 20];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    cJSON *root = cJSON_Parse(text);
    CHECK(root != NULL, "%s is not JSON", path);
    const cJSON *events = cJSON_GetObjectItem(root, "traceEvents");
    CHECK(cJSON_IsArray(events), "no traceEvents array");
    span comp[STEPS] = {0}, up[STEPS] = {0};
    int seen[6] = {0}, overlapped = 0;
    if (cJSON_IsArray(events)) read_trace(events, comp, up, seen);
    const double eps = 0.002; /* ts and dur are printed to 1 ns */
    for (int i = 0; i < STEPS; i++) {
        CHECK(comp[i].n > 10 && up[i].n == 1, "step %d: %d compute events, %d uploads", i,
              comp[i].n, up[i].n);
        CHECK(up[i].t1 <= comp[i].t0 + eps,
              "step %d: upload ends at %.3f us, after its compute "
              "starts at %.3f us",
              i, up[i].t1, comp[i].t0);
        if (i + 1 < STEPS && up[i + 1].t0 < comp[i].t1 && up[i + 1].t1 > comp[i].t0) overlapped++;
        printf("step %2d: upload [%10.1f, %10.1f]  compute [%10.1f, %10.1f] us\n", i, up[i].t0,
               up[i].t1, comp[i].t0, comp[i].t1);
    }
    /* The loader refills a slot once the step before last has run, so the upload of batch i+1
     * starts while batch i computes; the first steps may still be filling the ring. */
    CHECK(overlapped >= STEPS - 3, "upload i+1 overlapped compute i for %d of %d steps", overlapped,
          STEPS - 1);
    printf("upload of batch i+1 overlapped compute of batch i: %d of %d steps\n", overlapped,
           STEPS - 1);
    cJSON_Delete(root);
}

int main(void)
{
    clvae_backend be;
    ts_watchdog();
    if (!ts_backend(&be, true)) return TU_SKIP;
    if (!be.ops->profile_enable) {
        printf("SKIP: backend %s cannot profile\n", be.ops->name);
        clvae_backend_free(&be);
        return TU_SKIP;
    }
    const char *path = tu_tmp_path("scheduler_trace.json");
    remove(path);
    int st = train_profiled(&be, path);
    CHECK(st == CLVAE_OK, "profiled training: %s", clvae_last_error());
    if (!st) check_trace(path);
    clvae_backend_free(&be);
    return tu_finish("test_scheduler_trace");
}
