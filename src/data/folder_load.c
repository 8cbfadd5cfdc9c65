/* Image folders as data sets: the [data] keys read into decode options, the cache tried before
 * decoding, and the test split taken from the training folder when no test set is named. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clvae/data.h"
#include "clvae/status.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/philox.h"
#include "data/folder.h"

/* The Philox "epoch" of the test split's permutation (no training epoch uses it). */
#define TEST_SPLIT_EPOCH 0x7e57u
#define TEST_SPLIT_PERCENT 10

static int parse_size_key(const char *key, const char *v, int *h, int *w)
{
    int d[2] = {0, 0};
    *h = *w = 0;
    if (!*v || strcasecmp(v, "none") == 0) return CLVAE_OK;
    if (clvae_parse_dims(v, 2, d) || d[0] > 65535 || d[1] > 65535)
        return clvae_error(CLVAE_ERR_CONFIG, "config: [data] %s = %s: must be HxW (e.g. 64x64, "
                                             "each side 1..65535) or \"\" for none", key, v);
    *h = d[0], *w = d[1];
    return CLVAE_OK;
}

int clvae_folder_opts_from_config(const clvae_config *c, clvae_folder_opts *o, char *dir,
                                  size_t dir_size)
{
    static const int channels[] = {0, 1, 3};
    memset(o, 0, sizeof *o);
    int st = parse_size_key("image_size", c->data.image_size, &o->h, &o->w);
    if (!st) st = parse_size_key("center_crop", c->data.center_crop, &o->crop_h, &o->crop_w);
    o->channels = channels[c->data.channels];
    o->skip_bad = c->data.on_bad_image == 1;
    clvae_cache_dir(c, "images", dir, dir_size); /* created when written */
    o->cache_dir = dir;
    return st;
}

/* Keeps the rows of ds whose permutation rank is (test) or is not (!test) among the first k. */
static int take_split(clvae_dataset *ds, const clvae_config *c, bool test)
{
    size_t n = ds->n, k = n * TEST_SPLIT_PERCENT / 100, kept = 0;
    if (k == 0) k = 1;
    if (n < 2)
        return clvae_error(CLVAE_ERR_DATA, "%s: %zu image; the test split (data.test = \"\") needs "
                                           "at least 2", c->data.train, n);
    uint32_t *perm = malloc(n * sizeof *perm);
    uint8_t *is_test = calloc(n, 1);
    if (!perm || !is_test) {
        free(perm);
        free(is_test);
        return clvae_error(CLVAE_ERR_NOMEM, "test split: out of memory");
    }
    clvae_philox_permutation(c->train.seed, TEST_SPLIT_EPOCH, perm, n);
    for (size_t i = 0; i < k; i++) is_test[perm[i]] = 1;
    for (size_t r = 0; r < n; r++) { /* in listing order */
        if (is_test[r] != test) continue;
        memmove(ds->u8 + kept * ds->dim, ds->u8 + r * ds->dim, ds->dim);
        if (ds->labels) ds->labels[kept] = ds->labels[r];
        kept++;
    }
    ds->n = kept;
    free(perm);
    free(is_test);
    return CLVAE_OK;
}

bool clvae_folder_test_split(const clvae_config *c)
{
    return clvae_data_is_folder(c->data.train) &&
           (!c->data.test[0] || strcmp(c->data.test, CLVAE_BUILTIN_TEST) == 0);
}

int clvae_folder_load(clvae_dataset *ds, const clvae_config *c, bool test, long limit)
{
    bool split = test && clvae_folder_test_split(c);
    const char *root = test && !split ? c->data.test : c->data.train;
    clvae_folder_list l;
    clvae_folder_opts o;
    char dir[CLVAE_PATH_MAX + 16];
    memset(ds, 0, sizeof *ds);
    int st = clvae_folder_opts_from_config(c, &o, dir, sizeof dir);
    if (st || (st = clvae_folder_list_read(&l, root))) return st;
    long first = split ? c->data.limit_train : limit; /* the split: the training set's listing */
    while (first > 0 && (size_t)first < l.n) free(l.e[--l.n].path); /* the first `first` */
    if (clvae_folder_cache_load(&l, &o, ds) != 1) {
        st = clvae_folder_decode(&l, root, &o, ds);
        if (!st) clvae_folder_cache_save(&l, &o, ds);
    }
    if (!st && clvae_folder_test_split(c)) {
        st = take_split(ds, c, split);
        if (split && limit > 0 && (size_t)limit < ds->n) ds->n = (size_t)limit;
        if (!st && split)
            CLVAE_INFO("%s: test set = %zu images held out by seed %llu (%d%%; data.test = \"\" "
                       "with a training folder)", root, ds->n,
                       (unsigned long long)c->train.seed, TEST_SPLIT_PERCENT);
    }
    clvae_folder_list_free(&l);
    if (st) clvae_dataset_free(ds);
    return st;
}
