/* GEMM autotuning (clvae tune, and first use in train/bench): times CLBlast configurations on
 * the exact GEMM shapes of a training step through the backend's own gemm op, verifies each
 * against the reference GEMM before it may win, and writes the device's tuning file.
 *
 * CLBlast's parameters are per device and kernel, not per shape, and XGEMM_MIN_INDIRECT_SIZE is
 * compiled into the same program as both kernels, so a candidate is one complete configuration
 * (Xgemm, XgemmDirect, threshold) and costs one program build (seconds on a CPU device: the
 * budget, not the candidate count, bounds the search). The objective is the sum over shapes of
 * calls x time: the model's GEMM time per training step. Phase 3, clvae's own kernels shape by
 * shape, is tune_tiled.c; checking and timing one candidate on one shape, tune_case.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/opencl/gemm/space.h"
#include "backend/opencl/gemm/tune.h"
#include "backend/opencl/gemm/tune_run.h"
#include "core/log.h"

/* Applies p (NULL: leave CLBlast's current parameters), checks and times every shape. */
static int eval_params(tune_run *r, const clvae_gemm_params *p, double *ms, double *total)
{
    if (p && clvae_gemm_params_apply(r->c->dev.id, p)) {
        snprintf(r->why, sizeof r->why, "%s", clvae_last_error());
        return REJECTED;
    }
    *total = 0;
    for (int i = 0; i < r->n; i++) {
        double sec;
        int st = clvae_tune_check_case(r, &r->cases[i]);
        if (!st) st = clvae_tune_time_case(r, &r->cases[i], &sec);
        if (st) return st;
        ms[i] = sec * 1e3;
        *total += ms[i] * r->cases[i].s.calls;
    }
    return CLVAE_OK;
}

/* ---- bookkeeping ---- */

static uint64_t params_hash(const clvae_gemm_params *p)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < sizeof *p; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

/* Records p as tried; false when it was tried before. */
static bool mark_seen(tune_run *r, const clvae_gemm_params *p)
{
    uint64_t h = params_hash(p);
    for (int i = 0; i < r->n_seen; i++)
        if (r->seen[i] == h) return false;
    if (r->n_seen < MAX_SEEN) r->seen[r->n_seen++] = h;
    return true;
}

static void top_insert(tune_run *r, const clvae_gemm_params *p, const double *ms, double total)
{
    int pos = r->n_top;
    while (pos > 0 && r->top[pos - 1].total > total)
        pos--;
    if (pos >= TOP_K) return;
    int last = r->n_top < TOP_K ? r->n_top : TOP_K - 1;
    memmove(&r->top[pos + 1], &r->top[pos], (size_t)(last - pos) * sizeof(scored));
    r->top[pos].p = *p;
    memcpy(r->top[pos].ms, ms, sizeof r->top[pos].ms);
    r->top[pos].total = total;
    if (r->n_top < TOP_K) r->n_top++;
}

static uint64_t coin(tune_run *r)
{
    r->rng = r->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return r->rng >> 33;
}

/* The candidate fastest on one shape, the shape drawn with weight calls x its time in the best
 * configuration (where a set of its own could save the most). */
static const clvae_gemm_params *shape_best(tune_run *r)
{
    double w = 0, pick;
    for (int i = 0; i < r->n; i++)
        w += r->top[0].ms[i] * r->cases[i].s.calls;
    pick = (double)(coin(r) % 1000000) / 1e6 * w;
    int s = 0;
    for (; s < r->n - 1; s++) {
        pick -= r->top[0].ms[s] * r->cases[s].s.calls;
        if (pick < 0) break;
    }
    const scored *best = &r->top[0];
    for (int j = 0; j < r->n_all; j++)
        if (r->all[j].ms[s] < best->ms[s]) best = &r->all[j];
    return &best->p;
}

/* The next candidate: the curated list first, then neighbours of the best overall or of the
 * best on one shape, and random samples. */
static void next_candidate(tune_run *r, int i, clvae_gemm_params *p, const char **kind)
{
    for (int tries = 0; tries < 50; tries++) {
        if (i + tries < r->n_prev) {
            *p = r->prev[i + tries];
            *kind = "previous";
        } else if (clvae_tune_curated(&r->lim, i + tries - r->n_prev, p)) {
            *kind = "curated";
            if (!clvae_xgemm_legal(p->x, &r->lim) || !clvae_xgemmd_legal(p->d, &r->lim)) continue;
        } else if (r->n_top > 0 && coin(r) % 8 != 0) { /* random ones rarely win on a CPU */
            const clvae_gemm_params *base = coin(r) % 2 ? &r->top[0].p : shape_best(r);
            clvae_tune_sample(&r->rng, &r->lim, base, r->thresholds, r->nt, p);
            *kind = "neighbour";
        } else {
            clvae_tune_sample(&r->rng, &r->lim, NULL, r->thresholds, r->nt, p);
            *kind = "random";
        }
        if (mark_seen(r, p)) return;
    }
}

/* ---- progress ---- */

static void progress(tune_run *r, int i, const char *kind, int st, double total)
{
    if (!r->o->progress) return;
    double el = clvae_tune_now() - r->t0, best = r->n_top ? r->top[0].total : 0;
    if (r->tty) {
        fprintf(stderr,
                "\rtune: %d candidates (%d rejected), %.0f of %.0f s, best %.2f ms/step "
                "(%.1fx default)   ",
                r->evaluated + r->rejected, r->rejected, el, r->o->seconds, best,
                best > 0 ? r->def_total / best : 0.0);
    } else if (st) {
        fprintf(stderr, "tune: [%d] %s rejected: %s (%.0f s)\n", i + 1, kind, r->why, el);
    } else {
        fprintf(stderr,
                "tune: [%d] %s %.2f ms/step, best %.2f ms/step, default %.2f ms/step "
                "(%.0f s of %.0f)\n",
                i + 1, kind, total, best, r->def_total, el, r->o->seconds);
    }
    fflush(stderr);
}

/* ---- the search ---- */

/* Reads the device's current tuning file into t; false when there is none, it is unreadable or
 * it was written for another device, driver or CLBlast. */
static bool read_previous(const ocl_ctx *c, clvae_tuning *t)
{
    char path[CLVAE_PATH_MAX + 64], why[1200];
    clvae_tuning want;
    if (!c->cache_dir[0]) return false;
    clvae_tuning_path(c->cache_dir, c->dev.platform, c->dev.id, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    fclose(f);
    clvae_tuning_identify(&want, c->dev.platform, c->dev.id);
    return !clvae_tuning_read(path, t) && clvae_tuning_matches(t, &want, why, sizeof why);
}

/* The sets of the device's current tuning file, so that a search goes on from the last one
 * (their programs are usually in the driver's cache). */
static void load_previous(tune_run *r)
{
    clvae_tuning *t = malloc(sizeof *t);
    r->n_prev = 0;
    if (!t || !read_previous(r->c, t) || t->use_defaults) {
        free(t);
        return;
    }
    for (int j = -1; j < t->n_extra; j++) {
        const clvae_gemm_params *p = j < 0 ? &t->p : &t->extra[j];
        if (clvae_xgemm_legal(p->x, &r->lim) && clvae_xgemmd_legal(p->d, &r->lim)) {
            r->prev[r->n_prev] = *p; /* without helper parameters: CLBlast could not drop them */
            r->prev[r->n_prev].has_helpers = false;
            memset(r->prev[r->n_prev++].h, 0, sizeof p->h);
        }
    }
    free(t);
}

static int run_init(tune_run *r, const clvae_gemm_shape *shapes, int n)
{
    size_t most = 1;
    if (n < 1 || n > CLVAE_TUNE_MAX_SHAPES)
        return clvae_error(CLVAE_ERR_INTERNAL, "tune: %d shapes (1..%d)", n, CLVAE_TUNE_MAX_SHAPES);
    clvae_tune_limits_query(r->c->dev.id, &r->lim);
    r->nt = clvae_tune_thresholds(shapes, n, r->thresholds, CLVAE_TUNE_MAX_SHAPES + 2);
    load_previous(r);
    r->rng = r->o->seed ? r->o->seed : 1;
    r->tty = isatty(fileno(stderr));
    for (int i = 0; i < n; i++)
        if ((size_t)shapes[i].m * shapes[i].n > most) most = (size_t)shapes[i].m * shapes[i].n;
    r->host = malloc(most * sizeof(float));
    r->all = malloc(MAX_SEEN * sizeof *r->all);
    if (!r->host || !r->all) return clvae_error(CLVAE_ERR_NOMEM, "tune: out of host memory");
    int st = CLVAE_OK;
    for (int i = 0; i < n && !st; i++) {
        r->n = i + 1;
        st = clvae_tune_case_init(r, &r->cases[i], &shapes[i], i);
    }
    if (!st) st = clvae_tune_cold_init(r);
    return st;
}

/* Whether another candidate fits into `share` of the budget: always one; then while the
 * average candidate fits. */
static bool budget_left(const tune_run *r, double spent_on_candidates, double share)
{
    int done = r->evaluated + r->rejected;
    if (r->o->max_candidates > 0 && done >= r->o->max_candidates) return false;
    if (done == 0) return true;
    double avg = spent_on_candidates / done;
    return clvae_tune_now() - r->t0 + avg <= r->o->seconds * share;
}

/* Records the outcome of candidate p (st = eval_params's result). */
static void record(tune_run *r, const clvae_gemm_params *p, int st, const double *ms, double total)
{
    if (st) {
        r->rejected++;
        CLVAE_DEBUG("tune: candidate rejected: %s", r->why);
        /* it may be half applied: back to the best verified one, if there is one yet */
        if (r->n_top > 0) clvae_gemm_params_apply(r->c->dev.id, &r->top[0].p);
        r->dirty = r->n_top == 0;
        return;
    }
    r->evaluated++;
    r->dirty = false;
    top_insert(r, p, ms, total);
    if (r->n_all < MAX_SEEN) {
        r->all[r->n_all].p = *p;
        memcpy(r->all[r->n_all].ms, ms, sizeof r->all[r->n_all].ms);
        r->all[r->n_all++].total = total;
    }
}

/* Phase 1 (HELPER_SHARE of the budget): Xgemm, XgemmDirect and the threshold. */
static double search(tune_run *r)
{
    double spent = 0, ms[CLVAE_TUNE_MAX_SHAPES], total = 0;
    for (int i = 0; budget_left(r, spent, r->o->helpers ? HELPER_SHARE : 1.0); i++) {
        clvae_gemm_params p;
        const char *kind = "random";
        next_candidate(r, i, &p, &kind);
        double t = clvae_tune_now();
        int st = eval_params(r, &p, ms, &total);
        spent += clvae_tune_now() - t;
        record(r, &p, st, ms, total);
        progress(r, i, kind, st, total);
    }
    return spent;
}

/* Phase 2 (with o->helpers, the rest of the budget): the best configuration with each curated
 * set of the copy, pad and transpose kernels' parameters (an indirect GEMM's operands in and C
 * out; on PoCL they took a quarter of the GEMM time with CLBlast's own). Off by default: on PoCL
 * the winners of these isolated timings made whole training steps slower (0.6-0.8x), the data
 * they move being cold there. CLBlast cannot return to its own helper
 * parameters within a process, so when none of these wins, this process keeps the last one
 * tried (the same results: they only move data); the file keeps CLBlast's. */
static void search_helpers(tune_run *r, double spent)
{
    double ms[CLVAE_TUNE_MAX_SHAPES], total = 0;
    int done = r->evaluated + r->rejected;
    for (int i = 0; r->o->helpers && r->n_top > 0 && !r->top[0].p.has_helpers &&
                    budget_left(r, spent, 1.0);
         i++) {
        clvae_gemm_params p = r->top[0].p;
        if (!clvae_tune_curated_helpers(&r->lim, i, p.h)) break;
        p.has_helpers = true;
        if (!clvae_helpers_legal(p.h, &r->lim) || !mark_seen(r, &p)) continue;
        double t = clvae_tune_now();
        int st = eval_params(r, &p, ms, &total);
        spent += clvae_tune_now() - t;
        record(r, &p, st, ms, total);
        progress(r, done + i, "helpers", st, total);
    }
    if (r->o->progress && r->tty) fputc('\n', stderr);
}

/* Times the best few again (their programs are built) and keeps each shape's faster time. */
static void retime_top(tune_run *r)
{
    double ms[CLVAE_TUNE_MAX_SHAPES], total;
    for (int j = 0; j < r->n_top; j++) {
        if (eval_params(r, &r->top[j].p, ms, &total)) continue;
        r->top[j].total = 0;
        for (int i = 0; i < r->n; i++) {
            if (ms[i] < r->top[j].ms[i]) r->top[j].ms[i] = ms[i];
            r->top[j].total += r->top[j].ms[i] * r->cases[i].s.calls;
        }
    }
    for (int j = 1; j < r->n_top; j++)
        if (r->top[j].total < r->top[0].total) {
            scored tmp = r->top[0];
            r->top[0] = r->top[j];
            r->top[j] = tmp;
        }
}

/* Step time of the shapes with each on the fastest of `sets`; fills which. */
static double assign(const tune_run *r, const scored *const *sets, int n_sets, int *which)
{
    double total = 0;
    for (int i = 0; i < r->n; i++) {
        which[i] = 0;
        for (int j = 1; j < n_sets; j++)
            if (sets[j]->ms[i] < sets[which[i]]->ms[i]) which[i] = j;
        total += sets[which[i]]->ms[i] * r->cases[i].s.calls;
    }
    return total;
}

/* Greedy per-shape sets: beside the winner, up to CLVAE_TUNE_MAX_SETS - 1 verified candidates,
 * each the one that saves the most step time on the shapes it is fastest on, while it saves at
 * least MIN_SET_GAIN of the step. An extra set is timed again, and a shape keeps it only when it
 * still wins (the fastest of its two timings, as for the winner). */
static void choose_sets(tune_run *r, clvae_tuning *t)
{
    const scored *sets[CLVAE_TUNE_MAX_SETS] = {&r->top[0]};
    scored again[CLVAE_TUNE_MAX_SETS];
    int n_sets = 1, which[CLVAE_TUNE_MAX_SHAPES];
    int max_sets = r->o->max_sets < 1                    ? 1
                   : r->o->max_sets > CLVAE_TUNE_MAX_SETS ? CLVAE_TUNE_MAX_SETS
                                                         : r->o->max_sets;
    double total = assign(r, sets, 1, which);
    while (n_sets < max_sets) {
        int best = -1;
        double best_total = total * (1.0 - MIN_SET_GAIN);
        for (int j = 0; j < r->n_all; j++) {
            sets[n_sets] = &r->all[j];
            double with = assign(r, sets, n_sets + 1, which);
            if (with < best_total) best = j, best_total = with;
        }
        if (best < 0) break;
        again[n_sets] = r->all[best];
        double ms[CLVAE_TUNE_MAX_SHAPES], sum;
        if (!eval_params(r, &again[n_sets].p, ms, &sum))
            for (int i = 0; i < r->n; i++)
                if (ms[i] < again[n_sets].ms[i]) again[n_sets].ms[i] = ms[i];
        sets[n_sets] = &again[n_sets];
        n_sets++;
        total = assign(r, sets, n_sets, which);
    }
    total = assign(r, sets, n_sets, which); /* the trials above overwrote `which` */
    /* the sets no shape kept are dropped; the others are renumbered in order */
    int index[CLVAE_TUNE_MAX_SETS] = {0};
    t->n_extra = 0;
    for (int j = 1; j < n_sets; j++) {
        bool used = false;
        for (int i = 0; i < r->n; i++)
            used |= which[i] == j;
        if (used) {
            t->extra[t->n_extra] = sets[j]->p;
            index[j] = ++t->n_extra;
        }
    }
    t->tuned_ms = total;
    for (int i = 0; i < r->n; i++) {
        t->shape_set[i] = index[which[i]];
        t->shape_tuned_ms[i] = sets[which[i]]->ms[i];
    }
}

/* CLBlast keeps one set of copy/pad/transpose parameters per process (a set without them leaves
 * the last applied ones), so the sets get the first set's that has them, the way they ran. */
static void share_helpers(clvae_tuning *t)
{
    const clvae_gemm_params *with = t->p.has_helpers ? &t->p : NULL;
    for (int j = 0; !with && j < t->n_extra; j++)
        if (t->extra[j].has_helpers) with = &t->extra[j];
    if (!with || t->use_defaults) return;
    size_t h[CLVAE_HELPER_NP];
    memcpy(h, with->h, sizeof h);
    for (int j = -1; j < t->n_extra; j++) {
        clvae_gemm_params *p = j < 0 ? &t->p : &t->extra[j];
        p->has_helpers = true;
        memcpy(p->h, h, sizeof h);
    }
}

/* Fills the result; the winner stays applied (CLBlast cannot return to its defaults in-process,
 * so when the defaults were fastest the file says so and later runs keep them). */
static void finish_result(tune_run *r, clvae_tuning *t)
{
    clvae_tuning_identify(t, r->c->dev.platform, r->c->dev.id);
    t->default_ms = r->def_total;
    t->evaluated = r->evaluated;
    t->rejected = r->rejected;
    t->n_shapes = r->n;
    t->use_defaults = r->n_top == 0 || r->top[0].total >= r->def_total;
    t->tuned_ms = t->use_defaults ? r->def_total : r->top[0].total;
    for (int i = 0; i < r->n; i++) {
        t->shapes[i] = r->cases[i].s;
        t->shape_default_ms[i] = r->def_ms[i];
        t->shape_tuned_ms[i] = t->use_defaults ? r->def_ms[i] : r->top[0].ms[i];
    }
    if (!t->use_defaults) choose_sets(r, t);
    if (r->n_top > 0) t->p = r->top[0].p;
    share_helpers(t);
    if (r->n_top > 0) clvae_gemm_params_apply(r->c->dev.id, &t->p);
    t->seconds = clvae_tune_now() - r->t0;
}

static int tune_body(tune_run *r, const clvae_gemm_shape *shapes, int n, clvae_tuning *t)
{
    int st = run_init(r, shapes, n);
    if (st) return st;
    st = eval_params(r, NULL, r->def_ms, &r->def_total);
    if (st == REJECTED)
        return clvae_error(CLVAE_ERR_DEVICE, "tune on \"%s\": CLBlast's default GEMM fails: %s",
                           r->c->dev.name, r->why);
    if (st) return st;
    if (r->o->progress)
        fprintf(stderr,
                "tune: %d GEMM shapes per training step on \"%s\"; CLBlast's defaults "
                "take %.2f ms/step\n",
                r->n, r->c->dev.name, r->def_total);
    search_helpers(r, search(r));
    retime_top(r);
    finish_result(r, t);
    clvae_tune_kernels(r, t);
    return CLVAE_OK;
}

static bool has_shape(const clvae_tuning *t, const clvae_gemm_shape *s)
{
    for (int i = 0; i < t->n_shapes; i++)
        if (t->shapes[i].ta == s->ta && t->shapes[i].tb == s->tb && t->shapes[i].m == s->m &&
            t->shapes[i].n == s->n && t->shapes[i].k == s->k)
            return true;
    return false;
}

/* One tuning file serves a device, but a user trains several models on it: the kernel choices
 * that the device's previous file made for shapes this search did not have (another model's)
 * are kept, up to CLVAE_TUNE_MAX_SHAPES shapes, so that tuning model B does not undo model A's
 * tuning. Shapes the previous search left on CLBlast are not kept: their parameter sets are
 * replaced by this search's. Returns how many were kept. */
static int keep_other_models(ocl_ctx *c, clvae_tuning *t)
{
    clvae_tuning *old = malloc(sizeof *old);
    int kept = 0;
    if (!old || !read_previous(c, old)) goto done;
    for (int i = 0; i < old->n_shapes && t->n_shapes < CLVAE_TUNE_MAX_SHAPES; i++) {
        if (old->shape_tiled[i].form == CLVAE_TILED_NONE || has_shape(t, &old->shapes[i]))
            continue;
        int j = t->n_shapes++;
        t->shapes[j] = old->shapes[i];
        t->shape_set[j] = 0;
        t->shape_tiled[j] = old->shape_tiled[i];
        t->shape_default_ms[j] = old->shape_default_ms[i];
        t->shape_tuned_ms[j] = old->shape_tuned_ms[i];
        kept++;
    }
done:
    free(old);
    return kept;
}

int clvae_opencl_tune(clvae_backend *be, const clvae_gemm_shape *shapes, int n,
                      const clvae_tune_options *o, clvae_tuning *result, char *path,
                      size_t path_size)
{
    if (!clvae_backend_is_opencl(be))
        return clvae_error(CLVAE_ERR_UNSUPPORTED,
                           "tune: GEMM tuning needs an OpenCL device "
                           "(the selected backend is %s)",
                           be->ops ? be->ops->name : "none");
    tune_run *r = calloc(1, sizeof *r);
    if (!r) return clvae_error(CLVAE_ERR_NOMEM, "tune: out of host memory");
    r->be = be;
    r->c = be->ctx;
    r->o = o;
    r->t0 = clvae_tune_now();
    memset(result, 0, sizeof *result);
    path[0] = '\0';
    clvae_ocl_gemm_sets_free(r->c); /* every candidate applies to every shape */
    clvae_ocl_tiled_install(r->c, NULL);
    clvae_opencl_gemm_force(be, NULL); /* phases 1-2 time CLBlast */
    int st = tune_body(r, shapes, n, result);
    clvae_opencl_gemm_force(be, NULL);
    int kept = st ? 0 : keep_other_models(r->c, result);
    if (kept && o->progress)
        fprintf(stderr, "tune: kept the kernels of %d other shapes from the device's previous "
                "tuning file (other models')\n", kept);
    if (!st) st = clvae_ocl_gemm_sets_install(r->c, result);
    if (!st) st = clvae_ocl_tiled_install(r->c, result);
    bool dirty = r->dirty;
    clvae_tune_run_free(r);
    free(r);
    ocl_ctx *c = be->ctx;
    if (!st && c->cache_dir[0]) {
        clvae_tuning_path(c->cache_dir, c->dev.platform, c->dev.id, path, path_size);
        st = clvae_tuning_write(path, result);
        if (!st) c->tuning_state = CLVAE_TUNING_APPLIED;
    }
    if (!st && dirty) /* CLBlast cannot go back to its defaults within a process */
        st = clvae_error(CLVAE_ERR_DEVICE,
                         "tune on \"%s\": no candidate GEMM configuration worked, and CLBlast "
                         "keeps the last one within this process; the tuning file keeps CLBlast's "
                         "defaults, so run the command again",
                         c->dev.name);
    return st;
}
