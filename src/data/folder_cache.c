/* The image folders' decode cache: one file per (listing, options) in the cache directory's
 * images/ folder, named by a 64-bit FNV-1a hash of every listed path, size, mtime and label and of
 * the resize keys; written atomically (temporary file + rename), and used only when its header
 * repeats that key and shape and a CRC-32 of its contents checks out. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "clvae/status.h"
#include "core/log.h"
#include "data/folder.h"
#include "core/fs.h"
#include "io/atomic.h"

#define CACHE_MAGIC "CLVAEIM1"
#define CACHE_CHUNK ((size_t)1 << 24)

typedef struct cache_header {
    char magic[8];
    uint64_t key, n;
    uint32_t c, h, w, n_classes, has_labels, crc;
} cache_header;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

static uint64_t cache_key(const clvae_folder_list *l, const clvae_folder_opts *o)
{
    int keys[6] = {o->h, o->w, o->crop_h, o->crop_w, o->channels, o->skip_bad};
    uint64_t h = fnv(0xcbf29ce484222325ULL, CACHE_MAGIC, 8);
    h = fnv(h, keys, sizeof keys);
    h = fnv(h, &l->n, sizeof l->n);
    for (size_t i = 0; i < l->n; i++) {
        const clvae_folder_entry *e = &l->e[i];
        h = fnv(h, e->path, strlen(e->path) + 1);
        h = fnv(h, &e->size, sizeof e->size);
        h = fnv(h, &e->mtime_ns, sizeof e->mtime_ns);
        h = fnv(h, &e->label, sizeof e->label);
    }
    return h;
}

static void cache_path(const clvae_folder_opts *o, uint64_t key, char *path, size_t size)
{
    snprintf(path, size, "%s/%016llx.img", o->cache_dir, (unsigned long long)key);
}

static uint32_t crc_of(const uint8_t *p, size_t n, uint32_t crc)
{
    for (size_t at = 0; at < n; at += CACHE_CHUNK)
        crc = (uint32_t)crc32(crc, p + at, (uInt)(n - at < CACHE_CHUNK ? n - at : CACHE_CHUNK));
    return crc;
}

/* Header checks before allocating: the key, a sane shape, and a file of exactly that size. */
static bool header_ok(const cache_header *hd, uint64_t key, const clvae_folder_list *l,
                      long long file_size)
{
    if (memcmp(hd->magic, CACHE_MAGIC, 8) || hd->key != key || hd->n == 0 || hd->n > l->n)
        return false;
    if ((hd->c != 1 && hd->c != 3) || !hd->h || !hd->w || hd->h > 65535 || hd->w > 65535)
        return false;
    if ((int)hd->n_classes != l->n_classes || hd->has_labels != (l->n_classes > 0)) return false;
    unsigned long long dim = (unsigned long long)hd->c * hd->h * hd->w;
    unsigned long long want = sizeof *hd + hd->n * dim + (hd->has_labels ? hd->n : 0);
    return file_size >= 0 && (unsigned long long)file_size == want;
}

int clvae_folder_cache_load(const clvae_folder_list *l, const clvae_folder_opts *o,
                            clvae_dataset *ds)
{
    char path[CLVAE_PATH_MAX + 64];
    cache_header hd;
    struct stat sb;
    if (!o->cache_dir || !*o->cache_dir) return 0;
    uint64_t key = cache_key(l, o);
    cache_path(o, key, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    bool ok = fstat(fileno(f), &sb) == 0 && fread(&hd, sizeof hd, 1, f) == 1 &&
              header_ok(&hd, key, l, (long long)sb.st_size);
    size_t dim = ok ? (size_t)hd.c * hd.h * hd.w : 0, n = ok ? (size_t)hd.n : 0;
    uint8_t *u8 = ok ? malloc(n * dim) : NULL, *lab = ok && hd.has_labels ? malloc(n) : NULL;
    ok = ok && u8 && (!hd.has_labels || lab) && fread(u8, 1, n * dim, f) == n * dim &&
         (!lab || fread(lab, 1, n, f) == n);
    ok = ok && crc_of(lab, lab ? n : 0, crc_of(u8, n * dim, 0)) == hd.crc;
    fclose(f);
    if (!ok) {
        CLVAE_INFO("note: %s: image cache entry unreadable or corrupt; decoding again", path);
        free(u8);
        free(lab);
        return 0;
    }
    *ds = (clvae_dataset){.n = n, .dim = dim, .rows = (int)hd.h, .cols = (int)hd.w,
                          .channels = (int)hd.c, .u8 = u8, .labels = lab,
                          .n_classes = (int)hd.n_classes};
    CLVAE_INFO("%zu images of %ux%ux%u (HxWxC) from the image cache %s", n, hd.h, hd.w, hd.c, path);
    return 1;
}

void clvae_folder_cache_save(const clvae_folder_list *l, const clvae_folder_opts *o,
                             const clvae_dataset *ds)
{
    char path[CLVAE_PATH_MAX + 64];
    clvae_atomic_file af = {0};
    if (!o->cache_dir || !*o->cache_dir) return;
    uint64_t key = cache_key(l, o);
    cache_header hd = {.key = key, .n = ds->n, .c = (uint32_t)ds->channels,
                       .h = (uint32_t)ds->rows, .w = (uint32_t)ds->cols,
                       .n_classes = (uint32_t)l->n_classes, .has_labels = ds->labels != NULL};
    memcpy(hd.magic, CACHE_MAGIC, 8);
    hd.crc = crc_of(ds->labels, ds->labels ? ds->n : 0, crc_of(ds->u8, ds->n * ds->dim, 0));
    cache_path(o, key, path, sizeof path);
    int st = clvae_mkdir_p(o->cache_dir);
    if (!st) st = clvae_atomic_open(&af, path);
    if (!st) st = clvae_atomic_write(&af, &hd, sizeof hd);
    if (!st) st = clvae_atomic_write(&af, ds->u8, ds->n * ds->dim);
    if (!st && ds->labels) st = clvae_atomic_write(&af, ds->labels, ds->n);
    if (!st) st = clvae_atomic_finish(&af);
    else clvae_atomic_abort(&af);
    if (st)
        CLVAE_INFO("note: %s: the decoded images are not cached: %s", path, clvae_last_error());
}
