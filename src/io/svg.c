/* SVG 1.1 line and scatter plots: nice ticks, legends, XML escaping, atomic write. */
#include "io/svg.h"

#include <math.h>
#include <stdio.h>

#include "clvae/status.h"
#include "io/atomic.h"

#define SVG_W 800
#define SVG_H 500
#define PLOT_LEFT 80.0
#define PLOT_TOP 50.0
#define PLOT_RIGHT 190.0 /* room for the legend */
#define PLOT_BOTTOM 60.0
#define OTHER_COLOR "#000000"

typedef struct svg_axes {
    double x0, x1, xstep; /* data range (extended to whole ticks) and tick spacing */
    double y0, y1, ystep;
    double left, top, width, height; /* plot area in pixels */
} svg_axes;

/* Finite min/max accumulator. */
typedef struct svg_range {
    double lo, hi;
    int any;
} svg_range;

static void range_add(svg_range *r, double v)
{
    if (!isfinite(v)) return;
    if (!r->any || v < r->lo) r->lo = v;
    if (!r->any || v > r->hi) r->hi = v;
    r->any = 1;
}

/* Extends [r.lo, r.hi] to whole multiples of a 1/2/5 x 10^k step giving about 5 ticks. */
static void nice_range(svg_range r, double *lo, double *hi, double *step)
{
    if (!r.any) r.lo = 0, r.hi = 1;
    if (r.hi - r.lo <= fabs(r.lo) * 1e-12) {
        double d = r.lo != 0 ? fabs(r.lo) * 0.1 : 1.0;
        r.lo -= d, r.hi += d;
    }
    double raw = (r.hi - r.lo) / 5.0;
    double mag = pow(10.0, floor(log10(raw)));
    double norm = raw / mag;
    *step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
    *lo = floor(r.lo / *step) * *step;
    *hi = ceil(r.hi / *step) * *step;
}

static void axes_init(svg_axes *a, svg_range xr, svg_range yr)
{
    nice_range(xr, &a->x0, &a->x1, &a->xstep);
    nice_range(yr, &a->y0, &a->y1, &a->ystep);
    a->left = PLOT_LEFT, a->top = PLOT_TOP;
    a->width = SVG_W - PLOT_LEFT - PLOT_RIGHT;
    a->height = SVG_H - PLOT_TOP - PLOT_BOTTOM;
}

static double px(const svg_axes *a, double x)
{
    return a->left + (x - a->x0) / (a->x1 - a->x0) * a->width;
}

static double py(const svg_axes *a, double y)
{
    return a->top + (a->y1 - y) / (a->y1 - a->y0) * a->height;
}

/* Writes `s` with XML special characters escaped. */
static void put_text(FILE *fp, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", fp); break;
        case '<': fputs("&lt;", fp); break;
        case '>': fputs("&gt;", fp); break;
        case '"': fputs("&quot;", fp); break;
        default: fputc(*s, fp);
        }
    }
}

/* Colour i: the tab10 palette, then golden-angle hues. */
static void color_of(int i, char out[8])
{
    static const char *const tab10[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
    if (i < 10) {
        snprintf(out, 8, "%s", tab10[i]);
        return;
    }
    double h = fmod(i * 137.508, 360.0) / 60.0, c = 0.65, m = 0.15;
    double x = c * (1 - fabs(fmod(h, 2.0) - 1)), r = 0, g = 0, b = 0;
    switch ((int)h) {
    case 0: r = c, g = x; break;
    case 1: r = x, g = c; break;
    case 2: g = c, b = x; break;
    case 3: g = x, b = c; break;
    case 4: r = x, b = c; break;
    default: r = c, b = x; break;
    }
    snprintf(out, 8, "#%02x%02x%02x", (int)((r + m) * 255), (int)((g + m) * 255),
             (int)((b + m) * 255));
}

/* Number of tick intervals between lo and hi. */
static int n_ticks(double lo, double hi, double step)
{
    long k = lround((hi - lo) / step);
    return k < 1 ? 1 : k > 100 ? 100 : (int)k;
}

/* Grid lines, tick marks and the tick numbers of one axis (vertical: the y axis). */
static void draw_axis(FILE *fp, const svg_axes *a, int vertical)
{
    double lo = vertical ? a->y0 : a->x0, hi = vertical ? a->y1 : a->x1;
    double step = vertical ? a->ystep : a->xstep;
    double bottom = a->top + a->height, right = a->left + a->width;
    int n = n_ticks(lo, hi, step);
    for (int k = 0; k <= n; k++) {
        double v = lo + k * step;
        if (fabs(v) < step * 1e-9) v = 0;
        if (vertical) {
            double y = py(a, v);
            fprintf(fp,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                    "stroke=\"#dddddd\"/>\n",
                    a->left, y, right, y);
            fprintf(fp,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                    "stroke=\"black\"/>\n",
                    a->left - 5, y, a->left, y);
            fprintf(fp, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", a->left - 8,
                    y + 4, v);
        } else {
            double x = px(a, v);
            fprintf(fp,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                    "stroke=\"#dddddd\"/>\n",
                    x, a->top, x, bottom);
            fprintf(fp,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                    "stroke=\"black\"/>\n",
                    x, bottom, x, bottom + 5);
            fprintf(fp, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", x,
                    bottom + 18, v);
        }
    }
}

/* SVG prologue, title, axes with ticks and numbers, axis labels. */
static void draw_frame(FILE *fp, const svg_axes *a, const char *title, const char *xl,
                       const char *yl)
{
    fprintf(fp,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" "
            "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" "
            "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            SVG_W, SVG_H, SVG_W, SVG_H);
    fprintf(fp, "<text x=\"%.1f\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">",
            a->left + a->width / 2);
    put_text(fp, title);
    fprintf(fp, "</text>\n");
    draw_axis(fp, a, 0);
    draw_axis(fp, a, 1);
    fprintf(fp,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
            "stroke=\"black\"/>\n",
            a->left, a->top, a->width, a->height);
    fprintf(fp, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", a->left + a->width / 2,
            a->top + a->height + 45);
    put_text(fp, xl);
    fprintf(fp,
            "</text>\n<text x=\"20\" y=\"%.1f\" text-anchor=\"middle\" "
            "transform=\"rotate(-90 20 %.1f)\">",
            a->top + a->height / 2, a->top + a->height / 2);
    put_text(fp, yl);
    fprintf(fp, "</text>\n");
}

/* One legend row: a colour swatch and a label (NULL label: "<prefix> <i>"). */
static void legend_row(FILE *fp, const svg_axes *a, int row, const char *color, const char *label,
                       const char *prefix, int i)
{
    double x = a->left + a->width + 15, y = a->top + 10 + row * 18;
    fprintf(fp, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"10\" fill=\"%s\"/>\n", x, y - 9,
            color);
    fprintf(fp, "<text x=\"%.1f\" y=\"%.1f\">", x + 20, y);
    if (label)
        put_text(fp, label);
    else
        fprintf(fp, "%s %d", prefix, i);
    fprintf(fp, "</text>\n");
}

static double x_at(const double *xs, int i)
{
    return xs ? xs[i] : (double)i;
}

static void draw_series(FILE *fp, const svg_axes *a, const double *ys, const double *xs, int n,
                        const char *color)
{
    fprintf(fp, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
    int first = 1;
    for (int i = 0; i < n; i++) {
        if (!isfinite(ys[i]) || !isfinite(x_at(xs, i))) continue;
        fprintf(fp, "%s%.2f,%.2f", first ? "" : " ", px(a, x_at(xs, i)), py(a, ys[i]));
        first = 0;
    }
    fprintf(fp, "\"/>\n");
    if (n > 30) return; /* markers only on short series, so single points stay visible */
    fprintf(fp, "<g fill=\"%s\">\n", color);
    for (int i = 0; i < n; i++)
        if (isfinite(ys[i]) && isfinite(x_at(xs, i)))
            fprintf(fp, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\"/>\n", px(a, x_at(xs, i)),
                    py(a, ys[i]));
    fprintf(fp, "</g>\n");
}

int clvae_svg_line_plot(const char *path, const char *title, const char *xlabel, const char *ylabel,
                        int n_series, const char **series_names, const double **ys,
                        const double *xs, int n_points)
{
    if (n_series < 0 || n_points < 0 || (n_series > 0 && n_points > 0 && !ys))
        return clvae_error(CLVAE_ERR_INTERNAL, "%s: bad line plot arguments", path);
    svg_range xr = {0}, yr = {0};
    for (int i = 0; i < n_points; i++)
        range_add(&xr, x_at(xs, i));
    for (int s = 0; s < n_series; s++)
        for (int i = 0; i < n_points; i++)
            if (isfinite(x_at(xs, i))) range_add(&yr, ys[s][i]);
    svg_axes a;
    axes_init(&a, xr, yr);
    clvae_atomic_file af = {0};
    int st = clvae_atomic_open(&af, path);
    if (st) return st;
    draw_frame(af.fp, &a, title, xlabel, ylabel);
    for (int s = 0; s < n_series; s++) {
        char color[8];
        color_of(s, color);
        draw_series(af.fp, &a, ys[s], xs, n_points, color);
        legend_row(af.fp, &a, s, color, series_names ? series_names[s] : NULL, "series", s);
    }
    fprintf(af.fp, "</svg>\n");
    return clvae_atomic_finish(&af);
}

/* Circles for the points whose label is `cls` (-1: every point; -2: labels >= n_classes). */
static void draw_class(FILE *fp, const svg_axes *a, const float *xy, const unsigned char *labels,
                       int n, int n_classes, int cls, const char *color)
{
    fprintf(fp, "<g fill=\"%s\" fill-opacity=\"0.7\">\n", color);
    for (int i = 0; i < n; i++) {
        double x = xy[2 * i], y = xy[2 * i + 1];
        if (!isfinite(x) || !isfinite(y)) continue;
        if (cls >= 0 && labels[i] != cls) continue;
        if (cls == -2 && labels[i] < n_classes) continue;
        fprintf(fp, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2\"/>\n", px(a, x), py(a, y));
    }
    fprintf(fp, "</g>\n");
}

int clvae_svg_scatter(const char *path, const char *title, const char *xlabel,
                      const char *ylabel, const float *xy, const unsigned char *labels, int n,
                      int n_classes)
{
    if (n < 0 || (n > 0 && !xy) || n_classes < 0)
        return clvae_error(CLVAE_ERR_INTERNAL, "%s: bad scatter arguments", path);
    svg_range xr = {0}, yr = {0};
    int other = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(xy[2 * i]) || !isfinite(xy[2 * i + 1])) continue;
        range_add(&xr, xy[2 * i]);
        range_add(&yr, xy[2 * i + 1]);
        if (labels && labels[i] >= n_classes) other = 1;
    }
    svg_axes a;
    axes_init(&a, xr, yr);
    clvae_atomic_file af = {0};
    int st = clvae_atomic_open(&af, path);
    if (st) return st;
    draw_frame(af.fp, &a, title, xlabel, ylabel);
    char color[8];
    color_of(0, color);
    if (!labels) draw_class(af.fp, &a, xy, labels, n, n_classes, -1, color);
    for (int c = 0; labels && c < n_classes; c++) {
        color_of(c, color);
        draw_class(af.fp, &a, xy, labels, n, n_classes, c, color);
        legend_row(af.fp, &a, c, color, NULL, "class", c);
    }
    if (other) {
        draw_class(af.fp, &a, xy, labels, n, n_classes, -2, OTHER_COLOR);
        legend_row(af.fp, &a, n_classes, OTHER_COLOR, "other", NULL, 0);
    }
    fprintf(af.fp, "</svg>\n");
    return clvae_atomic_finish(&af);
}
