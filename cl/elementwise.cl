/* Elementwise kernels: fill, bias + activation forward and backward, the u8 batch gather and the
 * C = beta * C scaling of a GEMM with k = 0. Offsets are in floats; global sizes are rounded up,
 * so every kernel checks its bounds. */

__kernel void clvae_fill(__global float *y, ulong yoff, ulong n, float value)
{
    ulong i = get_global_id(0);
    if (i >= n) return;
    y[yoff + i] = value;
}

/* y (rows, cols) = act(y + bias[col]); rows * cols < 2^32 (checked by the host). */
__kernel void clvae_bias_act(__global float *y, ulong yoff, __global const float *bias,
                             ulong boff, uint rows, uint cols, int act)
{
    uint i = get_global_id(0);
    if (i >= rows * cols) return;
    uint j = i % cols;
    y[yoff + i] = clvae_act_fwd(act, y[yoff + i] + bias[boff + j]);
}

/* dy (n) *= act'(.) through y (n). */
__kernel void clvae_act_bwd(__global const float *y, ulong yoff, __global float *dy, ulong dyoff,
                            ulong n, int act)
{
    ulong i = get_global_id(0);
    if (i >= n) return;
    dy[dyoff + i] *= clvae_act_grad(act, y[yoff + i]);
}

/* v / 255 rounded correctly, as the host's (float)v / 255.0f (an OpenCL divide may be off by
 * 2.5 ulp): the product's error is corrected with one exact fma residual. Checked equal to the
 * host division for all 256 byte values, so device-resident and streamed batches are the same. */
static inline float clvae_u8_to_unit(uchar u)
{
    float v = (float)u, q = v * (1.0f / 255.0f);
    return fma(fma(-q, 255.0f, v), 1.0f / 255.0f, q);
}

/* dst (count, dim) = src[idx[r], :] / 255; count * dim < 2^32. An index past the end of src
 * (src_bytes) gives NaN rather than an out-of-bounds read. */
__kernel void clvae_gather_u8(__global float *dst, ulong doff, __global const uchar *src,
                              ulong src_bytes, __global const uint *idx, ulong ioff, uint count,
                              uint dim)
{
    uint i = get_global_id(0);
    if (i >= count * dim) return;
    uint r = i / dim, j = i - r * dim;
    ulong s = (ulong)idx[ioff + r] * dim + j;
    dst[doff + i] = s < src_bytes ? clvae_u8_to_unit(src[s]) : NAN;
}

/* dst (count, dim) = src[idx[r], :] for a float dataset (src_floats long); NaN past its end. */
__kernel void clvae_gather_f32(__global float *dst, ulong doff, __global const float *src,
                               ulong src_floats, __global const uint *idx, ulong ioff, uint count,
                               uint dim)
{
    uint i = get_global_id(0);
    if (i >= count * dim) return;
    uint r = i / dim, j = i - r * dim;
    ulong s = (ulong)idx[ioff + r] * dim + j;
    dst[doff + i] = s < src_floats ? src[s] : NAN;
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
