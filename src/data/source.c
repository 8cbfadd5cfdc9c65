/* Which label files a config names (an image folder's labels are its class subfolders; "auto" labels follow the data: the built-in Fashion-MNIST
 * labels only go with the built-in images; a user's own data trains without labels), and the
 * range check of a conditional model's labels); image folders go to src/data/folder_load.c. */
#include <stdio.h>
#include <string.h>

#include "clvae/data.h"
#include "clvae/status.h"
#include "data/folder.h"

const char *clvae_data_labels_path(const clvae_config *c, bool test)
{
    const char *labels = test ? c->data.test_labels : c->data.train_labels;
    const char *images = test ? c->data.test : c->data.train;
    const char *builtin = test ? CLVAE_BUILTIN_TEST : CLVAE_BUILTIN_TRAIN;
    if (test && clvae_folder_test_split(c)) images = c->data.train;
    if (clvae_data_is_folder(images)) return images; /* labels from the class subfolders */
    if (!*labels) return NULL;
    if (strcmp(labels, CLVAE_LABELS_AUTO) != 0) return labels;
    if (strcmp(images, builtin) == 0)
        return test ? CLVAE_BUILTIN_TEST_LABELS : CLVAE_BUILTIN_TRAIN_LABELS;
    return NULL;
}

int clvae_dataset_load_cfg(clvae_dataset *ds, const clvae_config *c, bool test, bool labels)
{
    const char *path = test ? c->data.test : c->data.train;
    const char *lp = labels ? clvae_data_labels_path(c, test) : NULL;
    if (clvae_data_is_folder(c->data.train) && (!test || clvae_folder_test_split(c)))
        return clvae_folder_load(ds, c, test, test ? c->data.limit_test : c->data.limit_train);
    if (clvae_data_is_folder(path))
        return clvae_folder_load(ds, c, test, c->data.limit_test);
    return clvae_dataset_load(ds, path, lp, c->data.format,
                              test ? c->data.limit_test : c->data.limit_train);
}

int clvae_labels_check(const clvae_dataset *ds, const char *path, int classes)
{
    if (!ds->labels)
        return clvae_error(CLVAE_ERR_DATA, "%s: no labels loaded, but model.conditional = true "
                                           "needs one per image", path ? path : "(labels)");
    for (size_t i = 0; i < ds->n; i++)
        if (ds->labels[i] >= classes)
            return clvae_error(CLVAE_ERR_DATA,
                               "%s: label %d at index %zu is outside 0..%d (model.classes = %d; "
                               "a conditional model takes labels 0..C-1)",
                               path, ds->labels[i], i, classes - 1, classes);
    return CLVAE_OK;
}

int clvae_dataset_load_train(clvae_dataset *ds, clvae_config *cfg, long limit)
{
    const char *lp = cfg->model.conditional ? clvae_data_labels_path(cfg, false) : NULL;
    int st = clvae_data_is_folder(cfg->data.train)
                 ? clvae_folder_load(ds, cfg, false, limit)
                 : clvae_dataset_load(ds, cfg->data.train, lp, cfg->data.format, limit);
    if (st || !cfg->model.conditional) return st;
    if (cfg->model.classes == 0) cfg->model.classes = ds->n_classes;
    return clvae_labels_check(ds, lp, cfg->model.classes);
}
