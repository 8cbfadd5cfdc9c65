/* VAE-specific kernels: reparameterization + KL (forward and backward) and the likelihood loss
 * with its gradient in one pass. Formulas as in src/backend/ref/ref_math.c (backend.h). */

#define CLVAE_LOG_2PI 1.8378770664093453f

/* Philox4x32-10 normals (philox.clh's clvae_philox_normal, the same bits) for CLVAE_VW
 * consecutive elements n0, n0 + 1, ... at once: each lane runs its own block with uint vectors
 * and picks its lane of the block by selects. (T = uint/float or uintv/floatv.) */
#define CLVAE_DEFINE_NORMALS(UT, FT, CONV, TRIG, NAME)                                          \
    static inline FT NAME(ulong seed, ulong step, uint stream, UT n)                            \
    {                                                                                           \
        UT c0 = n >> 2, c1 = (uint)step, c2 = (uint)(step >> 32), c3 = stream;                 \
        uint k0 = (uint)seed, k1 = (uint)(seed >> 32);                                          \
        for (int round = 0; round < 10; round++) {                                              \
            UT hi0 = mul_hi((UT)0xD2511F53u, c0), lo0 = (UT)0xD2511F53u * c0;                   \
            UT hi1 = mul_hi((UT)0xCD9E8D57u, c2), lo1 = (UT)0xCD9E8D57u * c2;                   \
            c0 = hi1 ^ c1 ^ k0;                                                                 \
            c1 = lo1;                                                                           \
            c2 = hi0 ^ c3 ^ k1;                                                                 \
            c3 = lo0;                                                                           \
            k0 += 0x9E3779B9u;                                                                  \
            k1 += 0xBB67AE85u;                                                                  \
        }                                                                                       \
        UT pair = n & 2u, odd = n & 1u;                                                         \
        UT ba = select(c0, c2, pair != 0u), bb = select(c1, c3, pair != 0u);                   \
        FT ua = (CONV(ba >> 9) + 0.5f) * (1.0f / 8388608.0f);                           \
        FT ub = (CONV(bb >> 9) + 0.5f) * (1.0f / 8388608.0f);                           \
        FT rad = sqrt(-2.0f * log(ua)), th = 6.28318530717958647692f * ub, sn, c;               \
        TRIG(th, sn, c);                                                                        \
        return select(rad * c, rad * sn, odd != 0u);                                            \
    }
/* sin and cos of th: one vector sincos (on PoCL the bits of sin and cos for every one of the
 * 2^23 angles 2 pi u, checked exhaustively; cheaper than the two), or the scalar calls (devices
 * of width 1 keep the calls they always made). */
#define CLVAE_TRIG_V(th, sn, c) (sn = sincos(th, &c))
#define CLVAE_TRIG_S(th, sn, c) (sn = sin(th), c = cos(th))
/* uintv and the lane numbers (0, 1, ..., CLVAE_VW - 1) are philox.clh's. */
typedef clvae_uintv uintv;
#define CLVAE_LANES CLVAE_PX_LANES
#if CLVAE_VW > 1
CLVAE_DEFINE_NORMALS(uintv, floatv, CLVAE_PX_TO_FLOAT, CLVAE_TRIG_V, clvae_normals_v)
#else
#define clvae_normals_v clvae_philox_normal_u
#endif
CLVAE_DEFINE_NORMALS(uint, float, convert_float, CLVAE_TRIG_S, clvae_philox_normal_u)

/* kl[b] = 1/2 sum_j (mu^2 + exp(logvar) - logvar - 1) over row b (mu, lv: R floats each), in
 * CLVAE_VW-wide vectors, the tail, then the lanes (a fixed order). */
static inline float clvae_kl_row(__global const float *mu, __global const float *lv, uint R)
{
    uint nv = R / CLVAE_VW;
    floatv acc = 0.0f;
    for (uint v = 0; v < nv; v++) {
        floatv m = CLVAE_VLOAD(v, mu), l = CLVAE_VLOAD(v, lv);
        acc += m * m + exp(l) - l - 1.0f;
    }
    float s = clvae_vsum(acc);
    for (uint j = nv * CLVAE_VW; j < R; j++) s += mu[j] * mu[j] + exp(lv[j]) - lv[j] - 1.0f;
    return 0.5f * s;
}

/* heads (B, 2R) = [mu | logvar]; z, eps (S*B, R); kl (B). 3-D: work-item (v, b, s) writes the
 * v-th CLVAE_VW-wide vector of row s*B + b of z (v < nv = R / CLVAE_VW), or (v == nv) all of its
 * R % CLVAE_VW tail elements after those, in order; work-items (0, b, 0) also write kl[b]. No
 * work-item divides. S*B*R < 2^32. Noise of global row s*gbatch + row0 + b (a data-parallel
 * shard; unsharded: gbatch = batch, row0 = 0). The tail keeps the scalar math it always had (a
 * device's scalar log/exp may differ from its vector ones by an ulp: PoCL's do), but computes
 * each Philox block once for its (up to 4) elements and each Box-Muller radius once per pair,
 * and takes all its angles' sin and cos in one vector sincos (CLVAE_TRIG_V): the same bits as
 * clvae_philox_normal_u on PoCL. */
__kernel void clvae_reparam(__global const float *heads, ulong hoff, __global float *z, ulong zoff,
                            __global float *eps, ulong eoff, __global float *kl, ulong kloff,
                            uint batch, uint samples, uint latent, ulong seed, ulong step,
                            uint stream, int eps_given, uint row0, uint gbatch,
                            __global const ulong *state)
{
    /* a replayed command buffer reads the step's Philox step from the step state (cmdbuf) */
    if (state) step = state[CLVAE_STATE_NOISE_STEP];
    uint v = get_global_id(0), b = get_global_id(1), s = get_global_id(2), R = latent;
    uint nv = R / CLVAE_VW;
    if (b >= batch || s >= samples) return;
    __global const float *mu = heads + hoff + (ulong)b * 2 * R, *lv = mu + R;
    uint row = (s * batch + b) * R, nrow = (s * gbatch + row0 + b) * R;
    __global float *zr = z + zoff + row, *er = eps + eoff + row;
    if (v == 0 && s == 0) kl[kloff + b] = clvae_kl_row(mu, lv, R);
    if (v < nv) {
        floatv e;
        if (eps_given) {
            e = CLVAE_VLOAD(v, er);
        } else {
            e = clvae_normals_v(seed, step, stream, (uintv)(nrow + v * CLVAE_VW) + CLVAE_LANES);
            CLVAE_VSTORE(e, v, er);
        }
        CLVAE_VSTORE(CLVAE_VLOAD(v, mu) + exp(0.5f * CLVAE_VLOAD(v, lv)) * e, v, zr);
        return;
    }
    if (v != nv) return;
    uint j0 = nv * CLVAE_VW;
    float rad[CLVAE_VW], th[CLVAE_VW], sn[CLVAE_VW], cs[CLVAE_VW]; /* tail element j0 + l */
    if (!eps_given) {
        clvae_philox4 blk;
        for (uint l = 0; l < CLVAE_VW; l++) {
            uint n = nrow + j0 + l;
            th[l] = 0.0f;
            if (j0 + l >= R) continue;
            if (l == 0 || (n & 3u) == 0) blk = clvae_philox_block(seed, step, stream, n >> 2);
            if (l == 0 || (n & 1u) == 0) {
                uint w = n & 2u; /* lanes (0, 1) or (2, 3) of the block */
                float ua = clvae_u32_to_uniform(blk.v[w]), ub = clvae_u32_to_uniform(blk.v[w + 1]);
                rad[l] = sqrt(-2.0f * log(ua));
                th[l] = 6.28318530717958647692f * ub;
            } else {
                rad[l] = rad[l - 1]; /* element n - 1 is the other half of n's pair */
                th[l] = th[l - 1];
            }
        }
        floatv c, s;
        CLVAE_TRIG_V(CLVAE_VLOAD(0, th), s, c); /* a fraction of the scalar calls' cost */
        CLVAE_VSTORE(s, 0, sn);
        CLVAE_VSTORE(c, 0, cs);
    }
    for (uint j = j0; j < R; j++) {
        float e;
        if (eps_given) {
            e = er[j];
        } else {
            uint l = j - j0;
            e = ((nrow + j) & 1u) ? rad[l] * sn[l] : rad[l] * cs[l];
            er[j] = e;
        }
        zr[j] = mu[j] + exp(0.5f * lv[j]) * e;
    }
}

/* dheads (B, 2R) from heads (B, 2R), eps and dz (S*B, R). 2-D: work-item (v, b) takes the v-th
 * CLVAE_VW-wide vector of latent j's of row b (v < R / CLVAE_VW), or one tail j after those;
 * the sums over the S samples run in sample order either way. */
#define CLVAE_REPARAM_BWD_AT(T, LOAD, STORE, at)                                                \
    do {                                                                                        \
        T mu = LOAD(at, hr), lv = LOAD(at, hr + R), gmu = 0.0f, glv = 0.0f;                     \
        for (uint s = 0; s < samples; s++) {                                                    \
            ulong k = ((ulong)s * batch + b) * R;                                               \
            T d = LOAD(at, dz + dzoff + k);                                                     \
            gmu += d;                                                                           \
            glv += d * LOAD(at, eps + eoff + k);                                                \
        }                                                                                       \
        STORE(gmu + kl_weight * mu, at, dr);                                                    \
        STORE(0.5f * exp(0.5f * lv) * glv + kl_weight * 0.5f * (exp(lv) - 1.0f), at, dr + R);  \
    } while (0)

__kernel void clvae_reparam_bwd(__global const float *heads, ulong hoff, __global const float *eps,
                                ulong eoff, __global const float *dz, ulong dzoff,
                                __global float *dheads, ulong dhoff, uint batch, uint samples,
                                uint latent, float kl_weight)
{
    uint v = get_global_id(0), b = get_global_id(1), R = latent, nv = R / CLVAE_VW;
    if (b >= batch) return;
    __global const float *hr = heads + hoff + (ulong)b * 2 * R;
    __global float *dr = dheads + dhoff + (ulong)b * 2 * R;
    if (v < nv) {
        CLVAE_REPARAM_BWD_AT(floatv, CLVAE_VLOAD, CLVAE_VSTORE, v);
        return;
    }
    uint j = nv * CLVAE_VW + (v - nv);
    if (j < R) CLVAE_REPARAM_BWD_AT(float, CLVAE_SLOAD, CLVAE_SSTORE, j);
}

/* reparam_bwd and the column sums of its dheads (the q head's bias gradient db (2R)) in one
 * pass: work-item v takes the v-th vector (or tail j) of latent j's for every row, in row
 * order, computes dheads as clvae_reparam_bwd does (the same macro) and adds the values it
 * stored to its column sums, rows in order as clvae_col_sum adds them: the same bits as the
 * two kernels in sequence. */
__kernel void clvae_reparam_bwd_col_sum(__global const float *heads, ulong hoff,
                                        __global const float *eps, ulong eoff,
                                        __global const float *dz, ulong dzoff,
                                        __global float *dheads, ulong dhoff, uint batch,
                                        uint samples, uint latent, float kl_weight,
                                        __global float *db, ulong dboff)
{
    uint v = get_global_id(0), R = latent, nv = R / CLVAE_VW;
    if (v < nv) {
        floatv smu = 0.0f, slv = 0.0f;
        for (uint b = 0; b < batch; b++) {
            __global const float *hr = heads + hoff + (ulong)b * 2 * R;
            __global float *dr = dheads + dhoff + (ulong)b * 2 * R;
            CLVAE_REPARAM_BWD_AT(floatv, CLVAE_VLOAD, CLVAE_VSTORE, v);
            smu += CLVAE_VLOAD(v, dr);
            slv += CLVAE_VLOAD(v, dr + R);
        }
        CLVAE_VSTORE(smu, v, db + dboff);
        CLVAE_VSTORE(slv, v, db + dboff + R);
        return;
    }
    uint j = nv * CLVAE_VW + (v - nv);
    if (j >= R) return;
    float smu = 0.0f, slv = 0.0f;
    for (uint b = 0; b < batch; b++) {
        __global const float *hr = heads + hoff + (ulong)b * 2 * R;
        __global float *dr = dheads + dhoff + (ulong)b * 2 * R;
        CLVAE_REPARAM_BWD_AT(float, CLVAE_SLOAD, CLVAE_SSTORE, j);
        smu += dr[j];
        slv += dr[R + j];
    }
    db[dboff + j] = smu;
    db[dboff + R + j] = slv;
}

/* Negative log-likelihood of one element, or of CLVAE_VW contiguous elements (T = floatv);
 * *d (and *dv for the log variance) its derivatives. select() keeps the vector and scalar
 * forms the same expression: a vector comparison is -1 (MSB set) where a scalar one is 1. */
#define CLVAE_DEFINE_LIK_ELEM(T, NAME)                                                          \
    static inline T NAME(int kind, T o, T ov, T x, float inv_var, T *d, T *dv)                 \
    {                                                                                           \
        if (kind == CLVAE_LIK_BERNOULLI) {                                                      \
            /* One exp serves both: e = exp(-|o|), softplus(o) = max(o, 0) + log1p(e),          \
             * sigmoid(o) = 1 / (1 + e) for o >= 0, e / (1 + e) otherwise (stable). */         \
            T e = exp(-fabs(o)), inv = 1.0f / (1.0f + e);                                       \
            *d = select(e * inv, inv, o >= 0.0f) - x;                                           \
            return fmax(o, 0.0f) + log1p(e) - x * o;                                            \
        }                                                                                       \
        if (kind == CLVAE_LIK_GAUSSIAN) {                                                       \
            *d = (o - x) * inv_var;                                                             \
            return 0.5f * (o - x) * (o - x) * inv_var;                                          \
        }                                                                                       \
        T iv = exp(-ov), r = x - o;                                                             \
        *d = -r * iv;                                                                           \
        *dv = 0.5f - 0.5f * r * r * iv;                                                         \
        return 0.5f * r * r * iv + 0.5f * ov + 0.5f * CLVAE_LOG_2PI;                            \
    }
CLVAE_DEFINE_LIK_ELEM(float, clvae_lik_elem)
#if CLVAE_VW > 1
CLVAE_DEFINE_LIK_ELEM(floatv, clvae_lik_vec)
#else
#define clvae_lik_vec clvae_lik_elem
#endif

/* One work-group per row r of out (rows, D) or (rows, 2D): loss[r] = sum_d nll + cst, and
 * dout = grad_scale * d loss / d out when has_grad. x (B, D): row r uses x[r % B].
 * inv_var = 1 / sigma_x^2 and cst = D/2 log(2 pi sigma_x^2) come from the host.
 * Work-item l takes the CLVAE_VW-wide vectors l, l + L, ... of the row (adjacent work-items
 * read adjacent memory), then the D % CLVAE_VW tail elements one each; its vector of partial
 * sums is added lane by lane, and the work-group's L partials by a fixed tree. The host picks a
 * small L (a device's preferred multiple), so most of the work is the vector loop: on a CPU
 * device the explicit vectors are what gets SIMD math (a loop inside a work-item keeps PoCL from
 * vectorizing across work-items), on a GPU CLVAE_VW is its preferred width (often 1). */
__kernel void clvae_likelihood(__global const float *out, ulong ooff, __global const float *x,
                               ulong xoff, __global float *loss, ulong loff, __global float *dout,
                               ulong doff, int kind, uint batch, uint dim, float inv_var,
                               float cst, float grad_scale, int has_grad, __local float *scratch)
{
    uint r = get_group_id(0), wg = get_local_size(0), lid = get_local_id(0);
    int learned = kind == CLVAE_LIK_GAUSSIAN_LEARNED;
    ulong ld = learned ? 2 * (ulong)dim : dim;
    __global const float *o = out + ooff + r * ld;
    __global const float *xr = x + xoff + (ulong)(r % batch) * dim;
    __global float *dr = dout + doff + r * ld;
    uint nv = dim / CLVAE_VW;
    floatv acc = 0.0f;
    for (uint v = lid; v < nv; v += wg) {
        floatv d = 0.0f, dv = 0.0f;
        floatv ov = learned ? CLVAE_VLOAD(v, o + dim) : (floatv)0.0f;
        acc += clvae_lik_vec(kind, CLVAE_VLOAD(v, o), ov, CLVAE_VLOAD(v, xr), inv_var, &d, &dv);
        if (has_grad) {
            CLVAE_VSTORE(grad_scale * d, v, dr);
            if (learned) CLVAE_VSTORE(grad_scale * dv, v, dr + dim);
        }
    }
    float s = clvae_vsum(acc);
    for (uint j = nv * CLVAE_VW + lid; j < dim; j += wg) {
        float d = 0.0f, dv = 0.0f;
        s += clvae_lik_elem(kind, o[j], learned ? o[dim + j] : 0.0f, xr[j], inv_var, &d, &dv);
        if (has_grad) {
            dr[j] = grad_scale * d;
            if (learned) dr[dim + j] = grad_scale * dv;
        }
    }
    s = clvae_wg_sum(s, scratch);
    if (lid == 0) loss[loff + r] = s + cst;
}
