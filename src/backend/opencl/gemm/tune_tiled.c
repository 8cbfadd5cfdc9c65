/* Phase 3 of the search (search layer): clvae's own kernels, shape by shape, each candidate
 * verified against the reference and timed against CLBlast's figure for the shape. */
#include <math.h>
#include <stdio.h>

#include "backend/opencl/gemm/run.h"
#include "backend/opencl/gemm/space.h"
#include "backend/opencl/gemm/tune_run.h"
#include "core/log.h"

/* Times shape i with v forced (form NONE: CLBlast as applied); ms, or INFINITY when v fails or
 * is wrong. A first call slower than limit_ms ends the timing there (its figure is returned):
 * on a device where the tiled kernels lose by far (llvmpipe: 17x), batches of them would
 * take minutes. */
static double time_forced(tune_run *r, int i, const clvae_tiled *v, bool verify, double limit_ms)
{
    double sec = INFINITY, t0;
    int st = clvae_opencl_gemm_force(r->be, v);
    if (st) snprintf(r->why, sizeof r->why, "%s", clvae_last_error());
    if (!st && verify) st = clvae_tune_check_case(r, &r->cases[i]);
    if (!st) {
        t0 = clvae_tune_now();
        st = clvae_tune_gemm_call(r, &r->cases[i]);
        if (!st) st = r->be->ops->finish(r->be->ctx);
        if (st) snprintf(r->why, sizeof r->why, "%s", clvae_last_error());
        sec = clvae_tune_now() - t0;
    }
    if (!st && sec * 1e3 <= limit_ms) st = clvae_tune_time_case(r, &r->cases[i], &sec);
    if (st) {
        CLVAE_DEBUG("tune: tiled candidate rejected: %s", r->why);
        return INFINITY;
    }
    return sec * 1e3;
}

/* Split-K candidates for a shape whose C is small next to its k (a weight gradient summed over
 * many rows: conv layers' dW, the dense layer after a conv stack): the output tiles alone give
 * a GPU too few work-items, and on a CPU every row tile streams all of k's B rows through the
 * caches (TN 64x512x6272 on PoCL: outer 8x3x16 rows 101 GF/s, split in 8 slices of 784 rows
 * 133). Tried when k >= SPLIT_MIN_K and C has at most SPLIT_MAX_C elements, right after the
 * first SPLIT_AFTER curated candidates (a shape's share of the budget may end long before the
 * list does): the best outer variant so far (else outer 8x3 of the device's width, rows first)
 * in 4, 8 and 16 slices, each at least SPLIT_MIN_KC steps long. */
#define SPLIT_MIN_K 1024
#define SPLIT_MAX_C 65536
#define SPLIT_MIN_KC 64
#define SPLIT_AFTER 4

static bool split_candidate(const clvae_gemm_shape *s, unsigned vw, const clvae_tiled *best, int j,
                            clvae_tiled *v)
{
    static const int slices[] = {8, 4, 16};
    if (j >= 3 || s->k < SPLIT_MIN_K || (size_t)s->m * (size_t)s->n > SPLIT_MAX_C ||
        s->k / slices[j] < SPLIT_MIN_KC)
        return false;
    int w = vw >= 1 && vw <= 16 ? (int)vw : 1;
    *v = best->form == CLVAE_TILED_OUTER ? *best
                                         : (clvae_tiled){CLVAE_TILED_OUTER, 8, 3, w, 1, 1, 0};
    v->ks = slices[j];
    return clvae_tiled_valid(v, s->ta, s->tb);
}

/* The tiled candidates on shape i, each verified against the reference. The fastest is timed
 * again and that second figure alone counts (being the fastest of some 40 noisy timings is
 * luck it does not keep), while CLBlast keeps the faster of its search figure and a timing
 * taken next to it: the comparison leans to CLBlast. The tiled kernel replaces CLBlast for the
 * shape when it is TILED_MIN_GAIN faster. A shape whose first TILED_GIVE_UP candidates all
 * take over twice CLBlast's time is left to CLBlast. With max_candidates, only that many
 * candidates per shape (the tests); past `deadline`, no further candidate. */
static void tune_tiled_shape(tune_run *r, clvae_tuning *t, int i, double deadline)
{
    const clvae_gemm_shape *s = &r->cases[i].s;
    clvae_tiled v, best = {CLVAE_TILED_NONE, 0, 0, 0, 0, 0, 0};
    const clvae_tiled blast = best;
    double best_ms = INFINITY, limit = 2.0 * t->shape_tuned_ms[i];
    int tried = 0, bad = 0;
    int split = 0; /* split-K candidates tried (after SPLIT_AFTER of the list) */
    for (int j = 0;; j++) {
        bool more = j >= SPLIT_AFTER && split >= 0 &&
                    split_candidate(s, r->c->vw, &best, split, &v);
        if (more) split++, j--; /* the list resumes at j afterwards */
        else if (j >= SPLIT_AFTER) split = -1;
        if (!more && !clvae_tune_tiled_candidate(&r->lim, r->c->vw, s->ta, s->tb, j, &v)) break;
        if (r->o->max_candidates > 0 && tried >= r->o->max_candidates) break;
        if (clvae_tune_now() > deadline || (tried >= TILED_GIVE_UP && !(best_ms <= limit))) break;
        double ms = time_forced(r, i, &v, true, limit);
        tried++;
        bad += isinf(ms) ? 1 : 0;
        if (ms < best_ms) best_ms = ms, best = v;
    }
    if (best.form == CLVAE_TILED_NONE) return;
    best_ms = time_forced(r, i, &best, false, INFINITY);
    /* CLBlast as applied is the shape's own configuration unless the shape has another set, or
     * the defaults won (CLBlast cannot go back to them in-process; their figure stands) */
    if (t->shape_set[i] == 0 && !t->use_defaults) {
        double cb = time_forced(r, i, &blast, false, INFINITY);
        if (cb < t->shape_tuned_ms[i]) t->shape_tuned_ms[i] = cb;
    }
    bool win = best_ms < t->shape_tuned_ms[i] * (1.0 - TILED_MIN_GAIN);
    if (r->o->progress) {
        char name[48];
        clvae_tiled_format(&best, name, sizeof name);
        fprintf(stderr, "tune: tiled %c%c %dx%dx%d: best %s %.3f ms, CLBlast %.3f ms -> %s (%d "
                "candidates, %d rejected)\n", s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', s->m, s->n,
                s->k, name, best_ms, t->shape_tuned_ms[i], win ? "tiled" : "CLBlast", tried, bad);
    }
    if (!win) return;
    t->shape_tiled[i] = best;
    t->shape_tuned_ms[i] = best_ms;
}

/* Phase 3 gets its own budget: the search's --seconds, at least TILED_MIN_SECONDS. The shapes
 * go in order of their CLBlast time per step (time x calls), the largest first, and each gets an
 * equal share of what is left of the budget (a shape done early leaves its rest to the others):
 * a conv model's 17 shapes at some 55 candidates each outrun a minute, and in step order the
 * last shapes, whatever their weight, got none. */
void clvae_tune_kernels(tune_run *r, clvae_tuning *t)
{
    double budget = r->o->seconds > TILED_MIN_SECONDS ? r->o->seconds : TILED_MIN_SECONDS;
    double deadline = clvae_tune_now() + budget;
    int order[CLVAE_TUNE_MAX_SHAPES], n = r->n < CLVAE_TUNE_MAX_SHAPES ? r->n : CLVAE_TUNE_MAX_SHAPES;
    for (int i = 0; i < n; i++) {
        int j = i; /* insertion by weight, descending */
        double w = t->shape_tuned_ms[i] * r->cases[i].s.calls;
        while (j > 0 && t->shape_tuned_ms[order[j - 1]] * r->cases[order[j - 1]].s.calls < w) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (int i = 0; i < n; i++) {
        double now = clvae_tune_now(), share = (deadline - now) / (n - i);
        tune_tiled_shape(r, t, order[i], share > 0 ? now + share : deadline);
    }
    if (clvae_tune_now() > deadline && r->o->progress)
        fprintf(stderr, "tune: the tiled kernels' %.0f s ran out; candidates not reached were "
                "not timed (`clvae tune --seconds S` gives both phases more)\n", budget);
    clvae_opencl_gemm_force(r->be, NULL);
    t->tuned_ms = 0;
    for (int i = 0; i < r->n; i++)
        t->tuned_ms += t->shape_tuned_ms[i] * r->cases[i].s.calls;
    t->seconds = clvae_tune_now() - r->t0;
}
