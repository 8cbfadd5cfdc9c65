/* Image folders, the listing: PNG/JPEG files directly in the folder (unlabelled), or one
 * subfolder per class in sorted-name order (torchvision's ImageFolder), with each file's size and
 * mtime (the decode cache's key). */
#include "data/folder.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "clvae/status.h"
#include "core/log.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool image_name(const char *name)
{
    static const char *const ext[] = {".png", ".jpg", ".jpeg", ".jpe", NULL};
    size_t n = strlen(name);
    for (int i = 0; ext[i]; i++) {
        size_t e = strlen(ext[i]);
        if (n > e && strcasecmp(name + n - e, ext[i]) == 0) return true;
    }
    return false;
}

static void free_names(char **names, size_t n)
{
    if (!names) return;
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* The sorted names in `dir` that are not hidden (nor . and ..). */
static int read_names(const char *dir, char ***out, size_t *n_out)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    bool oom = false;
    if (!d) return clvae_error(CLVAE_ERR_DATA, "%s: cannot open folder: %s", dir, strerror(errno));
    for (struct dirent *e; !oom && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            char **p = realloc(names, (cap ? 2 * cap : 256) * sizeof *p);
            if (!p) {
                oom = true;
                break;
            }
            names = p;
            cap = cap ? 2 * cap : 256;
        }
        if (!(names[n] = strdup(e->d_name))) oom = true;
        else n++;
    }
    closedir(d);
    if (oom) {
        free_names(names, n);
        return clvae_error(CLVAE_ERR_NOMEM, "%s: out of memory listing the folder", dir);
    }
    if (n) qsort(names, n, sizeof *names, cmp_str);
    *out = names, *n_out = n;
    return CLVAE_OK;
}

static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (p) snprintf(p, a + b + 2, "%s%s%s", dir, a && dir[a - 1] == '/' ? "" : "/", name);
    return p;
}

static int add_entry(clvae_folder_list *l, char *path, const struct stat *sb, int label)
{
    if (l->n == l->cap) {
        clvae_folder_entry *p = realloc(l->e, (l->cap = l->cap ? 2 * l->cap : 1024) * sizeof *p);
        if (!p) {
            free(path);
            return clvae_error(CLVAE_ERR_NOMEM, "out of memory listing images");
        }
        l->e = p;
    }
    l->e[l->n++] = (clvae_folder_entry){.path = path, .size = (long long)sb->st_size,
                                        .mtime_ns = (long long)sb->st_mtim.tv_sec * 1000000000LL +
                                                    sb->st_mtim.tv_nsec,
                                        .label = label};
    return CLVAE_OK;
}

/* Adds the image files of `dir` (sorted) with `label`; counts the others in l->ignored. With
 * `dirs` (room for every name), subfolder names go to *dirs (the class candidates). */
static int list_dir(clvae_folder_list *l, const char *dir, int label, char ***dirs, size_t *n_dirs)
{
    char **names = NULL;
    size_t n = 0;
    int st = read_names(dir, &names, &n);
    if (!st && dirs && !(*dirs = calloc(n + 1, sizeof **dirs)))
        st = clvae_error(CLVAE_ERR_NOMEM, "out of memory listing images");
    for (size_t i = 0; !st && i < n; i++) {
        char *path = join(dir, names[i]);
        struct stat sb;
        if (!path) {
            st = clvae_error(CLVAE_ERR_NOMEM, "out of memory listing images");
        } else if (stat(path, &sb) != 0) {
            l->ignored++; /* a dangling link */
            free(path);
        } else if (S_ISDIR(sb.st_mode) && dirs) {
            (*dirs)[(*n_dirs)++] = names[i];
            names[i] = NULL;
            free(path);
        } else if (S_ISREG(sb.st_mode) && image_name(names[i])) {
            st = add_entry(l, path, &sb, label);
        } else {
            l->ignored++;
            free(path);
        }
    }
    free_names(names, n);
    return st;
}

/* One class per subfolder, in sorted order; an empty one is an error. */
static int list_classes(clvae_folder_list *l, const char *root, char **dirs, size_t n_dirs)
{
    if (n_dirs > 256)
        return clvae_error(CLVAE_ERR_DATA, "%s: %zu class folders, more than the 256 clvae's "
                                           "labels hold", root, n_dirs);
    if (l->n) CLVAE_INFO("note: %s: %zu image files beside the class folders are not used "
                         "(with subfolders, each subfolder is a class)", root, l->n);
    for (size_t i = 0; i < l->n; i++) free(l->e[i].path);
    l->n = 0;
    l->class_names = dirs;
    l->n_classes = (int)n_dirs;
    for (size_t k = 0; k < n_dirs; k++) {
        char *sub = join(root, dirs[k]);
        size_t before = l->n;
        int st = sub ? list_dir(l, sub, (int)k, NULL, NULL)
                     : clvae_error(CLVAE_ERR_NOMEM, "out of memory listing images");
        free(sub);
        if (st) return st;
        if (l->n == before)
            return clvae_error(CLVAE_ERR_DATA, "%s: class folder '%s' holds no PNG or JPEG images "
                                               "(*.png, *.jpg, *.jpeg); every subfolder is a "
                                               "class and needs at least one", root, dirs[k]);
    }
    return CLVAE_OK;
}

int clvae_folder_list_read(clvae_folder_list *l, const char *root)
{
    char **dirs = NULL;
    size_t n_dirs = 0;
    memset(l, 0, sizeof *l);
    int st = list_dir(l, root, -1, &dirs, &n_dirs);
    if (!st && n_dirs) {
        st = list_classes(l, root, dirs, n_dirs);
        dirs = NULL; /* l owns them */
    }
    free_names(dirs, n_dirs);
    if (!st && l->n == 0)
        st = clvae_error(CLVAE_ERR_DATA, "%s: empty image folder: no PNG or JPEG files (*.png, "
                                         "*.jpg, *.jpeg) in it or in class subfolders", root);
    if (!st && l->ignored)
        CLVAE_INFO("note: %s: %zu entries that are not PNG or JPEG files (by extension) are "
                   "ignored", root, l->ignored);
    if (st) clvae_folder_list_free(l);
    return st;
}

void clvae_folder_list_free(clvae_folder_list *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->e[i].path);
    free(l->e);
    free_names(l->class_names, (size_t)l->n_classes);
    memset(l, 0, sizeof *l);
}
