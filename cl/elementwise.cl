/* Elementwise kernels: fill, bias + activation forward and backward, the u8 batch gather and the
 * C = beta * C scaling of a GEMM with k = 0. Offsets are in floats; global sizes are rounded up,
 * so every kernel checks its bounds. */

__kernel void clvae_fill(__global float *y, ulong yoff, ulong n, float value)
{
    ulong i = get_global_id(0);
    if (i >= n) return;
    y[yoff + i] = value;
}

/* y (rows, cols) = act(y + bias[col]); 2-D: work-item (v, r) takes row r's columns
 * [v * CLVAE_VW, v * CLVAE_VW + CLVAE_VW) for v < cols / CLVAE_VW as one vector, and the
 * cols % CLVAE_VW tail columns one each after those (no work-item divides). */
__kernel void clvae_bias_act(__global float *y, ulong yoff, __global const float *bias,
                             ulong boff, uint rows, uint cols, int act)
{
    uint v = get_global_id(0), r = get_global_id(1), nv = cols / CLVAE_VW;
    if (r >= rows) return;
    __global float *yr = y + yoff + (ulong)r * cols;
    __global const float *b = bias + boff;
    if (v < nv) {
        CLVAE_VSTORE(clvae_act_fwd_v(act, CLVAE_VLOAD(v, yr) + CLVAE_VLOAD(v, b)), v, yr);
        return;
    }
    uint j = nv * CLVAE_VW + (v - nv);
    if (j < cols) yr[j] = clvae_act_fwd_s(act, yr[j] + b[j]);
}

/* dy (n) *= act'(.) through y (n): vectors of CLVAE_VW, then the n % CLVAE_VW tail. */
__kernel void clvae_act_bwd(__global const float *y, ulong yoff, __global float *dy, ulong dyoff,
                            ulong n, int act)
{
    ulong i = get_global_id(0), nv = n / CLVAE_VW;
    __global const float *ys = y + yoff;
    __global float *ds = dy + dyoff;
    if (i < nv) {
        CLVAE_VSTORE(CLVAE_VLOAD(i, ds) * clvae_act_grad_v(act, CLVAE_VLOAD(i, ys)), i, ds);
        return;
    }
    ulong k = nv * CLVAE_VW + (i - nv);
    if (k < n) ds[k] *= clvae_act_grad_s(act, ys[k]);
}

/* v / 255 rounded correctly, as the host's (float)v / 255.0f (an OpenCL divide may be off by
 * 2.5 ulp): the product's error is corrected with one exact fma residual. Checked equal to the
 * host division for all 256 byte values, so device-resident and streamed batches are the same. */
static inline float clvae_u8_to_unit(uchar u)
{
    float v = (float)u, q = v * (1.0f / 255.0f);
    return fma(fma(-q, 255.0f, v), 1.0f / 255.0f, q);
}

/* dst (count, dim) = src[idx[r], :] / 255, 2-D (column j, row r); count * dim < 2^32. An index
 * past the end of src (src_bytes) gives NaN rather than an out-of-bounds read. */
__kernel void clvae_gather_u8(__global float *dst, ulong doff, __global const uchar *src,
                              ulong src_bytes, __global const uint *idx, ulong ioff, uint count,
                              uint dim)
{
    uint j = get_global_id(0), r = get_global_id(1);
    if (j >= dim || r >= count) return;
    ulong s = (ulong)idx[ioff + r] * dim + j;
    dst[doff + (ulong)r * dim + j] = s < src_bytes ? clvae_u8_to_unit(src[s]) : NAN;
}

/* dst (count, dim) = src[idx[r], :] for a float dataset (src_floats long); NaN past its end. */
__kernel void clvae_gather_f32(__global float *dst, ulong doff, __global const float *src,
                               ulong src_floats, __global const uint *idx, ulong ioff, uint count,
                               uint dim)
{
    uint j = get_global_id(0), r = get_global_id(1);
    if (j >= dim || r >= count) return;
    ulong s = (ulong)idx[ioff + r] * dim + j;
    dst[doff + (ulong)r * dim + j] = s < src_floats ? src[s] : NAN;
}

/* c (m, n) with leading dimension ldc: c = beta * c, or 0 when beta == 0 (BLAS semantics). */
__kernel void clvae_scale_matrix(__global float *c, ulong coff, uint m, uint n, uint ldc,
                                 float beta)
{
    uint i = get_global_id(0);
    if (i >= m * n) return;
    uint r = i / n, j = i - r * n;
    ulong at = coff + (ulong)r * ldc + j;
    c[at] = beta == 0.0f ? 0.0f : beta * c[at];
}
