/* Optimizer steps over a whole parameter arena in one launch (formulas of ref_math.c). */

/* PyTorch's Adam: p -= step * m / (sqrt(v) / sbc2 + eps), step = lr / (1 - beta1^t) and
 * sbc2 = sqrt(1 - beta2^t) computed on the host exactly as the reference does. */
__kernel void clvae_adam(__global float *p, ulong poff, __global const float *g, ulong goff,
                         __global float *m, ulong moff, __global float *v, ulong voff, ulong n,
                         float beta1, float beta2, float step, float sbc2, float eps)
{
    ulong i = get_global_id(0);
    if (i >= n) return;
    float gi = g[goff + i];
    float mi = beta1 * m[moff + i] + (1.0f - beta1) * gi;
    float vi = beta2 * v[voff + i] + (1.0f - beta2) * gi * gi;
    m[moff + i] = mi;
    v[voff + i] = vi;
    p[poff + i] -= step * mi / (sqrt(vi) / sbc2 + eps);
}

/* SGD with momentum: m = momentum * m + g; p -= lr * m. */
__kernel void clvae_sgd(__global float *p, ulong poff, __global const float *g, ulong goff,
                        __global float *m, ulong moff, ulong n, float lr, float momentum)
{
    ulong i = get_global_id(0);
    if (i >= n) return;
    float mi = momentum * m[moff + i] + g[goff + i];
    m[moff + i] = mi;
    p[poff + i] -= lr * mi;
}
