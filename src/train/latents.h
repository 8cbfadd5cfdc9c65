/* The latent space of a trained model: mu as NPY + a scatter SVG, interpolation/traversal PNGs. */
#ifndef CLVAE_TRAIN_LATENTS_H
#define CLVAE_TRAIN_LATENTS_H

#include "clvae/data.h"
#include "model/vae.h"

/* Runs the encoder (z = mu) over all of ds in chunks of m->max_batch and writes, into `dir`
 * (which must exist): latents_mu.npy (n, R) float32; latents_labels.npy (n) uint8 when ds has
 * labels; latents.svg, a scatter coloured by label of mu itself when R = 2, else of its first two
 * principal components (for R = 1: mu against 0). A categorical (Gumbel-softmax) top layer's
 * "mu" is q's probabilities (n, G*K); it also writes latents_code.npy (n, G) uint8 (the argmax
 * code of every group) and latents_usage.npy (G, K) float32 (each category's share of the
 * images per group). */
int clvae_latents_export(clvae_model *m, const clvae_dataset *ds, const char *dir);

/* One PNG row of `steps` (>= 2) decoder means for z on the straight line from mu(x_i) to
 * mu(x_j), both endpoints included; i and j index ds. A conditional model decodes every step
 * with x_i's label (held fixed; the traversal with x_index's). */
int clvae_visual_interpolation(clvae_model *m, const clvae_dataset *ds, int i, int j, int steps,
                               int h, int w, const char *path);

/* A PNG grid with one row per latent dimension r: decoder means for mu(x_index) with its r-th
 * coordinate replaced by n_steps (>= 2) values evenly spaced over [-range, +range]. */
int clvae_visual_traversal(clvae_model *m, const clvae_dataset *ds, int index, int n_steps,
                           float range, int h, int w, const char *path);

/* q (G*K) = the softmax of each group of K logits l (G*K), in double: E_q[z] of one-hot z. */
void clvae_group_softmax(const float *l, int G, int K, float *q);

#endif
