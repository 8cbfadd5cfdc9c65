/* Batch-norm kernels over NHWC rows x (N, C) (backend.h "BatchNorm2d"): the per-column sums of
 * squared deviations and of the backward's dy*xhat | dy as a deterministic two-stage reduction
 * (stage 1: work-item (columns, chunk p) sums the rows of chunk p serially into part (P, n);
 * stage 2: out[j] = sum over p of part[p, j], p in order; no atomics, the same bits on every
 * run), the per-channel statistics (invstd, running-stat update, the mean for the apply pass)
 * and the elementwise normalize + activation and backward. Stage-1 and elementwise work-items
 * take CLVAE_VW adjacent columns as one vector, then the C % CLVAE_VW tail columns one each
 * (as clvae_col_sum). Offsets are in floats; every kernel checks its bounds. */

/* Row range of chunk p: [p*chunk, min((p+1)*chunk, rows)). */
#define CLVAE_CHUNK(p, chunk, rows, r0, r1)                                                     \
    ulong r0 = (ulong)(p) * (chunk), r1 = min(r0 + (chunk), (ulong)(rows))

/* part[p, c] (P, cols) = sum over the rows of chunk p of (x[r, c] - sum[c] / count)^2. */
__kernel void clvae_col_sq_dev_part(__global const float *x, ulong xoff, __global const float *sum,
                                    ulong soff, float count, uint rows, uint cols, uint chunk,
                                    __global float *part, ulong poff)
{
    uint j = get_global_id(0), p = get_global_id(1), nv = cols / CLVAE_VW;
    CLVAE_CHUNK(p, chunk, rows, r0, r1);
    if (r0 >= rows && p > 0) return;
    __global const float *xs = x + xoff;
    __global float *out = part + poff + (ulong)p * cols;
    if (j < nv) {
        floatv m = CLVAE_VLOAD(j, sum + soff) / count, s = 0.0f;
        for (ulong r = r0; r < r1; r++) {
            floatv d = CLVAE_VLOAD(j, xs + r * cols) - m;
            s += d * d;
        }
        CLVAE_VSTORE(s, j, out);
        return;
    }
    uint c = nv * CLVAE_VW + (j - nv);
    if (c >= cols) return;
    float m = sum[soff + c] / count, s = 0.0f;
    for (ulong r = r0; r < r1; r++) {
        float d = xs[r * cols + c] - m;
        s += d * d;
    }
    out[c] = s;
}

/* part[p] (P, 2C) = [sum over chunk p's rows of dy * xhat | of dy] per channel. */
__kernel void clvae_bn_bwd_part(__global const float *dy, ulong dyoff, __global const float *xhat,
                                ulong xoff, uint rows, uint C, uint chunk, __global float *part,
                                ulong poff)
{
    uint j = get_global_id(0), p = get_global_id(1), nv = C / CLVAE_VW;
    CLVAE_CHUNK(p, chunk, rows, r0, r1);
    if (r0 >= rows && p > 0) return;
    __global const float *ds = dy + dyoff, *xs = xhat + xoff;
    __global float *out = part + poff + (ulong)p * 2 * C;
    if (j < nv) {
        floatv sg = 0.0f, sb = 0.0f;
        for (ulong r = r0; r < r1; r++) {
            floatv g = CLVAE_VLOAD(j, ds + r * C);
            sg += g * CLVAE_VLOAD(j, xs + r * C);
            sb += g;
        }
        CLVAE_VSTORE(sg, j, out);
        CLVAE_VSTORE(sb, j, out + C);
        return;
    }
    uint c = nv * CLVAE_VW + (j - nv);
    if (c >= C) return;
    float sg = 0.0f, sb = 0.0f;
    for (ulong r = r0; r < r1; r++) {
        float g = ds[r * C + c];
        sg += g * xs[r * C + c];
        sb += g;
    }
    out[c] = sg;
    out[C + c] = sb;
}

/* out (n) = sum over p < parts of part[p, j], in order of p (stage 2). */
__kernel void clvae_sum_parts(__global const float *part, ulong poff, uint parts, uint n,
                              __global float *out, ulong ooff)
{
    uint j = get_global_id(0);
    if (j >= n) return;
    float s = 0.0f;
    for (uint p = 0; p < parts; p++) s += part[poff + (ulong)p * n + j];
    out[ooff + j] = s;
}

/* Per channel c < C: mean and var from the sums (training; the running statistics updated, with
 * the biased variance where count <= 1, as the reference) or
 * the running statistics (evaluation); invstd[c] = 1 / sqrt(var + eps); mean[c] for the apply
 * pass (scratch). */
__kernel void clvae_bn_stats(__global const float *sums, ulong soff, __global float *rmean,
                             ulong rmoff, __global float *rvar, ulong rvoff, __global float *invstd,
                             ulong isoff, __global float *mean, ulong moff, uint C, float count,
                             float eps, float momentum, int training)
{
    uint c = get_global_id(0);
    if (c >= C) return;
    float mu, var;
    if (training) {
        mu = sums[soff + c] / count;
        var = sums[soff + C + c] / count;
        float unbiased = count > 1.0f ? var * count / (count - 1.0f) : var;
        rmean[rmoff + c] = (1.0f - momentum) * rmean[rmoff + c] + momentum * mu;
        rvar[rvoff + c] = (1.0f - momentum) * rvar[rvoff + c] + momentum * unbiased;
    } else {
        mu = rmean[rmoff + c];
        var = rvar[rvoff + c];
    }
    invstd[isoff + c] = 1.0f / sqrt(var + eps);
    mean[moff + c] = mu;
}

/* act(v) for bn_fwd: the four of clvae_act_fwd, or leaky_relu with `slope`. */
static inline floatv clvae_bn_act_v(int act, float slope, floatv v)
{
    return act == CLVAE_ACT_LEAKY_RELU ? select(slope * v, v, v > 0.0f) : clvae_act_fwd_v(act, v);
}

static inline float clvae_bn_act_s(int act, float slope, float v)
{
    return act == CLVAE_ACT_LEAKY_RELU ? (v > 0.0f ? v : slope * v) : clvae_act_fwd_s(act, v);
}

/* xhat (N, C) = (x - mean) * invstd (unless has_xhat is 0); y = act(gamma * xhat + beta).
 * Work-item (v, r) as clvae_bias_act. */
__kernel void clvae_bn_apply(__global const float *x, ulong xoff, __global const float *mean,
                             ulong moff, __global const float *invstd, ulong isoff,
                             __global const float *gamma, ulong goff, __global const float *beta,
                             ulong boff, __global float *xhat, ulong xhoff, __global float *y,
                             ulong yoff, uint rows, uint C, int act, float slope, int has_xhat)
{
    uint v = get_global_id(0), r = get_global_id(1), nv = C / CLVAE_VW;
    if (r >= rows) return;
    ulong row = (ulong)r * C;
    __global const float *xr = x + xoff + row;
    if (v < nv) {
        floatv xh = (CLVAE_VLOAD(v, xr) - CLVAE_VLOAD(v, mean + moff)) *
                    CLVAE_VLOAD(v, invstd + isoff);
        if (has_xhat) CLVAE_VSTORE(xh, v, xhat + xhoff + row);
        floatv o = CLVAE_VLOAD(v, gamma + goff) * xh + CLVAE_VLOAD(v, beta + boff);
        CLVAE_VSTORE(clvae_bn_act_v(act, slope, o), v, y + yoff + row);
        return;
    }
    uint c = nv * CLVAE_VW + (v - nv);
    if (c >= C) return;
    float xh = (xr[c] - mean[moff + c]) * invstd[isoff + c];
    if (has_xhat) xhat[xhoff + row + c] = xh;
    y[yoff + row + c] = clvae_bn_act_s(act, slope, gamma[goff + c] * xh + beta[boff + c]);
}

/* dx (N, C) = gamma invstd / count * (count dy - dbeta - xhat dgamma), sums = [dgamma | dbeta];
 * dx may alias dy (each work-item reads its elements before it writes them). */
__kernel void clvae_bn_bwd(__global const float *dy, ulong dyoff, __global const float *xhat,
                           ulong xoff, __global const float *gamma, ulong goff,
                           __global const float *invstd, ulong isoff, __global const float *sums,
                           ulong soff, __global float *dx, ulong dxoff, uint rows, uint C,
                           float count)
{
    uint v = get_global_id(0), r = get_global_id(1), nv = C / CLVAE_VW;
    if (r >= rows) return;
    ulong row = (ulong)r * C;
    if (v < nv) {
        floatv k = CLVAE_VLOAD(v, gamma + goff) * CLVAE_VLOAD(v, invstd + isoff) / count;
        floatv t = count * CLVAE_VLOAD(v, dy + dyoff + row) - CLVAE_VLOAD(v, sums + soff + C) -
                   CLVAE_VLOAD(v, xhat + xoff + row) * CLVAE_VLOAD(v, sums + soff);
        CLVAE_VSTORE(k * t, v, dx + dxoff + row);
        return;
    }
    uint c = nv * CLVAE_VW + (v - nv);
    if (c >= C) return;
    float k = gamma[goff + c] * invstd[isoff + c] / count;
    float t = count * dy[dyoff + row + c] - sums[soff + C + c] - xhat[xoff + row + c] * sums[soff + c];
    dx[dxoff + row + c] = k * t;
}
