/* Register-tiled GEMMs: row-major C (m, n) = alpha op(A) (m, k) op(B) (k, n) + beta C, each
 * work-item computing a GT_MR-row tile in registers, with no local memory and no barriers.
 * CLBlast's kernels stage tiles through local memory behind barriers, which a CPU device (PoCL)
 * runs as loops around every barrier; at the skinny shapes of a VAE step (a dimension of 20 or
 * 40) and for the transposes its indirect kernel pays with helper copies, these are faster
 * there. The tuner times them against CLBlast shape by shape and writes the winner to the
 * tuning file; `clvae check` and test_ops run every form.
 *
 * This file is not part of the main program (the guard below): gemm/tiled.c builds it once
 * per variant with a prelude that defines
 *   GT_FORM  1 = outer: per k, GT_NB vectors of GT_VW columns of op(B) times a broadcast
 *                element of each of the GT_MR rows of op(A) (any transposes; a transposed B
 *                is gathered, which suits a small k)
 *            2 = dot: GT_MR rows of A and GT_NB rows of B (op(B) = B^T) read along k in
 *                vectors, then summed across lanes (A not transposed, B transposed)
 *   GT_TA, GT_TB  the transposes (0/1)
 *   GT_MR (1..16), GT_NB (1..8), GT_VW (1, 2, 4, 8 or 16)
 * The grid's dimension 0 runs over column blocks (rows_first = 0) or row blocks (1): a CPU
 * device takes work-groups in that order, so 1 keeps one column panel of B in cache while every
 * row block passes (the large-batch shapes), 0 keeps a row block of A while B streams by.
 * Every form ends with an optional epilogue (kernel argument epi): the layer's bias, and relu,
 * added as the GEMM stores C, so a forward layer needs no separate bias_act launch.
 * The summation order is fixed per variant (k ascending; for dot, lane partial sums then a
 * fixed tree), so a variant gives the same bits on every run. */
#ifdef CLVAE_GEMM_TILED

#define GT_CAT_(a, b) a##b
#define GT_CAT(a, b) GT_CAT_(a, b)

#if GT_VW == 1
typedef float gtv;
#define GT_VLOAD(i, p) ((p)[i])
#define GT_VSTORE(v, i, p) ((p)[i] = (v))
#else
typedef GT_CAT(float, GT_VW) gtv;
#define GT_VLOAD(i, p) GT_CAT(vload, GT_VW)(i, p)
#define GT_VSTORE(v, i, p) GT_CAT(vstore, GT_VW)(v, i, p)
#endif

/* X-macros that unroll over the tile's rows (i) and column blocks (j), so that every
 * accumulator is a named variable the compiler keeps in a register (an indexed private array
 * ends up on the stack under PoCL). */
#define GT_R1(X, p) X(0, p)
#define GT_R2(X, p) GT_R1(X, p) X(1, p)
#define GT_R3(X, p) GT_R2(X, p) X(2, p)
#define GT_R4(X, p) GT_R3(X, p) X(3, p)
#define GT_R5(X, p) GT_R4(X, p) X(4, p)
#define GT_R6(X, p) GT_R5(X, p) X(5, p)
#define GT_R7(X, p) GT_R6(X, p) X(6, p)
#define GT_R8(X, p) GT_R7(X, p) X(7, p)
#define GT_R9(X, p) GT_R8(X, p) X(8, p)
#define GT_R10(X, p) GT_R9(X, p) X(9, p)
#define GT_R11(X, p) GT_R10(X, p) X(10, p)
#define GT_R12(X, p) GT_R11(X, p) X(11, p)
#define GT_R13(X, p) GT_R12(X, p) X(12, p)
#define GT_R14(X, p) GT_R13(X, p) X(13, p)
#define GT_R15(X, p) GT_R14(X, p) X(14, p)
#define GT_R16(X, p) GT_R15(X, p) X(15, p)
#define GT_ROWS(X, p) GT_CAT(GT_R, GT_MR)(X, p)

#define GT_B1(Y, i) Y(i, 0)
#define GT_B2(Y, i) GT_B1(Y, i) Y(i, 1)
#define GT_B3(Y, i) GT_B2(Y, i) Y(i, 2)
#define GT_B4(Y, i) GT_B3(Y, i) Y(i, 3)
#define GT_B5(Y, i) GT_B4(Y, i) Y(i, 4)
#define GT_B6(Y, i) GT_B5(Y, i) Y(i, 5)
#define GT_B7(Y, i) GT_B6(Y, i) Y(i, 6)
#define GT_B8(Y, i) GT_B7(Y, i) Y(i, 7)
#define GT_BLOCKS(Y, i) GT_CAT(GT_B, GT_NB)(Y, i)

/* Element (row r, column q) of op(A) and of op(B). */
#if GT_TA
#define GT_A(r, q) a[(size_t)(q) * lda + (r)]
#else
#define GT_A(r, q) a[(size_t)(r) * lda + (q)]
#endif
#if GT_TB
#define GT_B(q, col) b[(size_t)(col) * ldb + (q)]
#else
#define GT_B(q, col) b[(size_t)(q) * ldb + (col)]
#endif

/* C (row r, columns c0..) = alpha * acc + beta * C (C is not read when beta is 0), then the
 * epilogue: epi 1 adds bias[c0..], 2 also applies relu (the expressions of clvae_bias_act, so
 * the same bits as the GEMM followed by that kernel). */
static inline void gt_store_v(__global float *c, int ldc, int r, int c0, float alpha, float beta,
                              __global const float *bias, int epi, gtv acc)
{
    __global float *p = c + (size_t)r * ldc + c0;
    gtv v = alpha * acc;
    if (beta != 0.0f) v += beta * GT_VLOAD(0, p);
    if (epi > 0) v = v + GT_VLOAD(0, bias + c0);
    if (epi == 2) v = select((gtv)0.0f, v, v > 0.0f);
    GT_VSTORE(v, 0, p);
}

static inline void gt_store_s(__global float *c, int ldc, int r, int c0, float alpha, float beta,
                              __global const float *bias, int epi, float acc)
{
    __global float *p = c + (size_t)r * ldc + c0;
    float v = alpha * acc;
    if (beta != 0.0f) v += beta * *p;
    if (epi > 0) v = v + bias[c0];
    if (epi == 2) v = v > 0.0f ? v : 0.0f;
    *p = v;
}

#if GT_FORM == 1 /* ---- outer products ---- */

/* GT_VW consecutive columns c0.. of row q of op(B). */
static inline gtv gt_brow(__global const float *b, int ldb, int q, int c0)
{
#if GT_TB
    float t[GT_VW];
    for (int l = 0; l < GT_VW; l++)
        t[l] = GT_B(q, c0 + l);
    return GT_VLOAD(0, t);
#else
    return GT_VLOAD(0, b + (size_t)q * ldb + c0);
#endif
}

#define GT_ROWIDX(i, _) const int r##i = min(i0 + i, m - 1);
#define GT_ZERO(i, j) gtv acc##i##_##j = (gtv)0.0f;
#define GT_ZERO_ROW(i, _) GT_BLOCKS(GT_ZERO, i)
#define GT_LOADB(q, j) const gtv b##j = gt_brow(b, ldb, q, j0 + (j)*GT_VW);
#define GT_FMA(i, j) acc##i##_##j = fma(x##i, b##j, acc##i##_##j);
#define GT_FMA_ROW(i, q)                                                                       \
    {                                                                                          \
        const gtv x##i = (gtv)GT_A(r##i, q);                                                   \
        GT_BLOCKS(GT_FMA, i)                                                                   \
    }
#define GT_STORE(i, j)                                                                         \
    gt_store_v(c, ldc, i0 + i, j0 + (j)*GT_VW, alpha, beta, bias, epi, acc##i##_##j);
#define GT_STORE_ROW(i, _)                                                                     \
    if (i0 + i < m) {                                                                          \
        GT_BLOCKS(GT_STORE, i)                                                                 \
    }
/* the edge tile: one vector (s1) or one column (s0) at a time */
#define GT_ZERO1(i, T) T e##i = (T)0.0f;
#define GT_FMA1V(i, bv) e##i = fma((gtv)GT_A(r##i, q), bv, e##i);
#define GT_FMA1S(i, bs) e##i = fma(GT_A(r##i, q), bs, e##i);
#define GT_STORE1(i, fn)                                                                       \
    if (i0 + i < m) fn(c, ldc, i0 + i, col, alpha, beta, bias, epi, e##i);

__kernel void clvae_gemm_tiled(int m, int n, int k, float alpha, __global const float *a,
                               ulong aoff, int lda, __global const float *b, ulong boff, int ldb,
                               float beta, __global float *c, ulong coff, int ldc,
                               int rows_first, __global const float *bias, ulong biasoff, int epi,
                               int kc, ulong cstride)
{
    const int j0 = (int)get_global_id(rows_first) * (GT_NB * GT_VW);
    const int i0 = (int)get_global_id(1 - rows_first) * GT_MR;
    if (j0 >= n || i0 >= m) return;
    /* split-K: slice s (grid dimension 2) sums k steps [s*kc, s*kc + kc) into its own partial
     * C at c + s*cstride; unsplit, kc = k and the slice is 0 */
    const int s = (int)get_global_id(2), q0 = s * kc, q1 = min(k, q0 + kc);
    a += aoff;
    b += boff;
    c += coff + (size_t)s * cstride;
    bias += biasoff;
    GT_ROWS(GT_ROWIDX, _) /* rows past m repeat row m - 1 and are not stored */
    if (j0 + GT_NB * GT_VW <= n) {
        GT_ROWS(GT_ZERO_ROW, _)
        for (int q = q0; q < q1; q++) {
            GT_BLOCKS(GT_LOADB, q)
            GT_ROWS(GT_FMA_ROW, q)
        }
        GT_ROWS(GT_STORE_ROW, _)
        return;
    }
    int col = j0;
    for (; col + GT_VW <= n; col += GT_VW) {
        GT_ROWS(GT_ZERO1, gtv)
        for (int q = q0; q < q1; q++) {
            const gtv bv = gt_brow(b, ldb, q, col);
            GT_ROWS(GT_FMA1V, bv)
        }
        GT_ROWS(GT_STORE1, gt_store_v)
    }
    for (; col < n; col++) {
        GT_ROWS(GT_ZERO1, float)
        for (int q = q0; q < q1; q++) {
            const float bs = GT_B(q, col);
            GT_ROWS(GT_FMA1S, bs)
        }
        GT_ROWS(GT_STORE1, gt_store_s)
    }
}

#elif GT_FORM == 2 /* ---- dot products along k (A not transposed, B transposed) ---- */

#if GT_TA || !GT_TB
#error "the dot form needs A not transposed and B transposed"
#endif
/* (kc and cstride, the outer form's split-K arguments, are ignored: the dot form is not split) */

/* The lanes of x summed in a fixed tree. */
static inline float gt_lanes(gtv x)
{
#if GT_VW == 16
    float8 x8 = x.lo + x.hi;
#elif GT_VW == 8
    float8 x8 = x;
#endif
#if GT_VW >= 8
    float4 x4 = x8.lo + x8.hi;
#elif GT_VW == 4
    float4 x4 = x;
#endif
#if GT_VW >= 4
    float2 x2 = x4.lo + x4.hi;
#elif GT_VW == 2
    float2 x2 = x;
#endif
#if GT_VW >= 2
    return x2.x + x2.y;
#else
    return x;
#endif
}

#define GT_APTR(i, _) __global const float *ap##i = a + (size_t)min(i0 + i, m - 1) * lda;
#define GT_BPTR(_, j) __global const float *bp##j = b + (size_t)min(j0 + j, n - 1) * ldb;
#define GT_DZERO(i, j) gtv acc##i##_##j = (gtv)0.0f;
#define GT_DZERO_ROW(i, _) GT_BLOCKS(GT_DZERO, i)
#define GT_DLOADA(i, v) const gtv x##i = GT_VLOAD(v, ap##i);
#define GT_DLOADB(v, j) const gtv y##j = GT_VLOAD(v, bp##j);
#define GT_DFMA(i, j) acc##i##_##j = fma(x##i, y##j, acc##i##_##j);
#define GT_DFMA_ROW(i, _) GT_BLOCKS(GT_DFMA, i)
#define GT_DSUM(i, j) float s##i##_##j = gt_lanes(acc##i##_##j);
#define GT_DSUM_ROW(i, _) GT_BLOCKS(GT_DSUM, i)
#define GT_DTAIL(i, j) s##i##_##j = fma(ap##i[q], bp##j[q], s##i##_##j);
#define GT_DTAIL_ROW(i, _) GT_BLOCKS(GT_DTAIL, i)
#define GT_DSTORE(i, j)                                                                        \
    if (j0 + j < n) gt_store_s(c, ldc, i0 + i, j0 + j, alpha, beta, bias, epi, s##i##_##j);
#define GT_DSTORE_ROW(i, _)                                                                    \
    if (i0 + i < m) {                                                                          \
        GT_BLOCKS(GT_DSTORE, i)                                                                \
    }

__kernel void clvae_gemm_tiled(int m, int n, int k, float alpha, __global const float *a,
                               ulong aoff, int lda, __global const float *b, ulong boff, int ldb,
                               float beta, __global float *c, ulong coff, int ldc,
                               int rows_first, __global const float *bias, ulong biasoff, int epi,
                               int kc, ulong cstride)
{
    const int j0 = (int)get_global_id(rows_first) * GT_NB;
    const int i0 = (int)get_global_id(1 - rows_first) * GT_MR;
    if (j0 >= n || i0 >= m) return;
    a += aoff;
    b += boff;
    c += coff;
    bias += biasoff;
    GT_ROWS(GT_APTR, _)   /* rows past m repeat row m - 1 and are not stored */
    GT_BLOCKS(GT_BPTR, _) /* the same for columns past n */
    GT_ROWS(GT_DZERO_ROW, _)
    const int kv = k / GT_VW;
    for (int v = 0; v < kv; v++) {
        GT_ROWS(GT_DLOADA, v)
        GT_BLOCKS(GT_DLOADB, v)
        GT_ROWS(GT_DFMA_ROW, _)
    }
    GT_ROWS(GT_DSUM_ROW, _)
    for (int q = kv * GT_VW; q < k; q++) {
        GT_ROWS(GT_DTAIL_ROW, _)
    }
    GT_ROWS(GT_DSTORE_ROW, _)
}

#else
#error "GT_FORM must be 1 (outer) or 2 (dot)"
#endif

/* Split-K's second launch: C (row i, column j) = alpha * the sum of the slices' partial
 * products part[s, i, j] (s ascending from 0, a fixed order) + beta * C, then the epilogue, as
 * gt_store_s writes one element. Work-item (j, i). */
__kernel void clvae_gemm_split_sum(int m, int n, int slices, float alpha,
                                   __global const float *part, float beta, __global float *c,
                                   ulong coff, int ldc, __global const float *bias, ulong biasoff,
                                   int epi)
{
    const int j = (int)get_global_id(0), i = (int)get_global_id(1);
    if (j >= n || i >= m) return;
    const size_t at = (size_t)i * n + j, stride = (size_t)m * n;
    float acc = part[at];
    for (int s = 1; s < slices; s++)
        acc += part[at + (size_t)s * stride];
    gt_store_s(c + coff, ldc, i, j, alpha, beta, bias + biasoff, epi, acc);
}

#endif /* CLVAE_GEMM_TILED */
