/* Conditional-model kernels: the one-hot label rows every conditioned MLP's first layer reads
 * (backend.h onehot; the same values as src/backend/ref/ref_stoch.c clvae_ref_onehot). */

/* out (rows, classes): 1 where the column equals labels[r % batch], else 0. One work-item per
 * element; bounds checked (the global size is rounded up to the work-group size). */
__kernel void clvae_onehot(__global const float *labels, ulong loff, __global float *out,
                           ulong ooff, uint rows, uint batch, uint classes)
{
    ulong i = get_global_id(0);
    if (i >= (ulong)rows * classes) return;
    ulong r = i / classes, k = i % classes;
    float y = labels[loff + r % batch];
    out[ooff + i] = y == (float)k ? 1.0f : 0.0f;
}
