/* The C API's training and inference on arrays (include/clvae/clvae.h): fit runs the CLI's
 * training loop (train/trainer.h) on the arrays and keeps that trainer, its device and model
 * between calls; inference uses the trainer's model;
 * encode/decode/sample/reconstruct/ELBO/IWAE run the model's forward passes in batches. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api_internal.h"
#include "clvae/train.h"
#include "core/philox.h"
#include "io/safetensors.h"
#include "train/eval.h"
#include "train/latents.h"
#include "train/visual.h"

int api_wrap(const clvae_array *x, const uint8_t *labels, long long want_dim, const char *what,
             clvae_dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    int st = api_need(x, what);
    if (!st) st = api_need(x->data, "the array's data");
    if (st) return st;
    if (x->dtype != CLVAE_DTYPE_U8 && x->dtype != CLVAE_DTYPE_F32)
        return clvae_error(CLVAE_ERR_INPUT, "%s: dtype %d is not CLVAE_DTYPE_U8 (1) or "
                                            "CLVAE_DTYPE_F32 (2)", what, (int)x->dtype);
    if (x->ndim != 2 && x->ndim != 4)
        return clvae_error(CLVAE_ERR_INPUT, "%s: %d dimensions; expected (n, D) or (n, C, H, W)",
                           what, x->ndim);
    long long dim = 1;
    for (int i = 0; i < x->ndim; i++) {
        if (x->shape[i] < 1 || x->shape[i] > (1LL << 31))
            return clvae_error(CLVAE_ERR_INPUT, "%s: shape[%d] = %lld is not in 1..2^31", what, i,
                               (long long)x->shape[i]);
        if (i) dim *= x->shape[i];
    }
    if (dim > (1LL << 31))
        return clvae_error(CLVAE_ERR_INPUT, "%s: %lld features per row", what, dim);
    if (want_dim > 0 && dim != want_dim)
        return clvae_error(CLVAE_ERR_INPUT, "%s has %lld features per row; the model was trained "
                                            "on %lld", what, dim, want_dim);
    ds->n = (size_t)x->shape[0];
    ds->dim = (size_t)dim;
    bool gray = x->ndim == 4 && x->shape[1] == 1;
    ds->rows = gray ? (int)x->shape[2] : 1;
    ds->cols = gray ? (int)x->shape[3] : (int)dim;
    if (x->dtype == CLVAE_DTYPE_U8) ds->u8 = (uint8_t *)x->data; /* borrowed, read only */
    else ds->f32 = (float *)x->data;
    if (labels) {
        ds->labels = (uint8_t *)labels;
        for (size_t i = 0; i < ds->n; i++)
            if (labels[i] + 1 > ds->n_classes) ds->n_classes = labels[i] + 1;
    }
    return CLVAE_OK;
}

static int need_fitted(const clvae_vae *vae, const char *call)
{
    if (!vae) return clvae_error(CLVAE_ERR_INPUT, "%s: vae is NULL", call);
    if (!vae->fitted)
        return clvae_error(CLVAE_ERR_INPUT, "%s: the model has no parameters yet (fit or load it "
                                            "first)", call);
    return CLVAE_OK;
}

static int need_labels(const clvae_vae *vae, const uint8_t *labels, const char *call)
{
    if (vae->model->classes > 0 && !labels)
        return clvae_error(CLVAE_ERR_INPUT, "%s: the model is conditional (%d classes): pass the "
                                            "labels", call, vae->model->classes);
    return CLVAE_OK;
}

/* ---- fit: one trainer (train/trainer.h), kept open between calls ---- */

typedef struct fit_call {
    const clvae_fit_options *opt;
    int epochs;
} fit_call;

static int on_progress(void *user, int epoch, long long step, double loss)
{
    fit_call *fc = user;
    clvae_progress_info p = {.epoch = epoch, .epochs = fc->epochs, .step = step, .train_loss = loss};
    return fc->opt->progress(fc->opt->user, &p);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* A trainer continuing a loaded model: its checkpoint file (parameters, optimizer moments,
 * position) read through a private directory, once. */
static int open_from_loaded(clvae_vae *vae, clvae_session_options *so, clvae_session **s,
                            clvae_train_result *r)
{
    const char *tmp = getenv("TMPDIR");
    char dir[CLVAE_PATH_MAX], path[CLVAE_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/clvae-fit-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return clvae_error(CLVAE_ERR_IO, "cannot create a directory in %s",
                           tmp && tmp[0] ? tmp : "/tmp");
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    FILE *out = fopen(path, "wb");
    int st = out ? CLVAE_OK : clvae_error(CLVAE_ERR_IO, "cannot write %s", path);
    if (out) {
        bool ok = fwrite(vae->ckpt, 1, vae->ckpt_size, out) == vae->ckpt_size;
        if (fclose(out) != 0 || !ok) st = clvae_error(CLVAE_ERR_IO, "cannot write %s", path);
    }
    clvae_train_options to = *so->train;
    to.resume_dir = dir;
    so->train = &to;
    if (!st) st = clvae_session_open(&vae->trained, so, s, r);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return st;
}

/* A trainer of vae on train/test: fresh parameters (fresh, or the vae has none), else from
 * where the vae's model stands. The vae's device is opened once and lent to it. */
static int open_session(clvae_vae *vae, bool fresh, const clvae_dataset *train,
                        const clvae_dataset *test, clvae_session **s)
{
    clvae_train_result r;
    clvae_train_options to = {.quiet = true, .no_signals = true, .train_data = train,
                              .test_data = test};
    clvae_session_options so = {.train = &to, .backend = &vae->be};
    fresh = fresh || !vae->fitted;
    const clvae_config *cfg = fresh ? &vae->cfg : &vae->trained;
    int st = CLVAE_OK;
    if (!vae->has_be && !(st = clvae_backend_create(cfg, &vae->be))) vae->has_be = true;
    if (st) return st;
    if (fresh) return clvae_session_open(cfg, &so, s, &r);
    if (!vae->sess) return open_from_loaded(vae, &so, s, &r);
    so.from = vae->sess;
    return clvae_session_open(cfg, &so, s, &r);
}

/* s's model becomes the vae's (the one it had before is dropped). */
static void install(clvae_vae *vae, clvae_session *s)
{
    api_close_trained(vae);
    vae->sess = s;
    vae->model = clvae_session_model(s);
    vae->trained = *clvae_session_config(s);
    vae->fitted = true;
    vae->gen++;
}

/* Runs s (see clvae_session_run) with opt's progress callback. */
static int run_session(clvae_session *s, int epochs, long long steps,
                       const clvae_fit_options *opt, clvae_fit_result *res)
{
    clvae_train_result r;
    fit_call fc = {.opt = opt, .epochs = epochs > 0 ? clvae_session_epochs_done(s) + epochs
                                                    : clvae_session_config(s)->train.epochs};
    clvae_session_set_progress(s, opt && opt->progress ? on_progress : NULL, &fc);
    int st = clvae_session_run(s, epochs, steps, &r);
    clvae_session_set_progress(s, NULL, NULL);
    if (res && (!st || st == CLVAE_ERR_INTERRUPTED))
        *res = (clvae_fit_result){.train_loss = r.train_loss, .test_loss = r.test_loss,
                                  .epochs = r.epochs, .steps = r.steps,
                                  .samples_per_s = r.samples_per_s};
    return st;
}

int clvae_vae_fit(clvae_vae *vae, const clvae_array *x, const uint8_t *labels,
                  const clvae_fit_options *opt, clvae_fit_result *res)
{
    clvae_dataset train, test;
    clvae_session *s = NULL;
    if (res) memset(res, 0, sizeof *res);
    int st = api_need(vae, "clvae_vae_fit: vae");
    if (!st) st = api_wrap(x, labels, 0, "clvae_vae_fit: x", &train);
    if (!st && opt && opt->test)
        st = api_wrap(opt->test, opt->test_labels, (long long)train.dim, "clvae_vae_fit: test",
                      &test);
    if (st) return st;
    if (vae->cfg.model.conditional && !labels)
        return clvae_error(CLVAE_ERR_INPUT, "clvae_vae_fit: model.conditional = true needs the "
                                            "labels");
    st = open_session(vae, true, &train, opt && opt->test ? &test : NULL, &s);
    if (!st) st = run_session(s, 0, 0, opt, res);
    if (st) { /* a failed or cancelled fit: the vae keeps the model it had */
        clvae_session_close(s);
        return st;
    }
    install(vae, s);
    clvae_session_release_data(s); /* only a new trainer trains it further */
    return CLVAE_OK;
}

/* ---- trainer: training in steps or epochs ---- */

struct clvae_trainer {
    clvae_vae *vae;
    clvae_session *sess;    /* its own until its first run, then the vae's */
    bool installed;
    unsigned gen;           /* vae->gen when created / installed */
    clvae_fit_options opt;
};

int clvae_trainer_create(clvae_vae *vae, const clvae_array *x, const uint8_t *labels,
                         const clvae_fit_options *opt, clvae_trainer **out)
{
    clvae_trainer t = {.vae = vae};
    clvae_dataset train, test;
    int st = api_need(out, "clvae_trainer_create: out");
    if (!st) *out = NULL;
    if (!st) st = api_need(vae, "clvae_trainer_create: vae");
    if (!st)
        st = api_wrap(x, labels, vae->fitted ? vae->model->dim : 0, "clvae_trainer_create: x",
                      &train);
    if (!st && opt && opt->test)
        st = api_wrap(opt->test, opt->test_labels, (long long)train.dim,
                      "clvae_trainer_create: test", &test);
    if (!st && vae->cfg.model.conditional && !labels)
        st = clvae_error(CLVAE_ERR_INPUT, "clvae_trainer_create: model.conditional = true needs "
                                          "the labels");
    if (st) return st;
    if (opt) t.opt = *opt;
    t.opt.test = NULL; /* copied by the trainer */
    t.opt.test_labels = NULL;
    t.gen = vae->gen;
    if ((st = open_session(vae, false, &train, opt && opt->test ? &test : NULL, &t.sess)))
        return st;
    if (!(*out = malloc(sizeof t))) {
        clvae_session_close(t.sess);
        return clvae_error(CLVAE_ERR_NOMEM, "out of memory");
    }
    **out = t;
    return CLVAE_OK;
}

int clvae_trainer_run(clvae_trainer *tr, int epochs, int64_t steps, clvae_fit_result *res)
{
    if (res) memset(res, 0, sizeof *res);
    int st = api_need(tr, "clvae_trainer_run: trainer");
    if (!st && ((epochs > 0) == (steps > 0) || epochs < 0 || steps < 0))
        st = clvae_error(CLVAE_ERR_INPUT, "clvae_trainer_run: epochs = %d, steps = %lld: give "
                                          "exactly one of them, > 0", epochs, (long long)steps);
    if (!st && steps > (1LL << 40))
        st = clvae_error(CLVAE_ERR_INPUT, "clvae_trainer_run: steps = %lld is too many",
                         (long long)steps);
    if (!st && tr->gen != tr->vae->gen)
        st = clvae_error(CLVAE_ERR_INPUT, "clvae_trainer_run: the model changed since this "
                                          "trainer was created (a fit, a load or another "
                                          "trainer): create a new trainer");
    if (st) return st;
    st = run_session(tr->sess, epochs, steps, &tr->opt, res);
    if (!tr->installed && (!st || st == CLVAE_ERR_INTERRUPTED)) {
        install(tr->vae, tr->sess);
        tr->installed = true;
        tr->gen = tr->vae->gen;
    }
    return st;
}

void clvae_trainer_free(clvae_trainer *tr)
{
    if (!tr) return;
    if (!tr->installed) clvae_session_close(tr->sess);
    else if (tr->gen == tr->vae->gen) clvae_session_release_data(tr->sess); /* still the vae's */
    free(tr);
}

/* ---- inference ---- */

/* Forward pass (z = mu at every layer) on rows [first, first + b) of ds. */
static int forward_rows(clvae_vae *vae, const clvae_dataset *ds, size_t first, int b, float *stage)
{
    clvae_model *m = vae->model;
    int st = clvae_upload_range(m, ds, first, b, stage);
    return st ? st : clvae_model_forward(m, b, 1, 0, CLVAE_STREAM_EPS_EVAL, true);
}

/* The host scratch of one batch: stage (B, D), out (B, max(dim_out, 2R)). */
static int scratch(clvae_vae *vae, float **stage, float **out)
{
    clvae_model *m = vae->model;
    size_t B = (size_t)m->max_batch, w = (size_t)(m->dim_out > 2 * m->latent ? m->dim_out
                                                                            : 2 * m->latent);
    *stage = malloc(B * (size_t)m->dim * sizeof(float));
    *out = malloc(B * w * sizeof(float));
    if (*stage && *out) return CLVAE_OK;
    free(*stage);
    free(*out);
    return clvae_error(CLVAE_ERR_NOMEM, "out of host memory");
}

int clvae_vae_encode(clvae_vae *vae, const clvae_array *x, const uint8_t *labels, float *mu,
                     float *logvar)
{
    clvae_dataset ds;
    float *stage, *hd;
    int st = need_fitted(vae, "clvae_vae_encode");
    if (!st) st = api_wrap(x, labels, vae->model->dim, "clvae_vae_encode: x", &ds);
    if (!st) st = api_need(mu, "clvae_vae_encode: mu");
    if (!st) st = need_labels(vae, labels, "clvae_vae_encode");
    bool cat = !st && vae->model->lat[vae->model->T - 1].categorical;
    if (cat && logvar)
        st = clvae_error(CLVAE_ERR_INPUT, "clvae_vae_encode: the top layer is categorical: it "
                                          "has category probabilities (mu), no log-variance "
                                          "(pass logvar = NULL)");
    if (st || (st = scratch(vae, &stage, &hd))) return st;
    clvae_model *m = vae->model;
    const clvae_stoch *L = &m->lat[m->T - 1];
    int R = L->R, head = cat ? R : 2 * R;
    for (size_t first = 0; first < ds.n && !st; first += (size_t)m->max_batch) {
        int b = (int)(ds.n - first < (size_t)m->max_batch ? ds.n - first : (size_t)m->max_batch);
        if ((st = forward_rows(vae, &ds, first, b, stage))) break;
        st = m->be->ops->download(m->be->ctx, L->q.out, hd, (size_t)b * head * sizeof(float));
        for (int i = 0; i < b && cat && !st; i++) /* heads: (b, G*K) logits */
            clvae_group_softmax(hd + (size_t)i * R, L->G, L->K, mu + (first + i) * R);
        for (int i = 0; i < b && !cat && !st; i++) { /* heads: (b, 2R) = [mu | logvar] */
            memcpy(mu + (first + i) * R, hd + (size_t)i * 2 * R, (size_t)R * sizeof(float));
            if (logvar)
                memcpy(logvar + (first + i) * R, hd + (size_t)i * 2 * R + R, (size_t)R * sizeof(float));
        }
    }
    free(stage);
    free(hd);
    return st;
}

int clvae_vae_reconstruct(clvae_vae *vae, const clvae_array *x, const uint8_t *labels, float *out)
{
    clvae_dataset ds;
    float *stage, *o;
    int st = need_fitted(vae, "clvae_vae_reconstruct");
    if (!st) st = api_wrap(x, labels, vae->model->dim, "clvae_vae_reconstruct: x", &ds);
    if (!st) st = api_need(out, "clvae_vae_reconstruct: out");
    if (!st) st = need_labels(vae, labels, "clvae_vae_reconstruct");
    if (st || (st = scratch(vae, &stage, &o))) return st;
    clvae_model *m = vae->model;
    for (size_t first = 0; first < ds.n && !st; first += (size_t)m->max_batch) {
        int b = (int)(ds.n - first < (size_t)m->max_batch ? ds.n - first : (size_t)m->max_batch);
        if ((st = forward_rows(vae, &ds, first, b, stage))) break;
        st = m->be->ops->download(m->be->ctx, m->o, o, (size_t)b * m->dim_out * sizeof(float));
        if (!st) clvae_output_means(m, o, b, out + first * (size_t)m->dim);
    }
    free(stage);
    free(o);
    return st;
}

/* Decoder means of the top latents z (rows, R) already on the host, in batches. */
static int decode_rows(clvae_vae *vae, const float *z, int64_t n, const uint8_t *labels,
                       int label, uint64_t draw, bool sampled, float *out)
{
    clvae_model *m = vae->model;
    float *stage, *o;
    int st = scratch(vae, &stage, &o);
    if (st) return st;
    for (int64_t first = 0; first < n && !st; first += m->max_batch) {
        int b = (int)(n - first < m->max_batch ? n - first : m->max_batch);
        st = m->be->ops->upload(m->be->ctx, m->z, z + first * m->latent,
                                (size_t)b * m->latent * sizeof(float));
        if (!st && m->classes > 0)
            st = labels ? clvae_model_set_labels(m, labels + first, b)
                        : clvae_model_fill_labels(m, label, b);
        if (!st) st = sampled ? clvae_model_decode_sampled(m, b, draw) : clvae_model_decode(m, b);
        if (!st)
            st = m->be->ops->download(m->be->ctx, m->o, o, (size_t)b * m->dim_out * sizeof(float));
        if (!st) clvae_output_means(m, o, b, out + first * m->dim);
    }
    free(stage);
    free(o);
    return st;
}

int clvae_vae_decode(clvae_vae *vae, const float *z, int64_t n, const uint8_t *labels, float *out)
{
    int st = need_fitted(vae, "clvae_vae_decode");
    if (!st) st = api_need(z, "clvae_vae_decode: z");
    if (!st) st = api_need(out, "clvae_vae_decode: out");
    if (!st && n < 1) st = clvae_error(CLVAE_ERR_INPUT, "clvae_vae_decode: n = %lld < 1", (long long)n);
    if (!st) st = need_labels(vae, labels, "clvae_vae_decode");
    if (!st && vae->model->classes > 0)
        for (int64_t i = 0; i < n && !st; i++)
            if (labels[i] >= vae->model->classes)
                st = clvae_error(CLVAE_ERR_INPUT, "clvae_vae_decode: labels[%lld] = %d is not in "
                                                  "0..%d", (long long)i, labels[i], vae->model->classes - 1);
    return st ? st : decode_rows(vae, z, n, labels, 0, 0, false, out);
}

int clvae_vae_sample(clvae_vae *vae, int64_t n, int label, uint64_t draw, float *out)
{
    int st = need_fitted(vae, "clvae_vae_sample");
    if (!st) st = api_need(out, "clvae_vae_sample: out");
    if (!st && (n < 1 || n > (1LL << 31)))
        st = clvae_error(CLVAE_ERR_INPUT, "clvae_vae_sample: n = %lld is not in 1..2^31", (long long)n);
    if (!st && vae->model->classes > 0 && (label < 0 || label >= vae->model->classes))
        st = clvae_error(CLVAE_ERR_INPUT, "clvae_vae_sample: label %d is not in 0..%d (the model "
                                          "is conditional)", label, vae->model->classes - 1);
    if (st) return st;
    float *z = malloc((size_t)n * vae->model->latent * sizeof(float));
    if (!z) return clvae_error(CLVAE_ERR_NOMEM, "clvae_vae_sample: out of memory");
    if (clvae_model_categorical(vae->model)) /* one-hot codes from the uniform prior */
        clvae_visual_prior_codes(vae->model, draw, n, z);
    else
        clvae_philox_fill_normal(vae->model->seed, draw, CLVAE_STREAM_SAMPLE, z,
                                 (size_t)n * vae->model->latent);
    st = decode_rows(vae, z, n, NULL, label, draw, true, out);
    free(z);
    return st;
}

int clvae_vae_elbo(clvae_vae *vae, const clvae_array *x, const uint8_t *labels, double *neg_elbo)
{
    clvae_dataset ds;
    clvae_eval_result r;
    int st = need_fitted(vae, "clvae_vae_elbo");
    if (!st) st = api_wrap(x, labels, vae->model->dim, "clvae_vae_elbo: x", &ds);
    if (!st) st = api_need(neg_elbo, "clvae_vae_elbo: neg_elbo");
    if (!st) st = need_labels(vae, labels, "clvae_vae_elbo");
    if (!st) st = clvae_eval_elbo(vae->model, &ds, false, &r);
    if (!st) *neg_elbo = r.loss;
    return st;
}

int clvae_vae_iwae(clvae_vae *vae, const clvae_array *x, const uint8_t *labels, int k,
                   double *loglik)
{
    clvae_dataset ds;
    clvae_iwae_result r;
    clvae_model iw = {0};
    int st = need_fitted(vae, "clvae_vae_iwae");
    if (!st) st = api_wrap(x, labels, vae->model->dim, "clvae_vae_iwae: x", &ds);
    if (!st) st = api_need(loglik, "clvae_vae_iwae: loglik");
    if (!st && (k < 1 || k > 1000000))
        st = clvae_error(CLVAE_ERR_INPUT, "clvae_vae_iwae: k = %d is not in 1..1000000", k);
    if (!st) st = need_labels(vae, labels, "clvae_vae_iwae");
    if (st) return st;
    /* a second model on the same device sized for k samples per input (the pass of `clvae eval
     * --iw`, clvae_eval_iw_pass), with the trained parameters */
    int samples = 1, batch = 1;
    float *p = malloc(vae->model->n_floats * sizeof(float));
    if (!p) return clvae_error(CLVAE_ERR_NOMEM, "clvae_vae_iwae: out of memory");
    st = clvae_model_layout(&iw, &vae->trained, vae->model->dim);
    if (!st) clvae_eval_iw_pass(&iw, k, &batch, &samples);
    if (!st) st = clvae_model_init(&iw, vae->model->be, batch, samples, false);
    if (!st) st = clvae_model_get_params(vae->model, p);
    if (!st) st = clvae_model_set_params(&iw, p);
    iw.step = vae->model->step;
    if (!st) st = clvae_eval_iwae(&iw, &ds, k, &r);
    if (!st) *loglik = r.loglik;
    clvae_model_free(&iw);
    free(p);
    return st;
}
