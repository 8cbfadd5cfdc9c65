/* Convolutional-net kernels (backend.h "Convolutional nets"): im2col over the whole batch, its
 * adjoint col2im as a gather (every image pixel sums the column entries that read it, no
 * atomics), the per-item NCHW <-> NHWC transpose and leaky_relu forward (with bias) and
 * backward. Maps are NHWC rows (B*H*W, C); cols (B*OH*OW, C*KH*KW), column (c*KH + kh)*KW + kw.
 * Grids are 3-D (channel, x, batch*y) so a work-item divides once; the KH*KW taps of a
 * (position, channel) pair are a loop inside the work-item, whose KH*KW column entries are
 * contiguous. Offsets are in floats; global sizes are rounded up, so every kernel checks its
 * bounds. Index arithmetic is in ulong (a batch of maps may pass 2^32 column entries). */

/* Geometry as the kernels take it: (C, H, W, OH, OW, KH, KW, sh, sw, ph, pw, dh, dw). */
#define CLVAE_GEOM_ARGS                                                                         \
    uint C, uint H, uint W, uint OH, uint OW, uint KH, uint KW, uint sh, uint sw, uint ph,     \
        uint pw, uint dh, uint dw

/* cols row (b*OH + oh)*OW + ow, columns (c*KH + kh)*KW + kw for every tap: img[b, ih, iw, c]
 * with ih = oh*sh - ph + kh*dh, iw = ow*sw - pw + kw*dw, 0 outside the image. Work-item
 * (g, ow, b*OH + oh) fills channels [g*cb, g*cb + cb) (the host's cb: 1 on a GPU, so
 * neighbouring work-items read neighbouring channels; a block on a CPU device, where one
 * work-item per entry spends more on its index arithmetic than on the copy): taps outside,
 * channels inside, the tap's bounds found once. `rows` = B*OH. */
__kernel void clvae_im2col(__global const float *img, ulong ioff, __global float *cols,
                           ulong coff, uint rows, CLVAE_GEOM_ARGS, uint cb)
{
    uint g = get_global_id(0), ow = get_global_id(1), bo = get_global_id(2);
    uint c0 = g * cb;
    if (c0 >= C || ow >= OW || bo >= rows) return;
    uint c1 = min(C, c0 + cb), b = bo / OH, oh = bo - b * OH;
    uint taps = KH * KW;
    ulong K = (ulong)C * taps;
    __global float *dst = cols + coff + ((ulong)bo * OW + ow) * K;
    __global const float *src = img + ioff + (ulong)b * H * W * C;
    int ih0 = (int)(oh * sh) - (int)ph, iw0 = (int)(ow * sw) - (int)pw;
    for (uint kh = 0; kh < KH; kh++) {
        int ih = ih0 + (int)(kh * dh);
        bool row_in = ih >= 0 && ih < (int)H;
        for (uint kw = 0; kw < KW; kw++) {
            int iw = iw0 + (int)(kw * dw);
            uint t = kh * KW + kw;
            if (row_in && iw >= 0 && iw < (int)W) {
                __global const float *px = src + ((ulong)ih * W + (ulong)iw) * C;
                for (uint c = c0; c < c1; c++)
                    dst[c * taps + t] = px[c];
            } else {
                for (uint c = c0; c < c1; c++)
                    dst[c * taps + t] = 0.0f;
            }
        }
    }
}

/* The first tap k of one axis that reads image coordinate i, and its column position o:
 * t = i + p - k*d kept as o*s + m (0 <= m < s) and stepped by -d without dividing (one
 * division per call); the tap is valid when m == 0. At most ks (= s / gcd(s, d)) steps: k = KH
 * (none) past that or once t < 0. */
static inline uint clvae_first_tap(uint i, uint p, uint d, uint s, uint ks, uint K, int *o)
{
    int q = (int)((i + p) / s), m = (int)(i + p) - q * (int)s;
    int qd = (int)(d / s), rd = (int)(d - (uint)qd * s);
    for (uint k = 0; k < K && k < ks && q >= 0; k++) {
        if (m == 0) {
            *o = q;
            return k;
        }
        q -= qd;
        m -= rd;
        if (m < 0) {
            m += (int)s;
            q -= 1;
        }
    }
    return K;
}

/* Channels summed together by one work-item of clvae_col2im (a block of accumulators the
 * compiler keeps in registers); a block past the last channel is masked. */
#define CLVAE_C2I_CB 16

/* img[b, ih, iw, c] = beta * img + the sum over the taps (kh, kw) of the column entries that
 * im2col fills from this pixel: oh = (ih + ph - kh*dh) / sh when that divides exactly and lies
 * in [0, OH), likewise ow. Only the valid taps are visited: the first one per axis
 * (clvae_first_tap), then every ks-th (ks = s / gcd(s, d)) with o falling by os = d ks / s,
 * until o < 0. Taps in order kh, kw from s = 0 for every channel (the same bits whatever cb
 * is); beta 0 never reads img. Work-item (g, iw, b*H + ih) sums channels [g*cb, g*cb + cb)
 * (cb as for clvae_im2col), CLVAE_C2I_CB at a time when cb > 1. `rows` = B*H. */
__kernel void clvae_col2im(__global const float *cols, ulong coff, __global float *img,
                           ulong ioff, uint rows, float beta, CLVAE_GEOM_ARGS, uint ksh,
                           uint osh, uint ksw, uint osw, uint cb)
{
    uint g = get_global_id(0), iw = get_global_id(1), bh = get_global_id(2);
    uint c0 = g * cb;
    if (c0 >= C || iw >= W || bh >= rows) return;
    uint c1 = min(C, c0 + cb), b = bh / H, ih = bh - b * H;
    uint taps = KH * KW;
    ulong K = (ulong)C * taps;
    __global const float *src = cols + coff + (ulong)b * OH * OW * K;
    __global float *dst = img + ioff + ((ulong)bh * W + iw) * C;
    int oh0 = 0, ow0 = 0;
    uint kh0 = clvae_first_tap(ih, ph, dh, sh, ksh, KH, &oh0);
    uint kw0 = clvae_first_tap(iw, pw, dw, sw, ksw, KW, &ow0);
    for (uint cc = c0; cc < c1; cc += CLVAE_C2I_CB) {
        float acc[CLVAE_C2I_CB];
        for (uint j = 0; j < CLVAE_C2I_CB; j++)
            acc[j] = 0.0f;
        uint n = min((uint)CLVAE_C2I_CB, c1 - cc);
        int oh = oh0;
        for (uint kh = kh0; kh < KH && oh >= 0; kh += ksh, oh -= (int)osh) {
            if (oh >= (int)OH) continue;
            __global const float *r = src + (ulong)oh * OW * K + (ulong)cc * taps + kh * KW;
            int ow = ow0;
            for (uint kw = kw0; kw < KW && ow >= 0; kw += ksw, ow -= (int)osw) {
                if (ow >= (int)OW) continue;
                __global const float *e = r + (ulong)ow * K + kw;
                if (n == CLVAE_C2I_CB) {
                    for (uint j = 0; j < CLVAE_C2I_CB; j++)
                        acc[j] += e[j * taps];
                } else {
                    for (uint j = 0; j < CLVAE_C2I_CB; j++)
                        if (j < n) acc[j] += e[j * taps];
                }
            }
        }
        for (uint j = 0; j < CLVAE_C2I_CB; j++)
            if (j < n) dst[cc + j] = beta == 0.0f ? acc[j] : beta * dst[cc + j] + acc[j];
    }
}

/* dst (B, cols, rows) = src (B, rows, cols) per item. Work-item (i, j, b) writes dst[b, j, i]
 * (dimension 0 along dst's rows, so writes are contiguous) from src[b, i, j]. */
__kernel void clvae_batch_transpose(__global const float *src, ulong soff, __global float *dst,
                                    ulong doff, uint batch, uint rows, uint cols)
{
    uint i = get_global_id(0), j = get_global_id(1), b = get_global_id(2);
    if (i >= rows || j >= cols || b >= batch) return;
    ulong base = (ulong)b * rows * cols;
    dst[doff + base + (ulong)j * rows + i] = src[soff + base + (ulong)i * cols + j];
}

static inline floatv clvae_leaky_v(floatv v, float slope)
{
    return select(slope * v, v, v > 0.0f);
}

static inline float clvae_leaky_s(float v, float slope)
{
    return v > 0.0f ? v : slope * v;
}

/* y (rows, cols) = leaky_relu(y + bias[col]); work-items split a row as clvae_bias_act does
 * (vectors of CLVAE_VW, then the tail columns one each). */
__kernel void clvae_bias_leaky(__global float *y, ulong yoff, __global const float *bias,
                               ulong boff, uint rows, uint cols, float slope)
{
    uint v = get_global_id(0), r = get_global_id(1), nv = cols / CLVAE_VW;
    if (r >= rows) return;
    __global float *yr = y + yoff + (ulong)r * cols;
    __global const float *b = bias + boff;
    if (v < nv) {
        CLVAE_VSTORE(clvae_leaky_v(CLVAE_VLOAD(v, yr) + CLVAE_VLOAD(v, b), slope), v, yr);
        return;
    }
    uint j = nv * CLVAE_VW + (v - nv);
    if (j < cols) yr[j] = clvae_leaky_s(yr[j] + b[j], slope);
}

/* dy (n) *= (y > 0 ? 1 : slope): vectors of CLVAE_VW, then the n % CLVAE_VW tail. */
__kernel void clvae_leaky_bwd(__global const float *y, ulong yoff, __global float *dy,
                              ulong dyoff, ulong n, float slope)
{
    ulong i = get_global_id(0), nv = n / CLVAE_VW;
    __global const float *ys = y + yoff;
    __global float *ds = dy + dyoff;
    if (i < nv) {
        floatv g = CLVAE_VLOAD(i, ds);
        CLVAE_VSTORE(select(slope * g, g, CLVAE_VLOAD(i, ys) > 0.0f), i, ds);
        return;
    }
    ulong k = nv * CLVAE_VW + (i - nv);
    if (k < n) ds[k] = ys[k] > 0.0f ? ds[k] : slope * ds[k];
}

/* The direct (column-free) products of a narrow column side: O channels at OH x OW positions,
 * col (B*OH*OW, O) NHWC. The image side's channels are the vector dimension: maps are NHWC, so
 * the C channels of a pixel are contiguous, and the forward and dx kernels read the weight as
 * wt (O, KH*KW, C) (the host transposes w (O, C*KH*KW) into it first). A "channel item" is
 * CLVAE_VW channels from c0 (c0 < C / CLVAE_VW * CLVAE_VW) or one tail channel. */

/* The weights of a channel item: a vector, or channel c0 in every lane. */
static inline floatv clvae_chan_load(__global const float *p, bool one)
{
    return one ? (floatv)(*p) : CLVAE_VLOAD(0, p);
}

static inline void clvae_chan_store(floatv v, __global float *p, bool one)
{
    if (!one) {
        CLVAE_VSTORE(v, 0, p);
        return;
    }
    float lane[CLVAE_VW];
    CLVAE_VSTORE(v, 0, lane);
    *p = lane[0];
}

/* The first channel of channel item v and whether it is a single (tail) channel. */
static inline uint clvae_chan_item(uint v, uint C, bool *one)
{
    uint nv = C / CLVAE_VW;
    *one = v >= nv;
    return v < nv ? v * CLVAE_VW : nv * CLVAE_VW + (v - nv);
}

/* acc, s += x . y over n floats: the vectors of CLVAE_VW into acc, the n % CLVAE_VW tail into s
 * (the direct products' per-tap step; the caller adds the lanes last). */
static inline void clvae_dot_acc(__global const float *x, __global const float *y, uint n,
                                 floatv *acc, float *s)
{
    uint nv = n / CLVAE_VW;
    for (uint v = 0; v < nv; v++)
        *acc += CLVAE_VLOAD(v, x) * CLVAE_VLOAD(v, y);
    for (uint i = nv * CLVAE_VW; i < n; i++)
        *s += x[i] * y[i];
}

/* col[(b*OH + oh)*OW + ow, o] = sum over the taps (kh, kw) inside the image and c < C of
 * img[b, ih, iw, c] wt[o, kh*KW + kw, c], ih and iw as im2col reads them; per tap the channels
 * in vectors, then the tail, the lanes added last. Work-item (ow, b*OH + oh, o); `rows` = B*OH. */
__kernel void clvae_conv_direct(__global const float *img, ulong ioff, __global const float *wt,
                                ulong woff, __global float *col, ulong coff, uint rows, uint O,
                                CLVAE_GEOM_ARGS)
{
    uint ow = get_global_id(0), bo = get_global_id(1), o = get_global_id(2);
    if (ow >= OW || bo >= rows || o >= O) return;
    uint b = bo / OH, oh = bo - b * OH, taps = KH * KW;
    __global const float *wo = wt + woff + (ulong)o * taps * C;
    __global const float *src = img + ioff + (ulong)b * H * W * C;
    int ih0 = (int)(oh * sh) - (int)ph, iw0 = (int)(ow * sw) - (int)pw;
    floatv acc = 0.0f;
    float s = 0.0f;
    for (uint kh = 0; kh < KH; kh++) {
        int ih = ih0 + (int)(kh * dh);
        if (ih < 0 || ih >= (int)H) continue;
        for (uint kw = 0; kw < KW; kw++) {
            int iw = iw0 + (int)(kw * dw);
            if (iw < 0 || iw >= (int)W) continue;
            clvae_dot_acc(src + ((ulong)ih * W + (ulong)iw) * C,
                          wo + (ulong)(kh * KW + kw) * C, C, &acc, &s);
        }
    }
    col[coff + ((ulong)bo * OW + ow) * O + o] = clvae_vsum(acc) + s;
}

/* img[b, ih, iw, c] = the sum over the taps that read this pixel (as clvae_col2im finds them)
 * and o < O of col[b, oh, ow, o] wt[o, kh*KW + kw, c]. Work-item (channel item, iw, b*H + ih);
 * `rows` = B*H. */
__kernel void clvae_conv_direct_dx(__global const float *col, ulong coff,
                                   __global const float *wt, ulong woff, __global float *img,
                                   ulong ioff, uint rows, uint O, CLVAE_GEOM_ARGS, uint ksh,
                                   uint osh, uint ksw, uint osw)
{
    uint v = get_global_id(0), iw = get_global_id(1), bh = get_global_id(2);
    if (v >= C / CLVAE_VW + C % CLVAE_VW || iw >= W || bh >= rows) return;
    bool one;
    uint c0 = clvae_chan_item(v, C, &one), b = bh / H, ih = bh - b * H, taps = KH * KW;
    __global const float *src = col + coff + (ulong)b * OH * OW * O;
    __global const float *wc = wt + woff + c0;
    int oh0 = 0, ow0 = 0;
    uint kh0 = clvae_first_tap(ih, ph, dh, sh, ksh, KH, &oh0);
    uint kw0 = clvae_first_tap(iw, pw, dw, sw, ksw, KW, &ow0);
    floatv acc = 0.0f;
    int oh = oh0;
    for (uint kh = kh0; kh < KH && oh >= 0; kh += ksh, oh -= (int)osh) {
        if (oh >= (int)OH) continue;
        int ow = ow0;
        for (uint kw = kw0; kw < KW && ow >= 0; kw += ksw, ow -= (int)osw) {
            if (ow >= (int)OW) continue;
            __global const float *d = src + ((ulong)oh * OW + (ulong)ow) * O;
            __global const float *wr = wc + (ulong)(kh * KW + kw) * C;
            for (uint o = 0; o < O; o++)
                acc += d[o] * clvae_chan_load(wr + (ulong)o * taps * C, one);
        }
    }
    clvae_chan_store(acc, img + ioff + ((ulong)bh * W + iw) * C + c0, one);
}

/* The same sum for an image side of few channels (C < O, a ConvTranspose2d to an image's
 * channels): per pixel and channel, the valid taps times the O column channels in float vectors
 * (contiguous in col's NHWC rows), the tail, the lanes added last; wt (C, KH*KW, O). Work-item
 * (iw, b*H + ih, c); `rows` = B*H. */
__kernel void clvae_conv_direct_dx_o(__global const float *col, ulong coff,
                                     __global const float *wt, ulong woff, __global float *img,
                                     ulong ioff, uint rows, uint O, CLVAE_GEOM_ARGS, uint ksh,
                                     uint osh, uint ksw, uint osw)
{
    uint iw = get_global_id(0), bh = get_global_id(1), c = get_global_id(2);
    if (iw >= W || bh >= rows || c >= C) return;
    uint b = bh / H, ih = bh - b * H, taps = KH * KW;
    __global const float *src = col + coff + (ulong)b * OH * OW * O;
    __global const float *wc = wt + woff + (ulong)c * taps * O;
    int oh0 = 0, ow0 = 0;
    uint kh0 = clvae_first_tap(ih, ph, dh, sh, ksh, KH, &oh0);
    uint kw0 = clvae_first_tap(iw, pw, dw, sw, ksw, KW, &ow0);
    floatv acc = 0.0f;
    float s = 0.0f;
    int oh = oh0;
    for (uint kh = kh0; kh < KH && oh >= 0; kh += ksh, oh -= (int)osh) {
        if (oh >= (int)OH) continue;
        int ow = ow0;
        for (uint kw = kw0; kw < KW && ow >= 0; kw += ksw, ow -= (int)osw) {
            if (ow >= (int)OW) continue;
            clvae_dot_acc(src + ((ulong)oh * OW + (ulong)ow) * O,
                          wc + (ulong)(kh * KW + kw) * O, O, &acc, &s);
        }
    }
    img[ioff + ((ulong)bh * W + iw) * C + c] = clvae_vsum(acc) + s;
}

/* Stage 1 of w = col^T . im2col(img), w (O, C*KH*KW): part[p, (o*C + c)*KH*KW + t] = the serial
 * sum over the output rows b*OH + oh of chunk p ([p*chunk, min((p+1)*chunk, B*OH))) and their
 * positions ow of col[b, oh, ow, o] times the pixel that tap t = kh*KW + kw reads there from
 * channel c (padding skipped). Work-item (channel item, t, p*O + o). */
__kernel void clvae_conv_direct_dw_part(__global const float *img, ulong ioff,
                                        __global const float *col, ulong coff,
                                        __global float *part, ulong poff, uint rows, uint O,
                                        uint chunk, uint parts, CLVAE_GEOM_ARGS)
{
    uint v = get_global_id(0), t = get_global_id(1), z = get_global_id(2), taps = KH * KW;
    if (v >= C / CLVAE_VW + C % CLVAE_VW || t >= taps || z >= parts * O) return;
    bool one;
    uint c0 = clvae_chan_item(v, C, &one), p = z / O, o = z - p * O, kh = t / KW, kw = t - kh * KW;
    uint r1 = min(p * chunk + chunk, rows);
    /* positions ow whose tap kw lies inside the image: [lo, hi) */
    int off = (int)(kw * dw) - (int)pw;
    int lo = off >= 0 ? 0 : (-off + (int)sw - 1) / (int)sw;
    int hi = (int)W - off <= 0 ? 0 : ((int)W - off - 1) / (int)sw + 1;
    hi = min(hi, (int)OW);
    floatv acc = 0.0f;
    for (uint bo = p * chunk; bo < r1 && lo < hi; bo++) {
        uint b = bo / OH, oh = bo - b * OH;
        int ih = (int)(oh * sh) - (int)ph + (int)(kh * dh);
        if (ih < 0 || ih >= (int)H) continue;
        __global const float *px =
            img + ioff + (((ulong)b * H + (ulong)ih) * W + (ulong)(lo * (int)sw + off)) * C + c0;
        __global const float *d = col + coff + ((ulong)bo * OW + (ulong)lo) * O + o;
        ulong step = (ulong)sw * C;
        for (int ow = lo; ow < hi; ow++, px += step, d += O) acc += *d * clvae_chan_load(px, one);
    }
    __global float *out = part + poff + (ulong)p * O * C * taps + ((ulong)o * C + c0) * taps + t;
    float lane[CLVAE_VW];
    CLVAE_VSTORE(acc, 0, lane);
    for (uint l = 0; l < (one ? 1u : CLVAE_VW); l++) out[(ulong)l * taps] = lane[l];
}
