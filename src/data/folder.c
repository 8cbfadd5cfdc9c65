/* Image folders, the decoding: every listed file read, decoded (src/io/image.c), center-cropped
 * and area-resized into one uint8 (n, C*H*W) NCHW array by one thread per core, with a progress
 * line; bad files stop the load or are skipped and counted. */
#include "data/folder.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clvae/status.h"
#include "core/log.h"
#include "data/resize.h"
#include "io/image.h"

#define MAX_THREADS 64
#define FILE_MAX ((size_t)1 << 30) /* larger files are refused before reading */

enum { IMG_PENDING = 0, IMG_OK, IMG_BAD };

typedef struct decode_job {
    const clvae_folder_list *l;
    const clvae_folder_opts *o;
    int h, w;          /* output size */
    size_t stride;     /* bytes per row of `out`: cmax * h * w */
    uint8_t *out;      /* (n, stride) */
    uint8_t *state;    /* (n) IMG_* */
    uint8_t *colour;   /* (n) the decoded image has 3 planes */
    atomic_size_t next, done;
    atomic_int stop;   /* a hard error: every worker stops */
    pthread_mutex_t lock;
    size_t err_index;  /* lowest failing index (under lock) */
    int err_status;
    bool err_hard;     /* that failure cannot be skipped (crop, size, memory) */
    char err[1024];
    double t0, last_print;
} decode_job;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Reads a whole file; 0, or -1 with err set. */
static int read_file(const char *path, uint8_t **buf, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    long n = -1;
    *buf = NULL;
    if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
        (size_t)n > FILE_MAX) {
        snprintf(err, errlen, "cannot read: %s", n > 0 ? "larger than 1 GiB" : strerror(errno));
        if (f) fclose(f);
        return -1;
    }
    *buf = malloc(n ? (size_t)n : 1);
    size_t got = *buf ? fread(*buf, 1, (size_t)n, f) : 0;
    fclose(f);
    if (!*buf || got != (size_t)n) {
        snprintf(err, errlen, "%s", *buf ? "short read" : "out of memory");
        free(*buf);
        *buf = NULL;
        return -1;
    }
    *len = (size_t)n;
    return 0;
}

/* Records a failure of image i: hard (stop everything) or a bad file (skippable). */
static void fail(decode_job *j, size_t i, int status, bool hard, const char *msg)
{
    pthread_mutex_lock(&j->lock);
    if (!j->err_status || i < j->err_index) {
        j->err_index = i;
        j->err_status = status;
        j->err_hard = hard;
        snprintf(j->err, sizeof j->err, "%s", msg);
    }
    pthread_mutex_unlock(&j->lock);
    j->state[i] = IMG_BAD;
    if (hard || !j->o->skip_bad) atomic_store(&j->stop, 1);
}

/* The crop of a decoded image: center_crop, or the whole image (which must then have the size of
 * the output when there is no image_size). 0, or -1 with msg set (a hard error). */
static int crop_region(const decode_job *j, const clvae_image *im, clvae_resize *r, char *msg,
                       size_t len)
{
    const clvae_folder_opts *o = j->o;
    int ch = o->crop_h ? o->crop_h : im->h, cw = o->crop_w ? o->crop_w : im->w;
    if (ch > im->h || cw > im->w) {
        snprintf(msg, len, "image of %dx%d (HxW) is smaller than data.center_crop = %dx%d", im->h,
                 im->w, ch, cw);
        return -1;
    }
    if (!o->h && (ch != j->h || cw != j->w)) {
        snprintf(msg, len, "image of %dx%d (HxW) differs from the first image's %dx%d; set "
                 "data.image_size = HxW (or data.center_crop) to bring them to one size",
                 ch, cw, j->h, j->w);
        return -1;
    }
    *r = (clvae_resize){.src = im->px, .sw = im->w, .c = im->c, .y0 = (im->h - ch) / 2,
                        .x0 = (im->w - cw) / 2, .ch = ch, .cw = cw, .dh = j->h, .dw = j->w};
    return 0;
}

static void decode_one(decode_job *j, size_t i)
{
    const char *path = j->l->e[i].path;
    char err[600], msg[1024];
    uint8_t *buf = NULL;
    size_t len = 0;
    clvae_image im = {0};
    clvae_resize r;
    int rc = read_file(path, &buf, &len, err, sizeof err);
    if (!rc) rc = clvae_image_decode(buf, len, j->o->channels == 1 ? 1 : 0, j->o->max_pixels, &im,
                                      err, sizeof err);
    free(buf);
    if (rc) {
        snprintf(msg, sizeof msg, "%s: %s", path, err);
        fail(j, i, rc == -2 ? CLVAE_ERR_NOMEM : CLVAE_ERR_DATA, rc == -2, msg);
        return;
    }
    if (crop_region(j, &im, &r, err, sizeof err)) {
        snprintf(msg, sizeof msg, "%s: %s", path, err);
        fail(j, i, CLVAE_ERR_DATA, true, msg);
    } else if (clvae_resize_area(&r, j->out + i * j->stride)) {
        fail(j, i, CLVAE_ERR_NOMEM, true, "out of memory resizing an image");
    } else {
        j->colour[i] = im.c == 3;
        j->state[i] = IMG_OK;
    }
    clvae_image_free(&im);
}

/* Thread 0 (the caller) also prints the progress line every 2 s. */
static void work(decode_job *j, bool print)
{
    size_t n = j->l->n;
    for (size_t i; !atomic_load(&j->stop) && (i = atomic_fetch_add(&j->next, 1)) < n;) {
        decode_one(j, i);
        size_t d = atomic_fetch_add(&j->done, 1) + 1;
        double t = print ? now_s() : 0;
        if (print && t - j->last_print >= 2.0) {
            CLVAE_INFO("decoding images: %zu / %zu (%.0f / s)", d, n, d / (t - j->t0));
            j->last_print = t;
        }
    }
}

static void *worker(void *arg)
{
    work(arg, false);
    return NULL;
}

static int thread_count(size_t n)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    size_t t = cores > 0 ? (size_t)cores : 1;
    if (t > MAX_THREADS) t = MAX_THREADS;
    return (int)(t < n ? t : n);
}

static void run_workers(decode_job *j, int threads)
{
    pthread_t tid[MAX_THREADS];
    int started = 0;
    for (int t = 1; t < threads; t++)
        if (pthread_create(&tid[started], NULL, worker, j) == 0) started++;
    work(j, true);
    for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
}

/* The output size: image_size, else center_crop, else the first decodable image's own size. */
static int output_size(const clvae_folder_list *l, const clvae_folder_opts *o, int *h, int *w)
{
    *h = o->h ? o->h : o->crop_h;
    *w = o->h ? o->w : o->crop_w;
    for (size_t i = 0; !*h && i < l->n; i++) {
        char err[600];
        uint8_t *buf = NULL;
        size_t len = 0;
        clvae_image im = {0};
        int rc = read_file(l->e[i].path, &buf, &len, err, sizeof err);
        if (!rc) rc = clvae_image_decode(buf, len, 1, o->max_pixels, &im, err, sizeof err);
        free(buf);
        if (rc == -2) return clvae_error(CLVAE_ERR_NOMEM, "%s: %s", l->e[i].path, err);
        if (rc && !o->skip_bad) return clvae_error(CLVAE_ERR_DATA, "%s: %s", l->e[i].path, err);
        *h = im.h, *w = im.w;
        clvae_image_free(&im);
    }
    if (!*h)
        return clvae_error(CLVAE_ERR_DATA, "%s: no image of the folder could be decoded",
                           l->n ? l->e[0].path : "(folder)");
    return CLVAE_OK;
}

/* Refuses an array larger than the machine's memory before allocating it. */
static int check_memory(const char *root, size_t n, size_t stride, int cmax, int h, int w)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    double mem = pages > 0 && page > 0 ? (double)pages * (double)page : 0;
    double want = (double)n * (double)stride;
    if (mem > 0 && want > mem)
        return clvae_error(CLVAE_ERR_DATA,
                           "%s: %zu images of %dx%dx%d (HxWxC) need %.1f GiB as uint8, more than "
                           "this machine's %.1f GiB of memory; refused before decoding (use a "
                           "smaller data.image_size, data.channels = 1 or data.limit_train)",
                           root, n, h, w, cmax, want / 1073741824.0, mem / 1073741824.0);
    return CLVAE_OK;
}

/* Drops skipped rows and settles the channels: C = 3 when asked or (auto) any image had colour,
 * grey rows then replicated into 3 planes; else the rows are compacted to 1 plane. */
static size_t compact(decode_job *j, int *C, uint8_t *labels)
{
    size_t n = j->l->n, kept = 0, plane = (size_t)j->h * j->w;
    bool any_colour = false;
    for (size_t i = 0; i < n; i++) any_colour |= j->state[i] == IMG_OK && j->colour[i];
    *C = j->o->channels ? j->o->channels : any_colour ? 3 : 1;
    size_t row = (size_t)*C * plane;
    for (size_t i = 0; i < n; i++) {
        if (j->state[i] != IMG_OK) continue;
        uint8_t *src = j->out + i * j->stride, *dst = j->out + kept * row;
        if (*C == 3 && !j->colour[i]) {
            memmove(dst, src, plane);
            memcpy(dst + plane, dst, plane);
            memcpy(dst + 2 * plane, dst, plane);
        } else {
            memmove(dst, src, row);
        }
        if (labels) labels[kept] = (uint8_t)j->l->e[i].label;
        kept++;
    }
    return kept;
}

static int job_init(decode_job *j, const clvae_folder_list *l, const clvae_folder_opts *o,
                    const char *root, int cmax)
{
    memset(j, 0, sizeof *j);
    j->l = l, j->o = o;
    int st = output_size(l, o, &j->h, &j->w);
    if (st) return st;
    j->stride = (size_t)cmax * j->h * j->w;
    if ((st = check_memory(root, l->n, j->stride, cmax, j->h, j->w))) return st;
    j->out = malloc(l->n * j->stride);
    j->state = calloc(l->n, 1);
    j->colour = calloc(l->n, 1);
    if (!j->out || !j->state || !j->colour)
        return clvae_error(CLVAE_ERR_NOMEM, "%s: out of memory for %zu images of %dx%dx%d", root,
                           l->n, j->h, j->w, cmax);
    atomic_init(&j->next, 0);
    atomic_init(&j->done, 0);
    atomic_init(&j->stop, 0);
    pthread_mutex_init(&j->lock, NULL);
    j->t0 = j->last_print = now_s();
    return CLVAE_OK;
}

/* After the workers: the first hard error, or the skipped files' warning; fills ds. */
static int job_finish(decode_job *j, const char *root, clvae_dataset *ds)
{
    const clvae_folder_list *l = j->l;
    size_t bad = 0;
    for (size_t i = 0; i < l->n; i++) bad += j->state[i] == IMG_BAD;
    if (j->err_status && (atomic_load(&j->stop) || !j->o->skip_bad))
        return clvae_error(j->err_status, "%s%s", j->err,
                           j->o->skip_bad || j->err_hard
                               ? ""
                               : " (data.on_bad_image = skip skips such files)");
    if (bad)
        CLVAE_WARN("%s: skipped %zu of %zu files that are not decodable images (data.on_bad_image "
                   "= skip); the first: %s", root, bad, l->n, j->err);
    if (l->n_classes && !(ds->labels = malloc(l->n)))
        return clvae_error(CLVAE_ERR_NOMEM, "%s: out of memory", root);
    int C;
    ds->n = compact(j, &C, ds->labels);
    if (ds->n == 0)
        return clvae_error(CLVAE_ERR_DATA, "%s: none of the %zu files could be decoded; the "
                           "first: %s", root, l->n, j->err);
    ds->rows = j->h, ds->cols = j->w, ds->channels = C;
    ds->dim = (size_t)C * j->h * j->w;
    uint8_t *p = realloc(j->out, ds->n * ds->dim);
    ds->u8 = p ? p : j->out;
    j->out = NULL;
    ds->n_classes = l->n_classes;
    return CLVAE_OK;
}

int clvae_folder_decode(const clvae_folder_list *l, const char *root, const clvae_folder_opts *o,
                        clvae_dataset *ds)
{
    decode_job j;
    int cmax = o->channels == 1 ? 1 : 3, threads = thread_count(l->n);
    int st = job_init(&j, l, o, root, cmax);
    if (!st) {
        run_workers(&j, threads);
        st = job_finish(&j, root, ds);
        pthread_mutex_destroy(&j.lock);
    }
    if (!st)
        CLVAE_INFO("%s: %zu images decoded to %dx%dx%d (HxWxC) in %.1f s on %d threads", root,
                   ds->n, ds->rows, ds->cols, ds->channels, now_s() - j.t0, threads);
    free(j.out);
    free(j.state);
    free(j.colour);
    return st;
}
