/* Area-averaging resize for image folders: every output pixel is the mean of the source area it
 * covers (source pixels cut by its edges count by the fraction covered), separable, in double
 * precision, rounded half up. Shrinking never aliases; the same size is an exact copy. */
#include "data/resize.h"

#include <math.h>
#include <stdlib.h>

/* Weights of one axis: output o covers [o * S / D, (o + 1) * S / D) of the source extent S;
 * first[o] and the `span` weights w[o * span ..] (zero-padded) describe it. */
typedef struct axis_weights {
    int *first;
    double *w;
    int span;
} axis_weights;

static int axis_build(axis_weights *a, int S, int D)
{
    double scale = (double)S / D;
    a->span = (int)ceil(scale) + 1;
    a->first = malloc((size_t)D * sizeof *a->first);
    a->w = calloc((size_t)D * a->span, sizeof *a->w);
    if (!a->first || !a->w) return -2;
    for (int o = 0; o < D; o++) {
        double lo = o * scale, hi = (o + 1) * scale;
        int i0 = (int)floor(lo), k = 0;
        if (i0 > S - 1) i0 = S - 1;
        a->first[o] = i0;
        for (int i = i0; i < S && i < hi && k < a->span; i++, k++) {
            double a0 = lo > i ? lo : i, a1 = hi < i + 1 ? hi : i + 1;
            a->w[(size_t)o * a->span + k] = (a1 - a0) / scale;
        }
    }
    return 0;
}

static void axis_free(axis_weights *a)
{
    free(a->first);
    free(a->w);
}

static uint8_t round_u8(double v)
{
    double r = floor(v + 0.5);
    return r <= 0 ? 0 : r >= 255 ? 255 : (uint8_t)r;
}

/* Horizontal pass: crop rows -> tmp (ch, dw, c). */
static void pass_x(const clvae_resize *r, const axis_weights *ax, double *tmp)
{
    int c = r->c;
    for (int y = 0; y < r->ch; y++) {
        const uint8_t *row = r->src + ((size_t)(r->y0 + y) * r->sw + r->x0) * c;
        for (int ox = 0; ox < r->dw; ox++) {
            const double *w = ax->w + (size_t)ox * ax->span;
            const uint8_t *p = row + (size_t)ax->first[ox] * c;
            double *t = tmp + ((size_t)y * r->dw + ox) * c;
            for (int k = 0; k < c; k++) t[k] = 0;
            for (int j = 0; j < ax->span && ax->first[ox] + j < r->cw; j++)
                for (int k = 0; k < c; k++) t[k] += w[j] * p[(size_t)j * c + k];
        }
    }
}

int clvae_resize_area(const clvae_resize *r, uint8_t *dst)
{
    axis_weights ax = {0}, ay = {0};
    size_t plane = (size_t)r->dh * r->dw;
    double *tmp = malloc((size_t)r->ch * r->dw * r->c * sizeof *tmp); // (ch, dw, c)
    int rc = !tmp || axis_build(&ax, r->cw, r->dw) || axis_build(&ay, r->ch, r->dh) ? -2 : 0;
    if (!rc) {
        pass_x(r, &ax, tmp);
        for (int oy = 0; oy < r->dh; oy++) {
            const double *w = ay.w + (size_t)oy * ay.span;
            for (int ox = 0; ox < r->dw; ox++)
                for (int k = 0; k < r->c; k++) {
                    double s = 0;
                    for (int j = 0; j < ay.span && ay.first[oy] + j < r->ch; j++)
                        s += w[j] * tmp[((size_t)(ay.first[oy] + j) * r->dw + ox) * r->c + k];
                    dst[k * plane + (size_t)oy * r->dw + ox] = round_u8(s);
                }
        }
    }
    axis_free(&ax);
    axis_free(&ay);
    free(tmp);
    return rc;
}
