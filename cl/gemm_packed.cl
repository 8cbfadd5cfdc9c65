/* Packed GEMMs: row-major C (m, n) = alpha op(A) (m, k) op(B) (k, n) + beta C in two passes.
 * First clvae_gemm_pack copies op(A) into panels of GP_MR rows and op(B)^T into panels of
 * GP_NR = GP_NB * GP_VW columns (one launch for both), each panel k-major and zero-padded past the matrix's edge:
 *   panel p, step q, lane i  at  dst[(p * k + q) * P + i]   (P = GP_MR or GP_NR)
 * Then clvae_gemm_packed runs the outer-product register tile of gemm_tiled.cl over one A panel
 * and one B panel: both are read front to back in one stream each, whatever the transposes and
 * leading dimensions were (no gathers of a transposed operand, no k rows of B a power-of-two
 * stride apart that fall into the same cache sets), and the tile needs no edge code but the
 * masked store. A B panel (k x GP_NR) is shared by the work-items along a column of tiles, an
 * A panel by those along a row: the grid order (rows_first) says which one the device walks
 * first, so that panel stays in cache while the other streams by. Packing costs one pass over
 * A and B (m k + n k floats), which the tuner weighs against the GEMM it speeds up, shape by
 * shape; it uses no local memory and no barriers.
 * With GP_PACK_A 0 (the "packb" form) only op(B)^T is packed (n k floats: cheap when B is a
 * weight matrix and m is large, as in the forward layers' NT GEMMs) and the tile reads op(A) in
 * place through its strides: GP_MR streams along k when A is as stored, GP_MR neighbouring
 * floats per step when it is transposed. Rows past m read row m - 1 (never stored).
 *
 * This file is not part of the main program (the guard below): gemm/tiled.c builds it once per
 * variant with a prelude that defines GP_MR (1..16), GP_NB (1..8), GP_VW (1, 2, 4, 8, 16) and
 * GP_PACK_A (1: pack both operands, 0: op(B) only).
 * An optional epilogue (epi) adds the layer's bias, and relu, as C is stored.
 * The summation order is fixed (k ascending, one fma per step), so a variant gives the same
 * bits on every run. */
#ifdef CLVAE_GEMM_PACKED

#define GP_CAT_(a, b) a##b
#define GP_CAT(a, b) GP_CAT_(a, b)
#define GP_NR (GP_NB * GP_VW)
#ifndef GP_PACK_A
#define GP_PACK_A 1
#endif

#if GP_VW == 1
typedef float gpv;
#define GP_VLOAD(i, p) ((p)[i])
#define GP_VSTORE(v, i, p) ((p)[i] = (v))
#else
typedef GP_CAT(float, GP_VW) gpv;
#define GP_VLOAD(i, p) GP_CAT(vload, GP_VW)(i, p)
#define GP_VSTORE(v, i, p) GP_CAT(vstore, GP_VW)(v, i, p)
#endif

/* Lane i of step q of panel p of the (rows, k) matrix X, X(r, q) = x[r * rs + q * qs], packed
 * into panels of P rows. */
static inline float gp_packed(__global const float *x, int rows, int rs, int qs, int P, int i,
                              int q, int p)
{
    const int r = p * P + i;
    return r < rows ? x[(size_t)r * rs + (size_t)q * qs] : 0.0f;
}

/* Both operands in one launch: the panels of op(A) (m rows, GP_MR each) at dst, those of
 * op(B)^T (n rows, GP_NR each) at dst + bpoff. Work-item (i, q, p) writes lane i of step q of
 * panel p, counting A's panels first. With GP_PACK_A 0, op(B)^T's panels alone (a is not read). */
__kernel void clvae_gemm_pack(int k, __global const float *a, ulong aoff, int m, int ars, int aqs,
                              __global const float *b, ulong boff, int n, int brs, int bqs,
                              __global float *dst, ulong bpoff)
{
    const int i = (int)get_global_id(0), q = (int)get_global_id(1), p = (int)get_global_id(2);
    const int pm = GP_PACK_A ? (m + GP_MR - 1) / GP_MR : 0;
    if (q >= k) return;
    if (p < pm) {
        if (i < GP_MR)
            dst[((size_t)p * k + q) * GP_MR + i] = gp_packed(a + aoff, m, ars, aqs, GP_MR, i, q, p);
    } else if (i < GP_NR) {
        const int pb = p - pm;
        dst[bpoff + ((size_t)pb * k + q) * GP_NR + i] =
            gp_packed(b + boff, n, brs, bqs, GP_NR, i, q, pb);
    }
}

/* X-macros over the tile's rows (i) and column vectors (j): every accumulator a named variable,
 * which the compiler keeps in a register (an indexed private array lands on the stack). */
#define GP_R1(X, p) X(0, p)
#define GP_R2(X, p) GP_R1(X, p) X(1, p)
#define GP_R3(X, p) GP_R2(X, p) X(2, p)
#define GP_R4(X, p) GP_R3(X, p) X(3, p)
#define GP_R5(X, p) GP_R4(X, p) X(4, p)
#define GP_R6(X, p) GP_R5(X, p) X(5, p)
#define GP_R7(X, p) GP_R6(X, p) X(6, p)
#define GP_R8(X, p) GP_R7(X, p) X(7, p)
#define GP_R9(X, p) GP_R8(X, p) X(8, p)
#define GP_R10(X, p) GP_R9(X, p) X(9, p)
#define GP_R11(X, p) GP_R10(X, p) X(10, p)
#define GP_R12(X, p) GP_R11(X, p) X(11, p)
#define GP_R13(X, p) GP_R12(X, p) X(12, p)
#define GP_R14(X, p) GP_R13(X, p) X(13, p)
#define GP_R15(X, p) GP_R14(X, p) X(14, p)
#define GP_R16(X, p) GP_R15(X, p) X(15, p)
#define GP_ROWS(X, p) GP_CAT(GP_R, GP_MR)(X, p)

#define GP_B1(Y, i) Y(i, 0)
#define GP_B2(Y, i) GP_B1(Y, i) Y(i, 1)
#define GP_B3(Y, i) GP_B2(Y, i) Y(i, 2)
#define GP_B4(Y, i) GP_B3(Y, i) Y(i, 3)
#define GP_B5(Y, i) GP_B4(Y, i) Y(i, 4)
#define GP_B6(Y, i) GP_B5(Y, i) Y(i, 5)
#define GP_B7(Y, i) GP_B6(Y, i) Y(i, 6)
#define GP_B8(Y, i) GP_B7(Y, i) Y(i, 7)
#define GP_BLOCKS(Y, i) GP_CAT(GP_B, GP_NB)(Y, i)

/* C (row r, columns c0 .. c0 + GP_VW - 1, those below n) = alpha acc + beta C; C is not read
 * when beta is 0 (it may hold NaN). Then the epilogue: epi 1 adds bias[c0..], 2 also applies
 * relu (the expressions of clvae_bias_act: the same bits as the GEMM followed by it). */
static inline void gp_store(__global float *c, int ldc, int r, int c0, int n, float alpha,
                            float beta, __global const float *bias, int epi, gpv acc)
{
    __global float *p = c + (size_t)r * ldc + c0;
    gpv v = alpha * acc;
    if (c0 + GP_VW <= n) {
        if (beta != 0.0f) v += beta * GP_VLOAD(0, p);
        if (epi > 0) v = v + GP_VLOAD(0, bias + c0);
        if (epi == 2) v = select((gpv)0.0f, v, v > 0.0f);
        GP_VSTORE(v, 0, p);
        return;
    }
    float t[GP_VW];
    GP_VSTORE(v, 0, t);
    for (int l = 0; l < GP_VW && c0 + l < n; l++) {
        float e = beta != 0.0f ? t[l] + beta * p[l] : t[l];
        if (epi > 0) e = e + bias[c0 + l];
        if (epi == 2) e = e > 0.0f ? e : 0.0f;
        p[l] = e;
    }
}

#define GP_ZERO(i, j) gpv acc##i##_##j = (gpv)0.0f;
#define GP_ZERO_ROW(i, _) GP_BLOCKS(GP_ZERO, i)
#define GP_LOADB(_, j) const gpv b##j = GP_VLOAD(0, bq + (j)*GP_VW);
#define GP_FMA(i, j) acc##i##_##j = fma(x##i, b##j, acc##i##_##j);
#define GP_FMA_ROW(i, _)                                                                       \
    {                                                                                          \
        const gpv x##i = (gpv)GP_A(i);                                                         \
        GP_BLOCKS(GP_FMA, i)                                                                   \
    }
#define GP_STORE(i, j)                                                                         \
    if (j0 + (j)*GP_VW < n)                                                                    \
        gp_store(c, ldc, i0 + i, j0 + (j)*GP_VW, n, alpha, beta, bias, epi, acc##i##_##j);
#define GP_STORE_ROW(i, _)                                                                     \
    if (i0 + i < m) {                                                                          \
        GP_BLOCKS(GP_STORE, i)                                                                 \
    }

#if GP_PACK_A
#define GP_A(i) aq[i] /* lane i of the A panel's step */
#define GP_ASTEP GP_MR
#else
/* op(A)(i0 + i, q) = aq[ar_i] at step q, row i0 + i clamped to m - 1 (its result is not stored) */
#define GP_AROW(i, _) const size_t ar##i = (size_t)min(i0 + (i), m - 1) * (size_t)ars;
#define GP_A(i) aq[ar##i]
#define GP_ASTEP aqs
#endif

/* One GP_MR x GP_NR tile of C from B panel pj and rows pi GP_MR .. of op(A): A panel pi of the
 * packed operands at ap, or with GP_PACK_A 0 op(A)(r, q) = ap[aoff + r ars + q aqs] in place
 * (aoff, ars and aqs are not read with GP_PACK_A 1). */
__kernel void clvae_gemm_packed(int m, int n, int k, float alpha, __global const float *ap,
                                ulong aoff, int ars, int aqs, __global const float *bp,
                                ulong bpoff, float beta, __global float *c, ulong coff, int ldc,
                                int rows_first, __global const float *bias, ulong biasoff, int epi)
{
    const int pj = (int)get_global_id(rows_first), pi = (int)get_global_id(1 - rows_first);
    const int j0 = pj * GP_NR, i0 = pi * GP_MR;
    if (j0 >= n || i0 >= m) return;
#if GP_PACK_A
    __global const float *aq = ap + (size_t)pi * k * GP_MR;
#else
    __global const float *aq = ap + aoff;
    GP_ROWS(GP_AROW, _)
#endif
    __global const float *bq = bp + bpoff + (size_t)pj * k * GP_NR;
    c += coff;
    bias += biasoff;
    GP_ROWS(GP_ZERO_ROW, _)
    for (int q = 0; q < k; q++) {
        GP_BLOCKS(GP_LOADB, _)
        GP_ROWS(GP_FMA_ROW, _)
        aq += GP_ASTEP;
        bq += GP_NR;
    }
    GP_ROWS(GP_STORE_ROW, _)
}

#endif /* CLVAE_GEMM_PACKED */
