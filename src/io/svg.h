/* SVG 1.1 charts: line plots (training curves) and 2-D scatter plots (latent space). */
#ifndef CLVAE_IO_SVG_H
#define CLVAE_IO_SVG_H

/* One polyline per series (ys[s][0..n_points)) against xs (NULL: 0, 1, 2, ...), with axes, tick
 * numbers, axis labels, a legend and distinct colours. Non-finite values are skipped; a constant
 * or single-point series gets a padded range. `series_names` or an entry may be NULL ("series i").
 * Atomic write. Errors: CLVAE_ERR_INTERNAL (bad arguments), CLVAE_ERR_IO, CLVAE_ERR_NOMEM. */
int clvae_svg_line_plot(const char *path, const char *title, const char *xlabel, const char *ylabel,
                        int n_series, const char **series_names, const double **ys,
                        const double *xs, int n_points);

/* Scatter of n points xy (n, 2) coloured by labels[i] (0..n_classes-1; others grey) with a legend
 * of classes; labels NULL draws every point in one colour without a legend. Non-finite points are
 * skipped. Atomic write. Errors as above. */
int clvae_svg_scatter(const char *path, const char *title, const char *xlabel,
                      const char *ylabel, const float *xy, const unsigned char *labels, int n,
                      int n_classes);

#endif
