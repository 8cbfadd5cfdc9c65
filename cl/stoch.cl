/* Stochastic-layer kernels (hierarchical VAE, IWAE): Monte Carlo log-density ratios of a
 * Gaussian layer, their backward passes, importance weights, row scaling and dynamic
 * binarization. Formulas and per-element loop orders exactly as src/backend/ref/ref_stoch.c
 * (backend.h): no atomics, no reassociation (FP_CONTRACT OFF), so each element is the
 * reference's float expression up to the ulps of exp/log. Offsets and element indices are 64-bit;
 * every kernel checks its bounds (global sizes are rounded up to the work-group size). */

/* c_r = scale * w[r], or scale without weights. */
static inline float clvae_row_weight(__global const float *w, ulong woff, int has_w, float scale,
                                     ulong r)
{
    return has_w ? scale * w[woff + r] : scale;
}

/* kl (rows) = log q - log p per row; kl_sum (rows) = kl (sum_init) or += kl when has_sum.
 * heads (hrows, 2R) q = [mu | logvar] (row r uses heads row r % hrows); z, eps (rows, R);
 * prior (rows, 2R) [mu_p | logvar_p] when has_prior, else N(0, I). One work-item per row, j in
 * order (the log(2 pi) / 2 terms cancel and are left out, as in the reference). */
__kernel void clvae_gauss_terms(__global const float *heads, ulong hoff, __global const float *z,
                                ulong zoff, __global const float *eps, ulong eoff,
                                __global const float *prior, ulong poff, __global float *kl,
                                ulong kloff, __global float *kl_sum, ulong ksoff, uint rows,
                                uint hrows, uint latent, int has_prior, int has_sum, int sum_init)
{
    ulong r = get_global_id(0), R = latent;
    if (r >= rows) return;
    __global const float *lv = heads + hoff + (r % hrows) * 2 * R + R;
    __global const float *zr = z + zoff + r * R, *er = eps + eoff + r * R;
    __global const float *p = prior + poff + r * 2 * R;
    float s = 0.0f;
    for (ulong j = 0; j < R; j++) {
        float lq = -0.5f * er[j] * er[j] - 0.5f * lv[j];
        float lp;
        if (has_prior) {
            float d = zr[j] - p[j];
            lp = -0.5f * d * d * exp(-p[R + j]) - 0.5f * p[R + j];
        } else {
            lp = -0.5f * zr[j] * zr[j];
        }
        s += lq - lp;
    }
    kl[kloff + r] = s;
    if (has_sum) kl_sum[ksoff + r] = sum_init ? s : kl_sum[ksoff + r] + s;
}

/* Backward of sum_r c_r (-log p_r): dz (rows, R) accumulated; with has_prior also dprior
 * (rows, 2R) written. 2-D: work-item (j, r) per element of z. */
__kernel void clvae_prior_bwd(__global const float *w, ulong woff, __global const float *z,
                              ulong zoff, __global const float *prior, ulong poff,
                              __global float *dz, ulong dzoff, __global float *dprior, ulong dpoff,
                              uint rows, uint latent, float scale, int has_w, int has_prior)
{
    ulong j = get_global_id(0), r = get_global_id(1), R = latent, i = r * R + j;
    if (j >= R || r >= rows) return;
    float c = clvae_row_weight(w, woff, has_w, scale, r);
    if (!has_prior) {
        dz[dzoff + i] += c * z[zoff + i];
        return;
    }
    __global const float *p = prior + poff + r * 2 * R;
    float iv = exp(-p[R + j]), d = z[zoff + i] - p[j];
    dz[dzoff + i] += c * d * iv;
    dprior[dpoff + r * 2 * R + j] = -c * d * iv;
    dprior[dpoff + r * 2 * R + R + j] = 0.5f * c * (1.0f - d * d * iv);
}

/* dheads (hrows, 2R) of a layer's q heads from the complete dz (rows, R), eps (rows, R), the
 * analytic KL weight and the Monte Carlo log q weights. 2-D: work-item (j, h), s in order. */
__kernel void clvae_latent_bwd(__global const float *w, ulong woff, __global const float *heads,
                               ulong hoff, __global const float *eps, ulong eoff,
                               __global const float *dz, ulong dzoff, __global float *dheads,
                               ulong dhoff, uint hrows, uint samples, uint latent,
                               float kl_weight, float scale, int has_w)
{
    ulong j = get_global_id(0), h = get_global_id(1), R = latent, H = hrows;
    if (j >= R || h >= H) return;
    float mu = heads[hoff + h * 2 * R + j], lv = heads[hoff + h * 2 * R + R + j];
    float sd = exp(0.5f * lv), gmu = 0.0f, glv = 0.0f, cq = 0.0f;
    for (ulong s = 0; s < samples; s++) {
        ulong r = s * H + h, k = r * R + j;
        gmu += dz[dzoff + k];
        glv += dz[dzoff + k] * eps[eoff + k];
        cq += clvae_row_weight(w, woff, has_w, scale, r);
    }
    dheads[dhoff + h * 2 * R + j] = gmu + kl_weight * mu;
    dheads[dhoff + h * 2 * R + R + j] =
        0.5f * sd * glv + kl_weight * 0.5f * (exp(lv) - 1.0f) - 0.5f * cq;
}

/* Importance weights of data row b over its samples (row r = s * B + b): log w_r =
 * -(nll_r + kl_r); the max m, then l = log sum exp(log w - m), then bound[b] = m + l - log S
 * and weights[r] = scale * exp((log w_r - m) - l) (log w - m is exact). log_s = logf(S) from
 * the host (the reference's value). One work-item per data row, s in order. */
__kernel void clvae_iw_weights(__global const float *nll, ulong noff, __global const float *kl,
                               ulong kloff, __global float *w, ulong woff, __global float *bound,
                               ulong boff, uint batch, uint samples, float scale, float log_s)
{
    ulong b = get_global_id(0), B = batch;
    if (b >= B) return;
    float mx = -INFINITY, sum = 0.0f;
    for (ulong s = 0; s < samples; s++)
        mx = fmax(mx, -(nll[noff + s * B + b] + kl[kloff + s * B + b]));
    for (ulong s = 0; s < samples; s++)
        sum += exp(-(nll[noff + s * B + b] + kl[kloff + s * B + b]) - mx);
    float ls = log(sum);
    bound[boff + b] = mx + ls - log_s;
    for (ulong s = 0; s < samples; s++) {
        ulong r = s * B + b;
        w[woff + r] = scale * exp(-(nll[noff + r] + kl[kloff + r]) - mx - ls);
    }
}

/* Max of v over the work-group (local size a power of two; every work-item calls it and gets
 * the result; scratch holds get_local_size(0) floats). A max is exact in any order. */
static inline float clvae_wg_max(float v, __local float *scratch)
{
    size_t lid = get_local_id(0);
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (size_t h = get_local_size(0) / 2; h > 0; h >>= 1) {
        if (lid < h) scratch[lid] = fmax(scratch[lid], scratch[lid + h]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float m = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return m;
}

/* clvae_iw_weights for many samples per row: one work-group of L work-items per data row b
 * (global size B * L). The max is a tree (exact); the exps are computed L at a time in
 * parallel and work-item 0 adds each tile in order s = 0, 1, ..., so the sum is the serial
 * kernel's sum, term for term and in its order; the weights are written in parallel from the
 * same expression. scratch holds L floats. */
__kernel void clvae_iw_weights_wg(__global const float *nll, ulong noff,
                                  __global const float *kl, ulong kloff, __global float *w,
                                  ulong woff, __global float *bound, ulong boff, uint batch,
                                  uint samples, float scale, float log_s,
                                  __local float *scratch)
{
    ulong b = get_group_id(0), B = batch, S = samples, L = get_local_size(0);
    ulong lid = get_local_id(0);
    float mx = -INFINITY, sum = 0.0f;
    for (ulong s = lid; s < S; s += L)
        mx = fmax(mx, -(nll[noff + s * B + b] + kl[kloff + s * B + b]));
    mx = clvae_wg_max(mx, scratch);
    for (ulong t = 0; t < S; t += L) {
        ulong s = t + lid;
        if (s < S) scratch[lid] = exp(-(nll[noff + s * B + b] + kl[kloff + s * B + b]) - mx);
        barrier(CLK_LOCAL_MEM_FENCE);
        if (lid == 0)
            for (ulong i = 0; i < L && t + i < S; i++) sum += scratch[i];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) scratch[0] = log(sum);
    barrier(CLK_LOCAL_MEM_FENCE);
    float ls = scratch[0];
    if (lid == 0) bound[boff + b] = mx + ls - log_s;
    for (ulong s = lid; s < S; s += L) {
        ulong r = s * B + b;
        w[woff + r] = scale * exp(-(nll[noff + r] + kl[kloff + r]) - mx - ls);
    }
}

/* x (rows, cols): x[r, :] *= w[r]. 2-D: work-item (j, r) per element. */
__kernel void clvae_row_scale(__global const float *w, ulong woff, __global float *x, ulong xoff,
                              uint rows, uint cols)
{
    ulong j = get_global_id(0), r = get_global_id(1);
    if (j >= cols || r >= rows) return;
    x[xoff + r * cols + j] *= w[woff + r];
}

/* x (n) in [0, 1]: x[i] = u_i < x[i] ? 1 : 0 with u_i = clvae_philox_uniform(seed, step,
 * stream, i), the host's bits. One work-item per CLVAE_VW consecutive Philox blocks: work-item
 * g runs blocks k = g * CLVAE_VW + l (lane l of clvae_philox_blocks_v, one SIMD Philox call),
 * and block k's four words are elements 4k .. 4k + 3, so the work-item owns elements
 * 4 g CLVAE_VW .. 4 (g + 1) CLVAE_VW - 1, compared 4 at a time (one float4 per block); the last
 * work-item's partial range goes element by element through a private copy. */
/* Lane k (a hex digit) of the word vectors u0 .. u3: the 4 uniforms of block k0 + k. */
#define CLVAE_BIN_WORDS(k) (float4)(u0.s##k, u1.s##k, u2.s##k, u3.s##k)
#define CLVAE_BIN_FULL(k)                                                                          \
    vstore4(select((float4)0.0f, (float4)1.0f, CLVAE_BIN_WORDS(k) < vload4(0x##k, p)), 0x##k, p);
#define CLVAE_BIN_COPY(k) vstore4(CLVAE_BIN_WORDS(k), 0x##k, ut);
__kernel void clvae_binarize(__global float *x, ulong xoff, ulong n, ulong seed, ulong step,
                             uint stream)
{
    ulong k0 = get_global_id(0) * CLVAE_VW, i0 = 4 * k0;
    if (i0 >= n) return;
    clvae_uintv w0, w1, w2, w3;
    clvae_philox_blocks_v(seed, step, stream, (uint)k0 + CLVAE_PX_LANES, &w0, &w1, &w2, &w3);
    __global float *p = x + xoff + i0;
#if CLVAE_VW > 1
    floatv u0 = CLVAE_PX_UNIFORM_V(w0), u1 = CLVAE_PX_UNIFORM_V(w1);
    floatv u2 = CLVAE_PX_UNIFORM_V(w2), u3 = CLVAE_PX_UNIFORM_V(w3);
    if (i0 + 4 * CLVAE_VW <= n) {
        CLVAE_PX_EACH(CLVAE_BIN_FULL)
        return;
    }
    float ut[4 * CLVAE_VW]; /* the uniforms in element order */
    CLVAE_PX_EACH(CLVAE_BIN_COPY)
#else
    float ut[4] = {clvae_u32_to_uniform(w0), clvae_u32_to_uniform(w1),
                   clvae_u32_to_uniform(w2), clvae_u32_to_uniform(w3)};
#endif
    for (uint l = 0; l < 4 * CLVAE_VW && l < n - i0; l++) p[l] = ut[l] < p[l] ? 1.0f : 0.0f;
}
