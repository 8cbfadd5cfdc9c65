/* Optimizer steps over a whole parameter arena in one launch (formulas of ref_math.c). Work-item
 * i < n / CLVAE_VW updates the i-th CLVAE_VW-wide vector of the arena; the n % CLVAE_VW tail
 * elements take one work-item each after those. The vector and scalar forms are the same
 * expression, so an element's update does not depend on which form ran it. */

/* PyTorch's Adam: p -= step * m / (sqrt(v) / sbc2 + eps), step = lr / (1 - beta1^t) and
 * sbc2 = sqrt(1 - beta2^t) computed on the host exactly as the reference does. */
#define CLVAE_ADAM_AT(T, LOAD, STORE, i)                                                        \
    do {                                                                                        \
        T gi = LOAD(i, g + goff);                                                               \
        T mi = beta1 * LOAD(i, m + moff) + (1.0f - beta1) * gi;                                 \
        T vi = beta2 * LOAD(i, v + voff) + (1.0f - beta2) * gi * gi;                            \
        STORE(mi, i, m + moff);                                                                 \
        STORE(vi, i, v + voff);                                                                 \
        STORE(LOAD(i, p + poff) - step * mi / (sqrt(vi) / sbc2 + eps), i, p + poff);            \
    } while (0)

__kernel void clvae_adam(__global float *p, ulong poff, __global const float *g, ulong goff,
                         __global float *m, ulong moff, __global float *v, ulong voff, ulong n,
                         float beta1, float beta2, float step, float sbc2, float eps,
                         __global const float *state)
{
    /* a replayed command buffer reads the step's scalars from the step state (cmdbuf) */
    if (state) {
        step = state[CLVAE_STATE_ADAM_STEP];
        sbc2 = state[CLVAE_STATE_ADAM_SBC2];
    }
    ulong i = get_global_id(0), nv = n / CLVAE_VW;
    if (i < nv)
        CLVAE_ADAM_AT(floatv, CLVAE_VLOAD, CLVAE_VSTORE, i);
    else if (nv * CLVAE_VW + (i - nv) < n)
        CLVAE_ADAM_AT(float, CLVAE_SLOAD, CLVAE_SSTORE, nv * CLVAE_VW + (i - nv));
}

/* SGD with momentum: m = momentum * m + g; p -= lr * m. */
#define CLVAE_SGD_AT(T, LOAD, STORE, i)                                                         \
    do {                                                                                        \
        T mi = momentum * LOAD(i, m + moff) + LOAD(i, g + goff);                                \
        STORE(mi, i, m + moff);                                                                 \
        STORE(LOAD(i, p + poff) - lr * mi, i, p + poff);                                        \
    } while (0)

__kernel void clvae_sgd(__global float *p, ulong poff, __global const float *g, ulong goff,
                        __global float *m, ulong moff, ulong n, float lr, float momentum)
{
    ulong i = get_global_id(0), nv = n / CLVAE_VW;
    if (i < nv)
        CLVAE_SGD_AT(floatv, CLVAE_VLOAD, CLVAE_VSTORE, i);
    else if (nv * CLVAE_VW + (i - nv) < n)
        CLVAE_SGD_AT(float, CLVAE_SLOAD, CLVAE_SSTORE, nv * CLVAE_VW + (i - nv));
}
