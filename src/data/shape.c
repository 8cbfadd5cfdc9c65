/* Image shapes: [data] image_shape (auto | HxW | HxWxC | none) resolved against a data set, the
 * (C, H, W) that grids and conv models read. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "clvae/data.h"
#include "clvae/status.h"

int clvae_parse_dims(const char *v, int n, int *out)
{
    for (int i = 0; i < n; i++) {
        char *end;
        if (!isdigit((unsigned char)*v)) return -1;
        long a = strtol(v, &end, 10);
        if (a < 1 || a > 1 << 20) return -1;
        out[i] = (int)a;
        if (i + 1 < n) {
            if (*end != 'x' && *end != 'X') return -1;
            v = end + 1;
        } else if (*end) {
            return -1;
        }
    }
    return 0;
}

bool clvae_data_is_folder(const char *path)
{
    struct stat sb;
    return path && *path && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* auto: the loader's shape, or a 1-channel square for flat data whose size is a square. */
static int auto_shape(const clvae_dataset *ds, int *c, int *h, int *w)
{
    int ch = ds->channels > 0 ? ds->channels : 1;
    if (ds->rows > 1) {
        *c = ch, *h = ds->rows, *w = ds->cols;
        return 1;
    }
    int s = (int)lround(sqrt((double)ds->dim));
    if ((size_t)s * s != ds->dim) return 0;
    *c = 1, *h = *w = s;
    return 1;
}

int clvae_data_image_chw(const clvae_config *cfg, const clvae_dataset *ds, int *c, int *h, int *w)
{
    const char *v = cfg->data.image_shape;
    int d[3] = {0, 0, 1};
    *c = *h = *w = 0;
    if (strcasecmp(v, "none") == 0) return 0;
    if (strcasecmp(v, "auto") == 0 || !*v) return auto_shape(ds, c, h, w);
    bool ok = clvae_parse_dims(v, 2, d) == 0 || clvae_parse_dims(v, 3, d) == 0;
    if (!ok || (size_t)d[0] * d[1] * d[2] != ds->dim)
        return clvae_error(CLVAE_ERR_CONFIG,
                           "config: [data] image_shape = %s: must be auto, none, HxW or HxWxC with "
                           "H * W * C = %zu (the data's features per sample), e.g. %s",
                           v, ds->dim, ds->dim == 784 ? "28x28" : "1x<features>");
    if (ds->channels > 1 && d[2] != ds->channels)
        return clvae_error(CLVAE_ERR_CONFIG,
                           "config: [data] image_shape = %s: the data has %d channels; give "
                           "HxWx%d or auto",
                           v, ds->channels, ds->channels);
    *h = d[0], *w = d[1], *c = d[2];
    return 1;
}
