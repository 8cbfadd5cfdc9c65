/* The training loop: data, backend and model set-up, epochs of SGVB steps with device-side loss
 * accumulation read back once per logging interval, evaluation, metrics and the run directory.
 * Data-parallel (src/dist/, N ranks under mpirun): every rank trains its B/N rows of each batch,
 * the gradients are summed after each backward, rank 0 alone writes the run directory; work one
 * rank does alone ends in clvae_dist_agree, so a failure there is reported once and every rank
 * exits; a fault inside the loop ends the job through clvae_dist_abort. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "clvae/data.h"
#include "clvae/train.h"
#include "core/log.h"
#include "core/philox.h"
#include "data/binarize.h"
#include "dist/dist_model.h"
#include "model/vae.h"
#include "train/autotune.h"
#include "train/eval.h"
#include "train/checkpoint.h"
#include "train/profile.h"
#include "train/progress.h"
#include "train/rundir.h"
#include "train/runlock.h"
#include "train/scheduler.h"
#include "train/trainer.h"
#include "train/valid.h"
#include "train/visual.h"

struct trainer {
    const clvae_config *cfg; /* = &resolved */
    clvae_config resolved;   /* the caller's config with model.classes resolved from the data */
    const clvae_train_options *opt; /* = &opts */
    clvae_train_options opts;
    bool memory;            /* the library's trainer: no run directory (no files at all) */
    const struct trainer *from; /* the library's trainer on new data: continue from this one */
    int last_epoch;         /* this call trains up to this epoch ... */
    long max_steps;         /* ... or up to this optimizer step (0: no limit) */
    clvae_dataset train, test;
    clvae_valid valid;      /* data.valid rows held out of train (valid.h) */
    clvae_runlock lock;     /* output.dir/train.lock: one writer per run directory */
    clvae_backend own_be;   /* the backend unless the caller lends one */
    clvae_backend *be;      /* &own_be or the caller's */
    clvae_model m;
    clvae_sched *sched;     /* feeds batches: device-resident or streamed (scheduler.h) */
    clvae_profile *prof;    /* --profile trace, or NULL */
    uint32_t *perm;   /* (N) epoch permutation */
    double epoch_loss_sum;
    long epoch_samples;   /* samples of this epoch trained so far (also before a resume) */
    long run_samples;     /* samples of this epoch trained by this process (for samples/s) */
    clvae_ckpt_state pos;   /* where training stands: epochs done, next row of the epoch */
    char *config_text;      /* the resolved config.ini, stored in checkpoints */
    FILE *losses;           /* --losses FILE: one JSON line per loss read-back, or NULL */
    int rank, ranks;        /* data-parallel: this process, the job's processes (src/dist/) */
    float *stage;           /* (n_floats + 1) host staging of the gradient sum (ranks > 1) */
    double allreduce_s;     /* this epoch: seconds summing gradients (download, MPI, upload) */
    bool stop_agreed;       /* ranks > 1: some rank was signalled; all stop after this step */
    bool collective;        /* the error is every rank's (agreed): no abort */
    bool cancel;            /* the progress callback asked to stop (library fit) */
    bool released;          /* the library's trainer: data and scheduler freed, no more runs */
};
typedef struct trainer trainer;

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig)
{
    stop_requested = sig;
}

/* Conditional models: model.classes = 0 becomes the training labels' max + 1 (written to the
 * run's config.ini); both sets' labels must then lie in 0..C-1. */
static int resolve_classes(trainer *t)
{
    clvae_config *c = &t->resolved;
    if (!c->model.conditional) return CLVAE_OK;
    if (c->model.classes == 0) c->model.classes = t->train.n_classes;
    if (c->model.classes < 2)
        return clvae_error(CLVAE_ERR_DATA, "%s: model.conditional = true needs at least 2 "
                                           "classes, the labels have %d",
                           clvae_data_labels_path(c, false), c->model.classes);
    int st = clvae_labels_check(&t->train, clvae_data_labels_path(c, false), c->model.classes);
    if (!st) st = clvae_labels_check(&t->test, clvae_data_labels_path(c, true), c->model.classes);
    return st;
}

/* An owned copy of an in-memory dataset (the trainer splits and binarizes its sets in place). */
static int copy_dataset(clvae_dataset *dst, const clvae_dataset *src)
{
    size_t n = src->n * src->dim;
    *dst = *src;
    dst->u8 = src->u8 ? malloc(n) : NULL;
    dst->f32 = src->f32 ? malloc(n * sizeof(float)) : NULL;
    dst->labels = src->labels ? malloc(src->n) : NULL;
    if ((src->u8 && !dst->u8) || (src->f32 && !dst->f32) || (src->labels && !dst->labels))
        return clvae_error(CLVAE_ERR_NOMEM, "trainer: out of host memory copying the data");
    if (src->u8) memcpy(dst->u8, src->u8, n);
    if (src->f32) memcpy(dst->f32, src->f32, n * sizeof(float));
    if (src->labels) memcpy(dst->labels, src->labels, src->n);
    return CLVAE_OK;
}

static int load_set(trainer *t, bool test)
{
    const clvae_dataset *mem = test ? t->opt->test_data : t->opt->train_data;
    clvae_dataset *ds = test ? &t->test : &t->train;
    if (t->opt->train_data) return copy_dataset(ds, mem ? mem : t->opt->train_data);
    return clvae_dataset_load_cfg(ds, t->cfg, test, true);
}

static int load_data(trainer *t)
{
    const clvae_config *c = t->cfg;
    int st = load_set(t, false);
    if (!st) st = clvae_valid_split(c, &t->train, &t->valid);
    if (st) return st;
    if ((st = load_set(t, true))) return st;
    if (t->train.dim != t->test.dim)
        return clvae_error(CLVAE_ERR_DATA, "%s has %zu features per sample but %s has %zu",
                           c->data.train, t->train.dim, c->data.test, t->test.dim);
    if (t->train.n == 0) return clvae_error(CLVAE_ERR_DATA, "%s holds no samples", c->data.train);
    if ((st = resolve_classes(t))) return st;
    /* binarize: the test set once (deterministic evaluation); the training set once (fixed) or
     * on the device at every draw (dynamic, in the model's step) */
    if (c->data.binarize != CLVAE_BIN_NONE) {
        clvae_dataset_binarize(&t->test, c->train.seed, true);
        if (t->valid.ds.n) clvae_dataset_binarize(&t->valid.ds, c->train.seed, true);
    }
    if (c->data.binarize == CLVAE_BIN_FIXED)
        clvae_dataset_binarize(&t->train, c->train.seed, false);
    return clvae_visual_check(c, &t->test);
}

/* N ranks: each takes B/N rows of every batch; the epoch's last, shorter batch is split as
 * evenly as the rows allow (every rank at least one row). */
static int check_split(const trainer *t)
{
    const clvae_config *c = t->cfg;
    long B = c->train.batch, N = t->ranks, last = (long)(t->train.n % (size_t)B);
    if (N == 1) return CLVAE_OK;
    if (N > B || B % N)
        return clvae_error(CLVAE_ERR_CONFIG, "train.batch = %ld cannot be split over %ld ranks: "
                                             "it is the global batch, each rank takes "
                                             "train.batch / ranks rows; use a multiple of %ld",
                           B, N, N);
    if (last && last < N)
        return clvae_error(CLVAE_ERR_CONFIG, "the epoch's last batch has %ld rows (%zu training "
                                             "samples, train.batch = %ld), fewer than the %ld "
                                             "ranks: change train.batch or data.limit_train",
                           last, t->train.n, B, N);
    return CLVAE_OK;
}

static int trainer_open(trainer *t)
{
    int st, B = t->cfg->train.batch;
    if ((st = load_data(t)) || (st = check_split(t))) return st;
    if (!t->be && (st = clvae_backend_create(t->cfg, t->be = &t->own_be))) return st;
    CLVAE_INFO("backend %s, device %s", t->be->ops->name, t->be->ops->device_name(t->be->ctx));
    if ((st = clvae_model_layout_data(&t->m, t->cfg, &t->train))) return st;
    if ((st = clvae_model_init(&t->m, t->be, B, t->cfg->train.samples, true))) return st;
    if (t->ranks > 1) t->m.bn_sum = clvae_dist_sum_f32; /* synchronized BatchNorm */
    /* no tuning file yet: tune GEMMs once */
    if ((st = clvae_autotune_first_use(t->be, t->cfg, &t->m))) return st;
    t->perm = malloc(t->train.n * sizeof(uint32_t));
    if (t->ranks > 1) t->stage = malloc((t->m.n_floats + 1) * sizeof(float));
    if (!t->perm || (t->ranks > 1 && !t->stage))
        return clvae_error(CLVAE_ERR_NOMEM, "trainer: out of host memory");
    /* Profiling first: it recreates the queues before the scheduler starts using them. */
    if (t->opt->profile_path && t->rank == 0 &&
        (st = clvae_profile_open(&t->prof, t->be, t->opt->profile_path, 0, CLVAE_PROFILE_STEPS)))
        return st;
    clvae_sched_options so;
    clvae_sched_options_default(&so, t->cfg);
    so.profile = t->prof;
    so.shard = t->rank;
    so.shards = t->ranks;
    return clvae_sched_init(&t->sched, &t->m, &t->train, B, &so);
}

static void trainer_close(trainer *t)
{
    clvae_sched_free(t->sched); /* joins the loader thread */
    clvae_profile_close(t->prof); /* no-op when already written */
    clvae_profile_free(t->prof);
    clvae_model_free(&t->m);
    if (t->be == &t->own_be) clvae_backend_free(t->be);
    clvae_dataset_free(&t->train);
    clvae_dataset_free(&t->test);
    clvae_valid_free(&t->valid);
    clvae_runlock_release(&t->lock);
    free(t->perm);
    free(t->stage);
    free(t->config_text);
    if (t->losses) fclose(t->losses);
}

/* Writes output.dir/`file` (checkpoint.safetensors, or the best one). */
static int save_checkpoint_as(trainer *t, const char *file)
{
    char path[CLVAE_PATH_MAX + 64];
    bool mid = t->pos.next_row != 0;
    t->pos.loss_sum = mid ? t->epoch_loss_sum : 0;
    t->pos.samples = mid ? t->epoch_samples : 0;
    snprintf(path, sizeof path, "%s/%s", t->cfg->output.dir, file);
    return clvae_checkpoint_save_file(&t->m, path, &t->pos, t->config_text,
                                      t->be->ops->device_name(t->be->ctx));
}

static int save_checkpoint(trainer *t)
{
    return save_checkpoint_as(t, "checkpoint.safetensors");
}

/* A signal arrived: finish the queued work, write a resumable checkpoint, report where. */
static int interrupted(trainer *t)
{
    int st = t->be->ops->finish(t->be->ctx);
    if (t->ranks > 1) {
        /* every rank stops after the same step; rank 0 writes and reports */
        if (!stop_requested) stop_requested = SIGTERM;
        if (!st && t->rank == 0) st = save_checkpoint(t);
        if (st) return st;
        t->collective = true;
        clvae_dist_set_quiet(t->rank != 0);
        if (t->rank != 0)
            return clvae_error(CLVAE_ERR_INTERRUPTED, "interrupted (rank 0 checkpoints)");
    }
    if (!st && t->ranks == 1 && !t->memory) st = save_checkpoint(t);
    if (st) return st;
    if (t->cancel || t->memory) /* the library prints nothing */
        return clvae_error(CLVAE_ERR_INTERRUPTED, "training cancelled by the progress callback "
                                                  "at step %llu", (unsigned long long)t->m.step);
    fprintf(stderr, "\nclvae: interrupted at step %llu; checkpoint written to "
                    "%s/checkpoint.safetensors (resume with --resume %s)\n",
            (unsigned long long)t->m.step, t->cfg->output.dir, t->cfg->output.dir);
    return clvae_error(CLVAE_ERR_INTERRUPTED, "interrupted by signal %d", (int)stop_requested);
}

/* Non-finite loss sums are a numeric error (the last good checkpoint stays). */
static int check_losses(const trainer *t, const clvae_losses *lp)
{
    clvae_losses l = *lp;
    bool iwae = t->m.objective == CLVAE_OBJ_IWAE;
    const char *bad = !isfinite(l.recon) ? "recon" : !isfinite(l.kl) ? "KL"
                      : iwae && !isfinite(l.neg_bound) ? "the IWAE bound" : NULL;
    if (bad)
        return clvae_error(CLVAE_ERR_NUMERIC,
                           "non-finite loss detected at step %llu (checked every train.log_every "
                           "steps): %s is %g (try a smaller train.lr; the last good checkpoint "
                           "is kept)",
                           (unsigned long long)t->m.step, bad,
                           bad[0] == 'r' ? l.recon : bad[0] == 'K' ? l.kl : l.neg_bound);
    return CLVAE_OK;
}

/* Reads the device accumulators (N ranks: each checks its own rows, so a message names the
 * rank, then the sums over the ranks), checks them, adds them to the epoch totals: the
 * objective's loss (negative ELBO, or the negative importance-weighted bound). */
static int drain_losses(trainer *t, long samples)
{
    clvae_losses l;
    int st = clvae_model_take_all_losses(&t->m, &l);
    if (st) return st;
    if (t->ranks > 1) {
        if ((st = clvae_dist_agree(check_losses(t, &l)))) {
            t->collective = true;
            return st;
        }
        if ((st = clvae_dist_sum_losses(&l))) return st;
    }
    if ((st = check_losses(t, &l))) return st;
    bool iwae = t->m.objective == CLVAE_OBJ_IWAE;
    double loss = iwae ? l.neg_bound : l.recon + l.kl;
    t->epoch_loss_sum += loss;
    t->epoch_samples += samples;
    if (t->losses)
        fprintf(t->losses, "{\"step\": %llu, \"samples\": %ld, \"loss\": %.9g, \"recon\": "
                           "%.9g, \"kl\": %.9g}\n", (unsigned long long)t->m.step, samples,
                loss / samples, l.recon / samples, l.kl / samples);
    return CLVAE_OK;
}

/* One step on this rank's b rows of the batch at `first`: alone, the model's train step; with
 * N ranks, the gradients of the shard, their sum over the ranks (with the stop flag), the
 * optimizer. */
static int train_step(trainer *t, int b, size_t first)
{
    if (t->ranks == 1) return clvae_model_train_step(&t->m, b);
    size_t n = t->train.n, B = (size_t)t->cfg->train.batch;
    int gb = (int)(n - first < B ? n - first : B), row0 = (int)((size_t)gb * t->rank / t->ranks);
    long step = (long)t->m.step;
    int st = clvae_model_train_grads(&t->m, b, row0, gb);
    if (!st) st = t->be->ops->finish(t->be->ctx); /* the sum's time is not the backward's */
    float flag = stop_requested ? 1.0f : 0.0f;
    double t0 = clvae_now();
    if (!st) st = clvae_dist_sum_grads(&t->m, t->stage, &flag);
    double t1 = clvae_now();
    t->allreduce_s += t1 - t0;
    if (clvae_profile_wants(t->prof, step))
        clvae_profile_span(t->prof, CLVAE_TRACK_ALLREDUCE, "allreduce", step, t0, t1);
    t->stop_agreed = flag > 0;
    return st ? st : clvae_model_apply_grads(&t->m);
}

static int run_epoch(trainer *t, int epoch, clvae_progress *pg)
{
    const clvae_config *c = t->cfg;
    size_t n = t->train.n, B = (size_t)c->train.batch;
    long since = 0, step_in_epoch = 0;
    int st;
    clvae_philox_permutation(c->train.seed, (uint64_t)epoch, t->perm, n);
    if (t->pos.next_row == 0) { /* else: resumed mid-epoch, partial sums from the checkpoint */
        t->epoch_loss_sum = 0;
        t->epoch_samples = 0;
    }
    t->run_samples = 0;
    t->allreduce_s = 0;
    /* The scheduler feeds the same shuffled batches whatever the residency (resume: from
     * next_row); next() points m->x at the batch, step_done() lets its slot be reused. */
    if ((st = clvae_sched_epoch_begin(t->sched, t->perm, (size_t)t->pos.next_row))) return st;
    for (size_t first = (size_t)t->pos.next_row; first < n; first += B) {
        int b;
        if ((st = clvae_sched_next(t->sched, &b))) return st;
        if (b == 0) return clvae_error(CLVAE_ERR_INTERNAL, "scheduler ended the epoch early");
        if ((st = train_step(t, b, first))) return st;
        if ((st = clvae_sched_step_done(t->sched))) return st;
        int g = t->ranks > 1 ? (int)(n - first < B ? n - first : B) : b; /* rows of all ranks */
        since += g;
        t->run_samples += g;
        step_in_epoch++;
        t->pos.next_row = (long long)(first + g);
        if (t->ranks > 1 ? t->stop_agreed : stop_requested != 0 || t->cancel) {
            if ((st = drain_losses(t, since))) return st;
            return interrupted(t);
        }
        if (step_in_epoch % c->train.log_every == 0 || first + B >= n) {
            if ((st = drain_losses(t, since))) return st;
            since = 0;
            clvae_progress_update(pg, step_in_epoch, t->epoch_loss_sum / t->epoch_samples,
                                  t->epoch_samples);
            if (t->opt->progress &&
                t->opt->progress(t->opt->progress_user, epoch, (long long)t->m.step,
                                 t->epoch_loss_sum / t->epoch_samples))
                t->cancel = true;
        }
        if (t->max_steps && (long)t->m.step >= t->max_steps) break;
    }
    if (since && (st = drain_losses(t, since))) return st;
    if ((size_t)t->pos.next_row >= n) { /* else train.max_steps stopped mid-epoch */
        t->pos.epoch = epoch;
        t->pos.next_row = 0;
    }
    return CLVAE_OK;
}

/* Rank 0's end of an epoch: evaluation, metrics, images, checkpoints. */
static int epoch_report(trainer *t, int epoch, double seconds, clvae_train_result *res)
{
    clvae_eval_result ev;
    int st = clvae_eval_elbo(&t->m, &t->test, false, &ev);
    if (st) return st;
    if (!isfinite(ev.loss))
        return clvae_error(CLVAE_ERR_NUMERIC, "non-finite test loss after epoch %d (recon %g, KL %g)",
                           epoch, ev.recon, ev.kl);
    res->test_loss = ev.loss;
    if (t->memory) return CLVAE_OK; /* the library's trainer: the test loss alone */
    clvae_epoch_metrics em = {.epoch = epoch, .step = (long long)t->m.step,
                              .train_loss = res->train_loss, .test_loss = ev.loss,
                              .recon = ev.recon, .kl = ev.kl, .seconds = seconds,
                              .samples_per_s = res->samples_per_s, .device = res->device,
                              .backend = res->backend, .layers = ev.layers,
                              .kl_layers = ev.kl_layer,
                              .objective = t->m.objective == CLVAE_OBJ_IWAE ? "iwae" : "elbo",
                              .kl_weight = clvae_model_kl_weight(&t->m),
                              .categorical = ev.categorical, .tau = ev.tau,
                              .test_loss_onehot = ev.loss_onehot,
                              .ranks = t->ranks, .allreduce_share = t->allreduce_s / seconds};
    bool best;
    if ((st = clvae_valid_epoch(&t->valid, &t->m, &best))) return st;
    em.has_valid = t->valid.ds.n > 0;
    em.valid_loss = t->valid.last;
    if ((st = clvae_rundir_append_metrics(t->cfg->output.dir, &em))) return st;
    if ((st = clvae_visual_refresh(&t->m, t->cfg, &t->test))) return st;
    int every = t->cfg->output.checkpoint_every;
    if ((every && epoch % every == 0) || epoch == t->cfg->train.epochs)
        if ((st = save_checkpoint(t))) return st;
    if (best && (st = save_checkpoint_as(t, CLVAE_BEST_CHECKPOINT))) return st;
    if (!t->opt->quiet)
        fprintf(stderr, "epoch %d: train_loss %.4f test_loss %.4f (recon %.4f, kl %.4f) %.1f s, "
                        "%.0f samples/s\n", epoch, res->train_loss, ev.loss, ev.recon, ev.kl,
                seconds, res->samples_per_s);
    return CLVAE_OK;
}

/* Work rank 0 did alone (status st there), agreed by every rank. */
static int rank0_agreed(trainer *t, int st)
{
    if (t->ranks == 1) return st;
    st = clvae_dist_agree(t->rank == 0 ? st : CLVAE_OK);
    t->collective = st != CLVAE_OK;
    return st;
}

static int epoch_done(trainer *t, int epoch, double seconds, clvae_train_result *res)
{
    /* the optimizer ran on every rank: the same parameters everywhere, checked once an epoch */
    int st = clvae_dist_agree(clvae_dist_check_params(&t->m, t->stage));
    if (st) {
        t->collective = true;
        return st;
    }
    res->train_loss = t->epoch_loss_sum / (double)t->epoch_samples;
    res->epochs = epoch;
    res->steps = (long long)t->m.step;
    res->samples_per_s = t->run_samples / seconds;
    return rank0_agreed(t, t->rank == 0 ? epoch_report(t, epoch, seconds, res) : CLVAE_OK);
}

/* A fresh run in a directory that holds an earlier run's checkpoint: keep that checkpoint as
 * checkpoint.prev.safetensors, so it is neither lost nor paired with the new config.ini. */
static int set_aside_old_checkpoint(const char *dir)
{
    char old[CLVAE_PATH_MAX + 32], prev[CLVAE_PATH_MAX + 32];
    snprintf(old, sizeof old, "%s/checkpoint.safetensors", dir);
    snprintf(prev, sizeof prev, "%s/checkpoint.prev.safetensors", dir);
    if (access(old, F_OK) != 0) return CLVAE_OK;
    if (rename(old, prev) != 0)
        return clvae_error(CLVAE_ERR_IO, "cannot move the earlier checkpoint %s aside: %s", old,
                           strerror(errno));
    CLVAE_WARN("%s held an earlier run's checkpoint; it is now %s (use --resume %s to continue "
               "a run instead)", dir, prev, dir);
    return CLVAE_OK;
}

/* The library's trainer on new data: the parameters, optimizer moments, step and position of
 * the trainer it replaces (what --resume reads from a checkpoint, from memory). */
static int adopt_state(trainer *t, const trainer *from)
{
    clvae_model *src = (clvae_model *)&from->m;
    size_t bytes = t->m.n_floats * sizeof(float);
    if (src->n_floats != t->m.n_floats)
        return clvae_error(CLVAE_ERR_INTERNAL, "trainer: %zu parameters to continue from, the "
                                               "model has %zu", src->n_floats, t->m.n_floats);
    float *host = malloc(bytes); /* (n_floats) */
    int st = host ? CLVAE_OK : clvae_error(CLVAE_ERR_NOMEM, "trainer: out of host memory");
    if (!st) st = clvae_model_get_params(src, host);
    if (!st) st = clvae_model_set_params(&t->m, host);
    const clvae_buffer *sb[2] = {src->m_buf, src->v_buf}, *db[2] = {t->m.m_buf, t->m.v_buf};
    for (int i = 0; i < 2 && !st; i++) {
        st = src->be->ops->download(src->be->ctx, (clvae_view){(clvae_buffer *)sb[i], 0}, host,
                                    bytes);
        if (!st) st = t->be->ops->upload(t->be->ctx, (clvae_view){(clvae_buffer *)db[i], 0}, host,
                                         bytes);
    }
    free(host);
    if (st) return st;
    t->m.step = src->step;
    t->pos = from->pos;
    t->epoch_loss_sum = from->epoch_loss_sum;
    t->epoch_samples = from->epoch_samples;
    if ((size_t)t->pos.next_row > t->train.n)
        return clvae_error(CLVAE_ERR_INPUT, "the model stopped at row %lld of epoch %d, but the "
                                            "new training array has %zu rows: continue it with "
                                            "at least that many, or finish the epoch first",
                           t->pos.next_row, t->pos.epoch + 1, t->train.n);
    return CLVAE_OK;
}

/* The library's trainer (no run directory): fresh parameters, a checkpoint (resume_dir) or
 * the state of the trainer it replaces. */
static int start_in_memory(trainer *t)
{
    if (t->from) return adopt_state(t, t->from);
    if (!t->opt->resume_dir) return CLVAE_OK;
    int st = clvae_checkpoint_load(&t->m, t->opt->resume_dir, true, &t->pos);
    if (!st && (t->pos.epoch < 0 || t->pos.next_row < 0 || (size_t)t->pos.next_row > t->train.n))
        return clvae_error(CLVAE_ERR_INPUT, "the model stopped at row %lld of epoch %d, but the "
                                            "training array has %zu rows",
                           t->pos.next_row, t->pos.epoch + 1, t->train.n);
    t->epoch_loss_sum = t->pos.loss_sum;
    t->epoch_samples = (long)t->pos.samples;
    return st;
}

/* Prepares the run directory; on --resume restores parameters, moments and position. */
static int start_run(trainer *t)
{
    char path[CLVAE_PATH_MAX + 32];
    if (t->memory) return start_in_memory(t);
    int st = clvae_runlock_acquire(t->cfg->output.dir, true, &t->lock);
    if (!st) st = clvae_rundir_prepare(t->cfg, t->opt->resume_dir != NULL);
    if (st) return st;
    snprintf(path, sizeof path, "%s/config.ini", t->cfg->output.dir);
    if (!(t->config_text = clvae_read_text_file(path))) return CLVAE_ERR_IO;
    const char *lp = t->opt->losses_path;
    if (lp && !(t->losses = fopen(lp, t->opt->resume_dir ? "a" : "w")))
        return clvae_error(CLVAE_ERR_IO, "--losses %s: cannot open for writing: %s", lp,
                           strerror(errno));
    if (t->losses) setvbuf(t->losses, NULL, _IOLBF, 0); /* whole lines, also when killed */
    if (!t->opt->resume_dir) return set_aside_old_checkpoint(t->cfg->output.dir);
    if ((st = clvae_checkpoint_load(&t->m, t->opt->resume_dir, true, &t->pos))) return st;
    if (t->pos.epoch < 0 || t->pos.next_row < 0 || (size_t)t->pos.next_row > t->train.n)
        return clvae_error(CLVAE_ERR_CHECKPOINT,
                           "%s/checkpoint.safetensors stopped at row %lld of epoch %d, but the "
                           "training set has %zu samples: resume with the data (and "
                           "data.limit_train) of the checkpointed run",
                           t->opt->resume_dir, t->pos.next_row, t->pos.epoch + 1, t->train.n);
    t->epoch_loss_sum = t->pos.loss_sum;
    t->epoch_samples = (long)t->pos.samples;
    if ((st = clvae_rundir_trim_metrics(t->cfg->output.dir, t->pos.epoch))) return st;
    clvae_valid_resume(&t->valid, t->cfg->output.dir);
    CLVAE_INFO("resuming %s at epoch %d, step %llu", t->opt->resume_dir, t->pos.epoch + 1,
               (unsigned long long)t->m.step);
    return CLVAE_OK;
}

/* A resumed run whose epochs were all done already: report the checkpoint's test loss. */
static int report_finished(trainer *t, clvae_train_result *res)
{
    clvae_eval_result ev;
    int st = clvae_eval_elbo(&t->m, &t->test, false, &ev);
    if (st) return st;
    CLVAE_INFO("all %d epochs were already done; nothing to train", t->pos.epoch);
    res->test_loss = ev.loss;
    res->epochs = t->pos.epoch;
    res->steps = (long long)t->m.step;
    return CLVAE_OK;
}

/* Every rank continues from rank 0's model, position and partial epoch sums. */
static int sync_start(trainer *t)
{
    if (t->ranks == 1) return CLVAE_OK;
    double sums[2] = {t->epoch_loss_sum, (double)t->epoch_samples};
    int st = clvae_dist_bcast_model(&t->m, t->stage);
    if (!st) st = clvae_dist_bcast(&t->pos, sizeof t->pos);
    if (!st) st = clvae_dist_bcast(sums, sizeof sums);
    t->epoch_loss_sum = sums[0];
    t->epoch_samples = (long)sums[1];
    return st;
}

/* Set-up on every rank: rank 0 alone takes the run directory (lock, config.ini, --resume). */
static int setup(trainer *t, clvae_train_result *res)
{
    const clvae_config *cfg = t->cfg;
    int st = clvae_config_validate(cfg);
    /* one writer per run directory: an existing one is locked before anything is loaded */
    if (!st && t->rank == 0 && !t->memory)
        st = clvae_runlock_acquire(cfg->output.dir, false, &t->lock);
    if (!st) st = trainer_open(t);
    if (!st) {
        snprintf(res->device, sizeof res->device, "%s", t->be->ops->device_name(t->be->ctx));
        snprintf(res->backend, sizeof res->backend, "%s", t->be->ops->name);
    }
    if (!st && t->rank == 0) st = start_run(t);
    if (t->ranks > 1 && (st = clvae_dist_agree(st))) {
        t->collective = true;
        return st;
    }
    return st ? st : sync_start(t);
}

/* Epochs from where t stands up to t->last_epoch (or t->max_steps): the loop of `clvae train`
 * and of every library fit call. */
static int train_until(trainer *t, clvae_train_result *res)
{
    long spe = (long)((t->train.n + t->cfg->train.batch - 1) / t->cfg->train.batch);
    int st = CLVAE_OK;
    bool quiet = t->opt->quiet || t->rank != 0;
    res->epochs = 0;
    t->cancel = false;
    for (int epoch = t->pos.epoch + 1; epoch <= t->last_epoch; epoch++) {
        clvae_progress pg;
        clvae_progress_begin(&pg, epoch, t->last_epoch, spe, quiet);
        double t0 = clvae_now();
        st = run_epoch(t, epoch, &pg);
        if (!st) st = t->be->ops->finish(t->be->ctx);
        clvae_progress_end(&pg);
        if (!st) st = epoch_done(t, epoch, clvae_now() - t0, res);
        if (st) return st;
        if (t->max_steps && (long)t->m.step >= t->max_steps) break;
    }
    if (t->pos.epoch >= t->last_epoch && res->epochs == 0)
        st = rank0_agreed(t, t->rank == 0 ? report_finished(t, res) : CLVAE_OK);
    return st;
}

int clvae_train(const clvae_config *cfg, const clvae_train_options *opt, clvae_train_result *res)
{
    trainer t = {.resolved = *cfg, .opt = opt, .rank = clvae_dist_rank(),
                 .ranks = clvae_dist_size(), .last_epoch = cfg->train.epochs,
                 .max_steps = cfg->train.max_steps};
    t.cfg = &t.resolved;
    void (*old_int)(int) = SIG_DFL, (*old_term)(int) = SIG_DFL;
    int st;
    memset(res, 0, sizeof *res);
    if ((st = setup(&t, res))) goto done;
    if (!opt->no_signals) {
        old_int = signal(SIGINT, on_signal);
        old_term = signal(SIGTERM, on_signal);
    }
    if ((st = train_until(&t, res))) goto done;
    clvae_sched_free(t.sched); /* the loader must be quiet before the trace is closed */
    t.sched = NULL;
    st = clvae_profile_close(t.prof); /* the trace of the first steps and the overlap share */
done:
    if (st == CLVAE_ERR_INTERRUPTED) res->signal = (int)stop_requested;
    /* a fault on this rank alone: the others may wait in a collective, end them all */
    else if (st && t.ranks > 1 && !t.collective) clvae_dist_abort(st, NULL);
    if (!opt->no_signals) {
        signal(SIGINT, old_int);
        signal(SIGTERM, old_term);
    }
    trainer_close(&t);
    return st;
}

/* ---- the library's trainer held open across calls (train/trainer.h) ---- */

int clvae_session_open(const clvae_config *cfg, const clvae_session_options *opt,
                       clvae_session **out, clvae_train_result *res)
{
    trainer *t = calloc(1, sizeof *t);
    *out = NULL;
    memset(res, 0, sizeof *res);
    if (!t) return clvae_error(CLVAE_ERR_NOMEM, "trainer: out of host memory");
    t->resolved = *cfg;
    t->cfg = &t->resolved;
    t->opts = *opt->train;
    t->opt = &t->opts;
    t->opts.no_signals = true;
    t->opts.quiet = true;
    t->opts.profile_path = NULL;
    t->opts.losses_path = NULL;
    t->memory = true;
    t->be = opt->backend;
    t->from = opt->from;
    t->rank = 0;
    t->ranks = 1;
    int st = t->opts.train_data ? setup(t, res)
                                : clvae_error(CLVAE_ERR_INTERNAL, "trainer: no training data");
    t->from = NULL;
    if (st) {
        clvae_session_close(t);
        return st;
    }
    *out = t;
    return CLVAE_OK;
}

void clvae_session_release_data(clvae_session *t)
{
    clvae_sched_free(t->sched);
    t->sched = NULL;
    clvae_dataset_free(&t->train);
    clvae_dataset_free(&t->test);
    clvae_valid_free(&t->valid);
    free(t->perm);
    t->perm = NULL;
    t->released = true;
}

int clvae_session_run(clvae_session *t, int epochs, long long steps, clvae_train_result *res)
{
    memset(res, 0, sizeof *res);
    if (t->released)
        return clvae_error(CLVAE_ERR_INTERNAL, "trainer: run after its data was released");
    snprintf(res->device, sizeof res->device, "%s", t->be->ops->device_name(t->be->ctx));
    snprintf(res->backend, sizeof res->backend, "%s", t->be->ops->name);
    t->last_epoch = t->cfg->train.epochs;
    t->max_steps = t->cfg->train.max_steps;
    if (epochs > 0) {
        t->last_epoch = t->pos.epoch + epochs;
        t->max_steps = 0;
    } else if (steps > 0) {
        t->last_epoch = INT32_MAX; /* the step limit ends the run */
        t->max_steps = (long)t->m.step + (long)steps;
    }
    return train_until(t, res);
}

void clvae_session_set_progress(clvae_session *t, int (*fn)(void *, int, long long, double),
                                void *user)
{
    t->opts.progress = fn;
    t->opts.progress_user = user;
}

clvae_model *clvae_session_model(clvae_session *t)
{
    return &t->m;
}

const clvae_config *clvae_session_config(const clvae_session *t)
{
    return t->cfg;
}

int clvae_session_epochs_done(const clvae_session *t)
{
    return t->pos.epoch;
}

/* The resolved config as INI text (written once, through a file next to the checkpoint). */
static int session_config_text(trainer *t, const char *path)
{
    char tmp[CLVAE_PATH_MAX + 32];
    if (t->config_text) return CLVAE_OK;
    snprintf(tmp, sizeof tmp, "%s.config.tmp", path);
    int st = clvae_config_write(t->cfg, tmp);
    if (!st && !(t->config_text = clvae_read_text_file(tmp))) st = CLVAE_ERR_IO;
    remove(tmp);
    if (st == CLVAE_ERR_IO)
        return clvae_error(st, "cannot write %s: its directory must exist and be writable",
                           path);
    return st;
}

int clvae_session_save(clvae_session *t, const char *path)
{
    int st = session_config_text(t, path);
    if (st) return st;
    bool mid = t->pos.next_row != 0;
    t->pos.loss_sum = mid ? t->epoch_loss_sum : 0;
    t->pos.samples = mid ? t->epoch_samples : 0;
    return clvae_checkpoint_save_file(&t->m, path, &t->pos, t->config_text,
                                      t->be->ops->device_name(t->be->ctx));
}

void clvae_session_close(clvae_session *t)
{
    if (!t) return;
    trainer_close(t);
    free(t);
}
