/* Sample/reconstruction grids (or the decoder means as NPY) and loss curves for the run
 * directory and the CLI. A conditional model's samples take one row per class, or one class. */
#include "train/visual.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "core/log.h"
#include "core/philox.h"
#include "io/npy.h"
#include "io/png.h"
#include "io/svg.h"
#include "train/checkpoint.h"
#include "train/eval.h"

int clvae_image_shape(const clvae_config *c, const clvae_dataset *ds, int *h, int *w)
{
    int ch, st = clvae_data_image_chw(c, ds, &ch, h, w);
    if (st == 1 && ch != 1 && ch != 3) { /* grids are grey or RGB */
        *h = *w = 0;
        return 0;
    }
    return st;
}

int clvae_visual_check(const clvae_config *c, const clvae_dataset *ds)
{
    int h, w, st = clvae_image_shape(c, ds, &h, &w);
    if (st == 0)
        CLVAE_INFO("note: %s: %zu features per sample and no grey or RGB image shape "
                   "(data.image_shape = %s): no samples.png or reconstructions.png grids; set "
                   "data.image_shape = HxW or HxWx3 for them",
                   c->data.test, ds->dim, c->data.image_shape);
    return st < 0 ? st : CLVAE_OK;
}

int clvae_visual_image_command(const clvae_config *c, const clvae_dataset *ds, int *h, int *w)
{
    int st = clvae_image_shape(c, ds, h, w);
    if (st == 0)
        return clvae_error(CLVAE_ERR_INPUT,
                           "%s: %zu features per sample are not a grey or RGB image "
                           "(data.image_shape = %s); pictures need --set data.image_shape=HxW "
                           "(or HxWx3) with H * W (* 3) = %zu",
                           c->data.test, ds->dim, c->data.image_shape, ds->dim);
    return st < 0 ? st : CLVAE_OK;
}

int clvae_visual_refresh(clvae_model *m, const clvae_config *c, const clvae_dataset *test)
{
    char path[CLVAE_PATH_MAX + 32];
    int h, w, st = clvae_image_shape(c, test, &h, &w);
    if (st < 0) return st;
    if (st == 1) {
        snprintf(path, sizeof path, "%s/samples.png", c->output.dir);
        if ((st = clvae_visual_samples(m, 64, 0, -1, h, w, path))) return st;
        snprintf(path, sizeof path, "%s/reconstructions.png", c->output.dir);
        if ((st = clvae_visual_reconstructions(m, test, 20, h, w, path))) return st;
    }
    return clvae_visual_loss_plot(c->output.dir);
}

/* Decoder output rows -> means in image space: sigmoid for bernoulli logits, the mean columns
 * otherwise. out is (rows, dim_out); dst is (rows, dim). */
void clvae_output_means(const clvae_model *m, const float *out, int rows, float *dst)
{
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < m->dim; j++) {
            float v = out[(size_t)r * m->dim_out + j];
            dst[(size_t)r * m->dim + j] =
                m->likelihood == CLVAE_LIK_BERNOULLI ? 1.0f / (1.0f + expf(-v)) : v;
        }
}

bool clvae_visual_is_npy(const char *path)
{
    size_t n = strlen(path);
    return n >= 4 && strcasecmp(path + n - 4, ".npy") == 0;
}

/* Decoder means img (n, D) to `path`: an (n, D) float32 NPY for *.npy, else a PNG grid of
 * `cols` columns (0: square-ish). */
static int write_means(const clvae_model *m, const char *path, const float *img, int n, int h,
                       int w, int cols)
{
    size_t shape[2] = {(size_t)n, (size_t)m->dim};
    if (clvae_visual_is_npy(path)) return clvae_npy_write_f32(path, img, 2, shape);
    return clvae_png_write_grid_c(path, img, n, m->dim / (h * w), h, w, cols, 2);
}

/* A conditional model's sample labels: every row `label`, or (label < 0) one row of the grid
 * per class, n / C samples each. Adjusts *n (at most the model's batch) and sets *cols. */
static int sample_labels(clvae_model *m, int label, int *n, int *cols)
{
    int C = m->classes;
    *cols = 0;
    if (C == 0) return CLVAE_OK;
    if (label >= C)
        return clvae_error(CLVAE_ERR_INPUT, "--label %d: this conditional model has classes "
                                            "0..%d (model.classes = %d)",
                           label, C - 1, C);
    if (*n > m->max_batch) *n = m->max_batch;
    if (label >= 0) return clvae_model_fill_labels(m, label, *n);
    int per = *n / C > 0 ? *n / C : 1;
    *n = per * C < m->max_batch ? per * C : m->max_batch;
    uint8_t *lab = malloc((size_t)*n); /* (n): row r of the grid is class r */
    if (!lab) return clvae_error(CLVAE_ERR_NOMEM, "samples: out of memory");
    for (int i = 0; i < *n; i++) lab[i] = (uint8_t)(i / per);
    int st = clvae_model_set_labels(m, lab, *n);
    free(lab);
    *cols = per;
    return st;
}

/* z (n, G*K): one-hot codes from the uniform prior of a categorical top layer, category of
 * group g of row i = philox_below(seed, draw, SAMPLE, i*G + g, K). */
void clvae_visual_prior_codes(const clvae_model *m, uint64_t draw, int64_t n, float *z)
{
    const clvae_stoch *L = &m->lat[m->T - 1];
    memset(z, 0, (size_t)n * L->R * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        for (int g = 0; g < L->G; g++) {
            uint64_t idx = (uint64_t)i * L->G + g;
            uint32_t k = clvae_philox_below(m->seed, draw, CLVAE_STREAM_SAMPLE, idx, (uint32_t)L->K);
            z[(size_t)i * L->R + (size_t)g * L->K + k] = 1.0f;
        }
}

int clvae_visual_samples(clvae_model *m, int n, uint64_t draw, int label, int h, int w,
                         const char *path)
{
    int cap = m->max_batch * m->samples, st = CLVAE_OK, cols;
    if (n > cap) n = cap;
    if ((st = sample_labels(m, label, &n, &cols))) return st;
    float *z = malloc((size_t)n * m->latent * sizeof(float));
    float *out = malloc((size_t)n * m->dim_out * sizeof(float));
    float *img = malloc((size_t)n * m->dim * sizeof(float));
    if (!z || !out || !img) {
        st = clvae_error(CLVAE_ERR_NOMEM, "samples: out of memory");
        goto done;
    }
    if (clvae_model_categorical(m))
        clvae_visual_prior_codes(m, draw, n, z);
    else
        clvae_philox_fill_normal(m->seed, draw, CLVAE_STREAM_SAMPLE, z, (size_t)n * m->latent);
    if ((st = m->be->ops->upload(m->be->ctx, m->z, z, (size_t)n * m->latent * sizeof(float)))) goto done;
    /* ancestral sampling: the layers below the top are drawn from their priors */
    if ((st = clvae_model_decode_sampled(m, n, draw))) goto done;
    if ((st = m->be->ops->download(m->be->ctx, m->o, out, (size_t)n * m->dim_out * sizeof(float))))
        goto done;
    clvae_output_means(m, out, n, img);
    st = write_means(m, path, img, n, h, w, cols);
done:
    free(z);
    free(out);
    free(img);
    return st;
}

int clvae_visual_reconstructions(clvae_model *m, const clvae_dataset *ds, int n, int h, int w,
                                 const char *path)
{
    int cols = n < 10 ? n : 10, st = CLVAE_OK;
    if (n > m->max_batch) n = m->max_batch;
    if ((size_t)n > ds->n) n = (int)ds->n;
    float *x = malloc((size_t)n * m->dim * sizeof(float));
    float *out = malloc((size_t)n * m->dim_out * sizeof(float));
    float *rec = malloc((size_t)n * m->dim * sizeof(float));
    int rows = (n + cols - 1) / cols;
    float *grid = calloc((size_t)rows * 2 * cols * m->dim, sizeof(float));
    if (!x || !out || !rec || !grid) {
        st = clvae_error(CLVAE_ERR_NOMEM, "reconstructions: out of memory");
        goto done;
    }
    if ((st = clvae_upload_range(m, ds, 0, n, x))) goto done;
    if ((st = clvae_model_forward(m, n, 1, 0, CLVAE_STREAM_EPS_EVAL, true))) goto done;
    if ((st = m->be->ops->download(m->be->ctx, m->o, out, (size_t)n * m->dim_out * sizeof(float))))
        goto done;
    clvae_output_means(m, out, n, rec);
    if (clvae_visual_is_npy(path)) {
        st = write_means(m, path, rec, n, h, w, 0);
        goto done;
    }
    /* Grid rows alternate: originals, then their reconstructions right below. */
    for (int i = 0; i < n; i++) {
        size_t top = ((size_t)(i / cols) * 2 * cols + i % cols) * m->dim;
        memcpy(grid + top, x + (size_t)i * m->dim, m->dim * sizeof(float));
        memcpy(grid + top + (size_t)cols * m->dim, rec + (size_t)i * m->dim, m->dim * sizeof(float));
    }
    st = clvae_png_write_grid_c(path, grid, rows * 2 * cols, m->dim / (h * w), h, w, cols, 2);
done:
    free(x);
    free(out);
    free(rec);
    free(grid);
    return st;
}

/* The per-epoch series of metrics.jsonl: xs (epoch), and train, test and valid loss. */
typedef struct loss_series {
    double *xs, *ys[3];
    int n, cap, n_valid;
} loss_series;

static int series_add(loss_series *ls, const cJSON *o)
{
    if (ls->n == ls->cap) {
        ls->cap = ls->cap ? 2 * ls->cap : 64;
        double *p = realloc(ls->xs, ls->cap * sizeof(double));
        if (!p) return -1;
        ls->xs = p;
        for (int k = 0; k < 3; k++) {
            if (!(p = realloc(ls->ys[k], ls->cap * sizeof(double)))) return -1;
            ls->ys[k] = p;
        }
    }
    static const char *const keys[] = {"train_loss", "test_loss", "valid_loss"};
    const cJSON *v = cJSON_GetObjectItem(o, keys[2]);
    ls->xs[ls->n] = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "epoch"));
    for (int k = 0; k < 3; k++)
        ls->ys[k][ls->n] = cJSON_GetNumberValue(cJSON_GetObjectItem(o, keys[k]));
    ls->n_valid += cJSON_IsNumber(v);
    ls->n++;
    return 0;
}

int clvae_visual_loss_plot(const char *dir)
{
    char path[CLVAE_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    char *text = clvae_read_text_file(path);
    if (!text) return CLVAE_ERR_IO;
    loss_series ls = {0};
    int st = CLVAE_OK;
    for (char *line = strtok(text, "\n"); line && !st; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        if (!o) continue;
        if (series_add(&ls, o)) st = clvae_error(CLVAE_ERR_NOMEM, "loss plot: out of memory");
        cJSON_Delete(o);
    }
    const char *names[] = {"train loss", "test loss", "validation loss"};
    const double *ys[] = {ls.ys[0], ls.ys[1], ls.ys[2]};
    int series = ls.n > 0 && ls.n_valid == ls.n ? 3 : 2; /* valid only when every epoch has it */
    snprintf(path, sizeof path, "%s/loss.svg", dir);
    if (!st)
        st = clvae_svg_line_plot(path, "negative ELBO per sample", "epoch", "nats", series, names,
                                 ys, ls.xs, ls.n);
    free(text);
    free(ls.xs);
    for (int k = 0; k < 3; k++)
        free(ls.ys[k]);
    return st;
}
