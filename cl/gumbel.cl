/* Categorical-layer kernels (Gumbel-softmax / Concrete relaxation): the relaxed sample and its
 * straight-through one-hot, the KL to the uniform prior or the one-hot log-density ratio, and
 * the backward of both. Formulas and per-element loop orders exactly as
 * src/backend/ref/ref_gumbel.c (backend.h "Categorical layers"), FP_CONTRACT OFF, no atomics:
 * each value is the reference's float expression up to the ulps of exp/log. One work-item per
 * (group, row): the K categories of a group are a short serial loop; the grid is 2-D
 * (group, row) so rows need no integer division. Bounds checked (rounded-up global sizes). */

/* Max of a group of K logits and the log of sum exp(l - max). */
static inline void clvae_group_lse(__global const float *l, uint K, float *mx, float *ls)
{
    float m = -INFINITY, se = 0.0f;
    for (uint k = 0; k < K; k++) m = fmax(m, l[k]);
    for (uint k = 0; k < K; k++) se += exp(l[k] - m);
    *mx = m;
    *ls = log(se);
}

/* gr[k] = -log(-log(u + 1e-20) + 1e-20) for k < K, u = clvae_philox_uniform(seed, step,
 * stream, n0 + k): CLVAE_VW categories at a time, each lane running the Philox call of its
 * element's block in uint vectors (clvae_philox_blocks_v) and taking its word by selects, then
 * the two logs in vectors. The uniforms are the host's bits; the logs are the device's vector
 * log (on PoCL within an ulp of its scalar log, which costs some 30x more per element). */
static inline void clvae_gumbel_noise_v(__global float *gr, ulong n0, uint K, ulong seed,
                                        ulong step, uint stream)
{
    for (uint k = 0; k < K; k += CLVAE_VW) {
        ulong n = n0 + k;
        clvae_uintv t = (uint)(n & 3u) + CLVAE_PX_LANES, w = t & 3u, c0, c1, c2, c3;
        clvae_philox_blocks_v(seed, step, stream, (uint)(n >> 2) + (t >> 2), &c0, &c1, &c2, &c3);
        clvae_uintv bits = select(select(c0, c1, w == 1u), select(c2, c3, w == 3u), w >= 2u);
        floatv u = CLVAE_PX_UNIFORM_V(bits);
        floatv gv = -log(-log(u + 1e-20f) + 1e-20f);
        if (k + CLVAE_VW <= K) {
            CLVAE_VSTORE(gv, 0, gr + k);
        } else {
            float tmp[CLVAE_VW];
            CLVAE_VSTORE(gv, 0, tmp);
            for (uint i = 0; i < K - k; i++) gr[k + i] = tmp[i];
        }
    }
}

/* g, y, z (rows, G*K) from logits (hrows, G*K): Gumbel noise from Philox (or given), the
 * softmax of (logits + g) / tau, and z = y or (hard) the one-hot of its first maximum; the
 * noise of local row r is that of row noise_row0 + r (shards). The group's K noise values are
 * consecutive Philox elements, drawn CLVAE_VW at a time (clvae_gumbel_noise_v); each
 * (l + g) / tau and its exp are computed once (kept in z until the result replaces them). */
__kernel void clvae_gumbel(__global const float *logits, ulong loff, __global float *g, ulong goff,
                           __global float *y, ulong yoff, __global float *z, ulong zoff,
                           uint rows, uint hrows, uint groups, uint cats, float tau, int hard,
                           int given, int has_y, ulong seed, ulong step, uint stream,
                           uint noise_row0)
{
    ulong q = get_global_id(0), r = get_global_id(1), K = cats, GK = (ulong)groups * cats;
    if (q >= groups || r >= rows) return;
    __global const float *l = logits + loff + (r % hrows) * GK + q * K;
    ulong base = r * GK + q * K;
    __global float *gr = g + goff + base, *zr = z + zoff + base;
    float mx = -INFINITY, se = 0.0f;
    uint arg = 0;
    if (!given) /* the noise of local row r is that of row noise_row0 + r */
        clvae_gumbel_noise_v(gr, ((ulong)noise_row0 + r) * GK + q * K, K, seed, step, stream);
    for (uint k = 0; k < K; k++) {
        float v = (l[k] + gr[k]) / tau;
        zr[k] = v; /* z holds v, then exp(v - mx), then its result */
        if (v > mx) {
            mx = v;
            arg = k;
        }
    }
    for (uint k = 0; k < K; k++) {
        float e = exp(zr[k] - mx);
        zr[k] = e;
        se += e;
    }
    for (uint k = 0; k < K; k++) {
        float yk = zr[k] / se;
        if (has_y) y[yoff + base + k] = yk;
        zr[k] = hard ? (k == arg ? 1.0f : 0.0f) : yk;
    }
}

/* kl (n) per row: sum over groups of the analytic KL to the uniform prior (has_z 0, n = hrows)
 * or of the one-hot log q(z) + log K (has_z 1, n = rows); kl_sum as gauss_terms. One work-item
 * per row, groups in order (the reference's sum order). */
__kernel void clvae_cat_terms(__global const float *logits, ulong loff, __global const float *z,
                              ulong zoff, __global float *kl, ulong kloff, __global float *kl_sum,
                              ulong ksoff, uint n, uint hrows, uint groups, uint cats, float log_k,
                              int has_z, int has_sum, int sum_init)
{
    ulong r = get_global_id(0), K = cats, GK = (ulong)groups * cats;
    if (r >= n) return;
    float s = 0.0f;
    for (ulong q = 0; q < groups; q++) {
        __global const float *l = logits + loff + (r % hrows) * GK + q * K;
        __global const float *zr = z + zoff + r * GK + q * K;
        float mx, ls, t = 0.0f;
        clvae_group_lse(l, cats, &mx, &ls);
        for (ulong k = 0; k < K; k++) {
            float lq = (l[k] - mx) - ls;
            t += has_z ? zr[k] * lq : exp(lq) * (lq + log_k);
        }
        s += has_z ? t + log_k : t;
    }
    kl[kloff + r] = s;
    if (has_z && has_sum) kl_sum[ksoff + r] = sum_init ? s : kl_sum[ksoff + r] + s;
}

/* dlogits (hrows, G*K): the relaxed sample's backward summed over the samples in order, then
 * kl_weight times the KL gradient q (log q - sum q log q). Work-item (group, hrow). */
__kernel void clvae_cat_bwd(__global const float *logits, ulong loff, __global const float *y,
                            ulong yoff, __global const float *dz, ulong dzoff,
                            __global float *dlogits, ulong doff, uint hrows, uint samples,
                            uint groups, uint cats, float tau, float kl_weight)
{
    ulong q = get_global_id(0), h = get_global_id(1), K = cats, GK = (ulong)groups * cats;
    if (q >= groups || h >= hrows) return;
    ulong base = h * GK + q * K;
    __global const float *l = logits + loff + base;
    __global float *d = dlogits + doff + base;
    float mx, ls, ent = 0.0f;
    clvae_group_lse(l, cats, &mx, &ls);
    for (ulong k = 0; k < K; k++) {
        float lq = (l[k] - mx) - ls;
        ent += exp(lq) * lq;
        d[k] = 0.0f;
    }
    for (ulong s = 0; s < samples; s++) {
        ulong rb = (s * hrows + h) * GK + q * K;
        __global const float *ys = y + yoff + rb, *dzs = dz + dzoff + rb;
        float dot = 0.0f;
        for (ulong k = 0; k < K; k++) dot += ys[k] * dzs[k];
        for (ulong k = 0; k < K; k++) d[k] += ys[k] * (dzs[k] - dot) / tau;
    }
    for (ulong k = 0; k < K; k++) {
        float lq = (l[k] - mx) - ls;
        d[k] += kl_weight * (exp(lq) * (lq - ent));
    }
}
