/* The host scheduler on the reference backend and the default OpenCL device:
 * - device and stream residencies (overlapped and serialized) give bit-identical per-step losses
 *   over two epochs, one resumed mid-epoch, for 8-bit and float datasets, and for a conditional
 *   model whose labels travel with each batch (and change its losses);
 * - a stress run with a ring of 2 slots and a deliberately slow loader: the batches the compute
 *   queue saw (checksums of a device-side copy taken behind a long GEMM) match the shuffle plan,
 *   none skipped, duplicated or overwritten while read, across full, resumed and abandoned
 *   epochs;
 * - a loader failure injected mid-epoch comes back from next() as an error, and free() joins
 *   the thread (a watchdog fails the test on a hang). */
#include <math.h>

#include "test_scheduler.h"
#include "train/progress.h"

#define N_SAMPLES 300
#define BATCH 32

/* ---- (2) same losses whatever the residency ------------------------------------------------ */

typedef struct mode {
    const char *name;
    clvae_residency r;
    bool overlap;
} mode;

static const mode MODES[] = {{"device", CLVAE_RESIDENCY_DEVICE, false},
                             {"stream", CLVAE_RESIDENCY_STREAM, true},
                             {"stream-serial", CLVAE_RESIDENCY_STREAM, false}};

/* Trains two epochs (the second resumed at row 40) and writes each step's (recon, kl) sums. */
static int train_losses(clvae_backend *be, const clvae_dataset *ds, const mode *md, double *out,
                        int *steps)
{
    clvae_model m;
    clvae_sched *s = NULL;
    uint32_t *perm = malloc(ds->n * sizeof *perm);
    int st = ts_model_cond(&m, be, (int)ds->dim, BATCH, 48, 6, ds->labels ? 10 : 0), n = 0, b;
    clvae_sched_options o = ts_options(md->r, md->overlap, 3);
    if (!st) st = clvae_sched_init(&s, &m, ds, BATCH, &o);
    for (int epoch = 1; epoch <= 2 && !st; epoch++) {
        clvae_philox_permutation(7, (uint64_t)epoch, perm, ds->n);
        st = clvae_sched_epoch_begin(s, perm, epoch == 2 ? 40 : 0);
        while (!st && !(st = clvae_sched_next(s, &b)) && b > 0) {
            st = clvae_model_train_step(&m, b);
            if (!st) st = clvae_sched_step_done(s);
            if (!st) st = clvae_model_take_losses(&m, &out[2 * n], &out[2 * n + 1]);
            n++;
        }
    }
    CHECK(st == CLVAE_OK, "%s: %s", md->name, clvae_last_error());
    *steps = n;
    clvae_sched_free(s);
    clvae_model_free(&m);
    free(perm);
    return st;
}

static void test_same_losses(bool opencl, bool f32, bool cond)
{
    clvae_backend be;
    clvae_dataset ds;
    double loss[3][2 * 32], other[2 * 32];
    int steps[3] = {0}, n_other = 0;
    if (!ts_backend(&be, opencl)) return;
    CHECK(ts_dataset(&ds, N_SAMPLES, 8, 12, f32) == CLVAE_OK, "dataset");
    if (cond) { /* other labels must give other losses: the labels reach the model */
        CHECK(ts_labels(&ds, 1) == CLVAE_OK, "labels");
        if (train_losses(&be, &ds, &MODES[0], other, &n_other)) goto done;
        CHECK(ts_labels(&ds, 0) == CLVAE_OK, "labels");
    }
    for (int k = 0; k < 3; k++)
        if (train_losses(&be, &ds, &MODES[k], loss[k], &steps[k])) goto done;
    /* 10 + 9 steps: 300 rows per epoch in batches of 32, the second from row 40 */
    CHECK(steps[0] == 19, "%d steps", steps[0]);
    for (int k = 1; k < 3; k++) {
        CHECK(steps[k] == steps[0], "%s: %d steps vs %d", MODES[k].name, steps[k], steps[0]);
        int same = memcmp(loss[k], loss[0], sizeof(double) * 2 * steps[0]) == 0;
        CHECK(same, "%s %s %s data: per-step losses differ from device residency", be.ops->name,
              MODES[k].name, f32 ? "float" : "8-bit");
    }
    CHECK(isfinite(loss[0][0]) && loss[0][0] > 0, "loss %g", loss[0][0]);
    CHECK(!cond || memcmp(other, loss[0], sizeof(double) * 2 * steps[0]) != 0,
          "%s: other labels gave the same losses", be.ops->name);
    printf("%-6s %-5s data%s: device / stream / stream-serial: %d steps, identical losses "
           "(first %.6f, last %.6f)\n",
           be.ops->name, f32 ? "float" : "8-bit", cond ? " + labels" : "", steps[0],
           loss[0][0] + loss[0][1],
           loss[0][2 * steps[0] - 2] + loss[0][2 * steps[0] - 1]);
done:
    clvae_dataset_free(&ds);
    clvae_backend_free(&be);
}

/* ---- (3) stress: ring of 2, slow loader or slow device ------------------------------------- */

static uint64_t fnv1a(const void *p, size_t n)
{
    const unsigned char *c = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 1099511628211ull;
    return h;
}

#define STRESS_N 203 /* 13 batches of 16, the last of 11 rows */
#define STRESS_B 16

typedef struct stress {
    clvae_backend *be;
    const clvae_dataset *ds;
    clvae_model m;                /* only m.x, m.be, m.dim, m.max_batch: no network */
    clvae_buffer *x, *seen, *big; /* (B, D) home input, (N, D) copies, (3, G, G) GEMM */
    float *got, *want;            /* (N, D) host */
    int B, G, checked, bad;
} stress;

/* The compute side of batch k: a random host delay, a long GEMM, then a device copy of m->x
 * into row `row` of t->seen. Nothing waits: the host runs ahead, so the loader refills slots
 * while earlier copies are still queued behind GEMMs; the copies are checked per epoch. */
static int consume(stress *t, clvae_sched *s, size_t row, int b)
{
    const clvae_backend_ops *o = t->be->ops;
    void *c = t->be->ctx;
    size_t D = t->ds->dim, G = (size_t)t->G, g = G * G * sizeof(float);
    clvae_view A = {t->big, 0}, Bm = {t->big, g}, C = {t->big, 2 * g};
    usleep((useconds_t)(rand() % 1500));
    int st = o->gemm(c, false, false, t->G, t->G, t->G, 1.0f, A, t->G, Bm, t->G, 0.0f, C, t->G);
    if (!st) st = o->copy(c, (clvae_view){t->seen, row * D * sizeof(float)}, t->m.x, (size_t)b * D);
    return st ? st : clvae_sched_step_done(s);
}

/* Checksums of the copies of plan rows [first, end) batch by batch against the shuffle. */
static int check_epoch(stress *t, const uint32_t *perm, size_t first, size_t end)
{
    const clvae_backend_ops *o = t->be->ops;
    size_t D = t->ds->dim;
    int st = o->download(t->be->ctx, (clvae_view){t->seen, first * D * sizeof(float)},
                         t->got + first * D, (end - first) * D * sizeof(float));
    if (st) return st;
    clvae_dataset_gather(t->ds, perm + first, end - first, t->want + first * D);
    for (size_t row = first; row < end; row += (size_t)t->B) {
        size_t rows = end - row < (size_t)t->B ? end - row : (size_t)t->B;
        uint64_t hg = fnv1a(t->got + row * D, rows * D * 4);
        uint64_t hw = fnv1a(t->want + row * D, rows * D * 4);
        t->checked++;
        t->bad += hg != hw;
        CHECK(hg == hw, "%s: batch at row %zu: checksum %016llx, plan says %016llx", o->name, row,
              (unsigned long long)hg, (unsigned long long)hw);
    }
    return CLVAE_OK;
}

/* One epoch from first_row; stop_after > 0 abandons it after that many batches. */
static int stress_epoch(stress *t, clvae_sched *s, uint64_t epoch, size_t first_row, int stop_after)
{
    uint32_t perm[STRESS_N];
    int st, b, k = 0;
    clvae_philox_permutation(11, epoch, perm, t->ds->n);
    st = clvae_sched_epoch_begin(s, perm, first_row);
    size_t row = first_row;
    while (!st && (stop_after == 0 || k < stop_after) && !(st = clvae_sched_next(s, &b)) && b) {
        int want = t->ds->n - row < (size_t)t->B ? (int)(t->ds->n - row) : t->B;
        CHECK(b == want, "batch %d has %d rows, plan says %d", k, b, want);
        st = consume(t, s, row, b);
        row += (size_t)b;
        k++;
    }
    if (!st && stop_after == 0)
        CHECK(row == t->ds->n, "epoch ended at row %zu of %zu", row, t->ds->n);
    return st ? st : check_epoch(t, perm, first_row, row);
}

/* delay_us > 0: a slow loader (host-side hand-over); 0 with a long GEMM: the loader waits for
 * the device to finish reading a slot before it overwrites it. */
static void test_stress(bool opencl, long delay_us, int gemm)
{
    stress t = {.B = STRESS_B, .G = gemm};
    clvae_backend be;
    clvae_dataset ds;
    clvae_sched *s = NULL;
    if (!ts_backend(&be, opencl)) return;
    t.be = &be;
    t.ds = &ds;
    int st = ts_dataset(&ds, STRESS_N, 6, 8, false);
    size_t bytes = (size_t)t.B * ds.dim * sizeof(float), all = ds.n * ds.dim * sizeof(float);
    t.got = malloc(all);
    t.want = malloc(all);
    if (!st) st = be.ops->buffer_alloc(be.ctx, bytes, &t.x);
    if (!st) st = be.ops->buffer_alloc(be.ctx, all, &t.seen);
    size_t big = 3 * (size_t)gemm * gemm;
    if (!st) st = be.ops->buffer_alloc(be.ctx, big * sizeof(float), &t.big);
    if (!st) st = be.ops->fill(be.ctx, (clvae_view){t.big, 0}, big, 0.01f);
    t.m = (clvae_model){.be = &be, .dim = (int)ds.dim, .max_batch = t.B, .x = {t.x, 0}};
    clvae_sched_options o = ts_options(CLVAE_RESIDENCY_STREAM, true, 2);
    o.delay_us = delay_us; /* per row: 150 us makes a 16-row batch take >= 2.4 ms */
    if (!st) st = clvae_sched_init(&s, &t.m, &ds, t.B, &o);
    if (!st) st = stress_epoch(&t, s, 1, 0, 0);
    if (!st) st = stress_epoch(&t, s, 2, 37, 0); /* resumed mid-epoch */
    if (!st) st = stress_epoch(&t, s, 3, 0, 3);  /* abandoned with batches prefetched */
    if (!st) st = stress_epoch(&t, s, 4, 0, 0);
    CHECK(st == CLVAE_OK, "stress on %s: %s", be.ops->name, clvae_last_error());
    CHECK(t.checked == 13 + 11 + 3 + 13, "%d batches checked", t.checked);
    printf("%-6s stress (ring of 2, loader delay %ld us/row, GEMM %d^3): %d batches checked, %d "
           "wrong\n",
           be.ops->name, delay_us, gemm, t.checked, t.bad);
    clvae_sched_free(s);
    CHECK(t.m.x.buf == t.x, "free() restores m->x");
    be.ops->buffer_free(be.ctx, t.big);
    be.ops->buffer_free(be.ctx, t.seen);
    be.ops->buffer_free(be.ctx, t.x);
    free(t.got);
    free(t.want);
    clvae_dataset_free(&ds);
    clvae_backend_free(&be);
}

/* ---- (4) a loader failure ends the run, no hang -------------------------------------------- */

static void test_failure(bool opencl, bool overlap)
{
    clvae_backend be;
    clvae_dataset ds;
    clvae_model m;
    clvae_sched *s = NULL;
    uint32_t perm[N_SAMPLES];
    int b, ok_steps = 0, st;
    if (!ts_backend(&be, opencl)) return;
    st = ts_dataset(&ds, N_SAMPLES, 8, 12, false);
    if (!st) st = ts_model(&m, &be, (int)ds.dim, BATCH, 48, 6);
    clvae_sched_options o = ts_options(CLVAE_RESIDENCY_STREAM, overlap, 2);
    o.fail_at = 5;
    o.delay_us = 50;
    if (!st) st = clvae_sched_init(&s, &m, &ds, BATCH, &o);
    clvae_philox_permutation(3, 1, perm, ds.n);
    if (!st) st = clvae_sched_epoch_begin(s, perm, 0);
    while (!st && !(st = clvae_sched_next(s, &b)) && b) {
        st = clvae_model_train_step(&m, b);
        if (!st) st = clvae_sched_step_done(s);
        if (!st) ok_steps++;
    }
    CHECK(st == CLVAE_ERR_IO, "status %d (%s)", st, clvae_last_error());
    CHECK(strstr(clvae_last_error(), "injected") != NULL, "message: %s", clvae_last_error());
    CHECK(ok_steps == 5, "%d steps before the failure", ok_steps);
    b = 1;
    CHECK(clvae_sched_next(s, &b) == CLVAE_ERR_IO && b == 0, "the failure is sticky");
    double t0 = clvae_now();
    clvae_sched_free(s); /* joins the loader */
    printf("%-6s loader failure (%s): \"%s\" after %d steps; joined in %.3f s\n", be.ops->name,
           overlap ? "thread" : "serial", clvae_last_error(), ok_steps, clvae_now() - t0);
    clvae_model_free(&m);
    clvae_dataset_free(&ds);
    clvae_backend_free(&be);
}

/* Host budget and the auto choice on the reference backend. */
static void test_budget(void)
{
    clvae_backend be;
    clvae_dataset ds;
    clvae_model m;
    clvae_sched *s = NULL;
    ts_backend(&be, false);
    int st = ts_dataset(&ds, N_SAMPLES, 8, 12, false);
    if (!st) st = ts_model(&m, &be, (int)ds.dim, BATCH, 16, 2);
    clvae_sched_options o = ts_options(CLVAE_RESIDENCY_AUTO, true, 3);
    if (!st) st = clvae_sched_init(&s, &m, &ds, BATCH, &o);
    CHECK(!st && clvae_sched_residency(s) == CLVAE_RESIDENCY_DEVICE, "ref auto -> device");
    clvae_sched_free(s);
    s = NULL;
    o.slots = 2;
    o.host_budget = 2 * N_SAMPLES * 96 - 1; /* the data and staging fit, a second copy not */
    st = clvae_sched_init(&s, &m, &ds, BATCH, &o);
    CHECK(!st && clvae_sched_residency(s) == CLVAE_RESIDENCY_STREAM, "tight budget -> stream");
    clvae_sched_free(s);
    s = NULL;
    o.host_budget = 1000;
    st = clvae_sched_init(&s, &m, &ds, BATCH, &o);
    CHECK(st == CLVAE_ERR_NOMEM && s == NULL, "over budget: %d", st);
    CHECK(strstr(clvae_last_error(), "host memory budget") != NULL, "%s", clvae_last_error());
    clvae_model_free(&m);
    clvae_dataset_free(&ds);
    clvae_backend_free(&be);
}

/* A reference backend that claims `fake_global` bytes of device memory and refuses any single
 * allocation above `fake_max_alloc` (auto's choice, the fallback and the device error). */
static clvae_backend_ops fake_ops;
static const clvae_backend_ops *real_ops;
static size_t fake_global, fake_max_alloc;

static int fake_memory_info(void *ctx, size_t *global, size_t *max_alloc)
{
    *global = fake_global;
    *max_alloc = SIZE_MAX; /* the refusal comes from buffer_alloc, as a lazy driver's would */
    return CLVAE_OK;
}

static int fake_alloc(void *ctx, size_t bytes, clvae_buffer **out)
{
    if (bytes > fake_max_alloc)
        return clvae_error(CLVAE_ERR_DEVICE, "fake device: cannot allocate %zu bytes", bytes);
    return real_ops->buffer_alloc(ctx, bytes, out);
}

static void test_device_memory(void)
{
    clvae_backend be;
    clvae_dataset ds;
    clvae_model m;
    clvae_sched *s = NULL;
    ts_backend(&be, false);
    real_ops = be.ops;
    fake_ops = *be.ops;
    fake_ops.memory_info = fake_memory_info;
    fake_ops.buffer_alloc = fake_alloc;
    be.ops = &fake_ops;
    fake_global = fake_max_alloc = SIZE_MAX;
    int st = ts_dataset(&ds, N_SAMPLES, 8, 12, false); /* 28800 bytes */
    if (!st) st = ts_model(&m, &be, (int)ds.dim, BATCH, 16, 2);
    clvae_sched_options o = ts_options(CLVAE_RESIDENCY_AUTO, true, 3);
    fake_global = 100000; /* 25% = 25000 bytes: too small */
    st = clvae_sched_init(&s, &m, &ds, BATCH, &o);
    CHECK(!st && clvae_sched_residency(s) == CLVAE_RESIDENCY_STREAM, "auto, small device");
    clvae_sched_free(s);
    s = NULL;
    fake_global = 1 << 20;
    fake_max_alloc = 20000; /* fits 25%, but the device refuses: auto streams instead */
    st = clvae_sched_init(&s, &m, &ds, BATCH, &o);
    CHECK(!st && clvae_sched_residency(s) == CLVAE_RESIDENCY_STREAM, "auto, refused");
    clvae_sched_free(s);
    s = NULL;
    o.residency = CLVAE_RESIDENCY_DEVICE;
    st = clvae_sched_init(&s, &m, &ds, BATCH, &o);
    CHECK(st == CLVAE_ERR_DEVICE && !s, "device residency refused: %d", st);
    CHECK(strstr(clvae_last_error(), "data.residency=device") &&
              strstr(clvae_last_error(), "cannot allocate"),
          "%s", clvae_last_error());
    printf("ref    device memory: auto -> stream when small or refused; device -> \"%s\"\n",
           clvae_last_error());
    fake_max_alloc = SIZE_MAX;
    clvae_model_free(&m);
    clvae_dataset_free(&ds);
    be.ops = real_ops;
    clvae_backend_free(&be);
}

int main(void)
{
    ts_watchdog();
    srand(1);
    for (int ocl = 0; ocl < 2; ocl++) {
        test_same_losses(ocl, false, false);
        test_same_losses(ocl, true, false);
        test_same_losses(ocl, false, true);
        test_same_losses(ocl, true, true);
        test_stress(ocl, 150, 64);
        test_stress(ocl, 0, 256);
        test_failure(ocl, true);
        test_failure(ocl, false);
    }
    test_budget();
    test_device_memory();
    return tu_finish("test_scheduler");
}
