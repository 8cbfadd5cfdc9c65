/* Deterministic reductions (fixed order, no atomics): column sums for bias gradients and the
 * chunked tree sum behind sum_add. */

/* out (cols) = sum over rows of x (rows, cols), rows in order for every column. Work-item
 * j < cols / CLVAE_VW sums the CLVAE_VW adjacent columns from j * CLVAE_VW on as one vector (the
 * loop over rows keeps PoCL from vectorizing across work-items, so the vector is written out);
 * the cols % CLVAE_VW tail columns take one work-item each. */
__kernel void clvae_col_sum(__global const float *x, ulong xoff, uint rows, uint cols,
                            __global float *out, ulong ooff)
{
    uint j = get_global_id(0), nv = cols / CLVAE_VW;
    __global const float *xs = x + xoff;
    if (j < nv) {
        floatv s = 0.0f;
        for (uint r = 0; r < rows; r++) s += CLVAE_VLOAD(j, xs + (ulong)r * cols);
        CLVAE_VSTORE(s, j, out + ooff);
        return;
    }
    uint c = nv * CLVAE_VW + (j - nv);
    if (c >= cols) return;
    float s = 0.0f;
    for (uint r = 0; r < rows; r++) s += xs[(ulong)r * cols + c];
    out[ooff + c] = s;
}

/* act_bwd then col_sum in one pass over dy (rows, cols): dy *= act'(y), db (cols) = column sums
 * of the new dy, rows in order. Work-items split the columns as clvae_col_sum does (vectors,
 * then the tail), so the sums and the products are those of the two kernels in sequence. */
__kernel void clvae_act_bwd_col_sum(__global const float *y, ulong yoff, __global float *dy,
                                    ulong dyoff, uint rows, uint cols, int act,
                                    __global float *db, ulong dboff)
{
    uint j = get_global_id(0), nv = cols / CLVAE_VW;
    __global const float *ys = y + yoff;
    __global float *ds = dy + dyoff;
    if (j < nv) {
        floatv s = 0.0f;
        for (uint r = 0; r < rows; r++) {
            ulong row = (ulong)r * cols;
            floatv g = CLVAE_VLOAD(j, ds + row) * clvae_act_grad_v(act, CLVAE_VLOAD(j, ys + row));
            CLVAE_VSTORE(g, j, ds + row);
            s += g;
        }
        CLVAE_VSTORE(s, j, db + dboff);
        return;
    }
    uint c = nv * CLVAE_VW + (j - nv);
    if (c >= cols) return;
    float s = 0.0f;
    for (uint r = 0; r < rows; r++) {
        ulong at = (ulong)r * cols + c;
        float g = ds[at] * clvae_act_grad_s(act, ys[at]);
        ds[at] = g;
        s += g;
    }
    db[dboff + c] = s;
}

/* Work-group g sums x[g*chunk, min((g+1)*chunk, n)) (strided per work-item, then a tree).
 * accumulate = 0: out[g] = sum (first stage); accumulate = 1 (one group): out[0] += scale*sum. */
__kernel void clvae_sum_chunks(__global const float *x, ulong xoff, ulong n, ulong chunk,
                               __global float *out, ulong ooff, float scale, int accumulate,
                               __local float *scratch)
{
    ulong g = get_group_id(0), wg = get_local_size(0);
    ulong begin = g * chunk, end = min(begin + chunk, n);
    float s = 0.0f;
    for (ulong i = begin + get_local_id(0); i < end; i += wg) s += x[xoff + i];
    float total = clvae_wg_sum(s, scratch);
    if (get_local_id(0) != 0) return;
    if (accumulate)
        out[ooff] += scale * total;
    else
        out[ooff + g] = total;
}

/* Two sum_adds of one work-group each in one launch (the loss and a KL term): work-group g
 * (0 or 1) does what clvae_sum_chunks does with one group, chunk = n_g and accumulate = 1, on
 * its own (x, n, scale, out), so each accumulator gets the same bits as from its own launch. */
__kernel void clvae_sum_add2(__global const float *x0, ulong x0off, ulong n0, float scale0,
                             __global float *out0, ulong o0off, __global const float *x1,
                             ulong x1off, ulong n1, float scale1, __global float *out1,
                             ulong o1off, __local float *scratch)
{
    bool second = get_group_id(0) == 1;
    __global const float *x = second ? x1 : x0;
    __global float *out = second ? out1 : out0;
    ulong xoff = second ? x1off : x0off, n = second ? n1 : n0, ooff = second ? o1off : o0off;
    float scale = second ? scale1 : scale0;
    ulong wg = get_local_size(0);
    float s = 0.0f;
    for (ulong i = get_local_id(0); i < n; i += wg) s += x[xoff + i];
    float total = clvae_wg_sum(s, scratch);
    if (get_local_id(0) != 0) return;
    out[ooff] += scale * total;
}
