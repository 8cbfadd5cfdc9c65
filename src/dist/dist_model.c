/* The model's arenas across ranks, staged through host memory: rank 0's parameters, optimizer
 * moments and step go to every rank (start and resume), and the gradient arena is summed over
 * the ranks after every backward pass (one MPI_Allreduce, with the stop flag riding along). */
#include <string.h>

#include "clvae/status.h"
#include "dist/dist_model.h"

/* One arena (n floats) from rank 0 to every rank through stage. */
static int bcast_arena(clvae_model *m, clvae_buffer *buf, float *stage)
{
    const clvae_backend_ops *o = m->be->ops;
    size_t bytes = m->n_floats * sizeof(float);
    clvae_view v = {buf, 0};
    int st = clvae_dist_rank() == 0 ? o->download(m->be->ctx, v, stage, bytes) : CLVAE_OK;
    if (!st) st = clvae_dist_bcast(stage, bytes);
    if (!st && clvae_dist_rank() != 0) st = o->upload(m->be->ctx, v, stage, bytes);
    return st;
}

int clvae_dist_bcast_model(clvae_model *m, float *stage)
{
    if (clvae_dist_size() == 1) return CLVAE_OK;
    int st = bcast_arena(m, m->p_buf, stage);
    if (!st) st = bcast_arena(m, m->m_buf, stage);
    if (!st && m->v_buf) st = bcast_arena(m, m->v_buf, stage);
    if (!st) st = clvae_dist_bcast(&m->step, sizeof m->step);
    return st;
}

int clvae_dist_sum_grads(clvae_model *m, float *stage, float *flag)
{
    if (clvae_dist_size() == 1) return CLVAE_OK;
    const clvae_backend_ops *o = m->be->ops;
    size_t n = m->n_floats;
    clvae_view g = {m->g_buf, 0};
    int st = o->download(m->be->ctx, g, stage, n * sizeof(float)); /* waits for the backward */
    stage[n] = *flag;
    if (!st) st = clvae_dist_sum_f32(stage, n + 1);
    if (!st) st = o->upload(m->be->ctx, g, stage, n * sizeof(float));
    *flag = stage[n];
    return st;
}

int clvae_dist_check_params(clvae_model *m, float *stage)
{
    if (clvae_dist_size() == 1) return CLVAE_OK;
    size_t bytes = m->n_floats * sizeof(float);
    int st = m->be->ops->download(m->be->ctx, (clvae_view){m->p_buf, 0}, stage, bytes);
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a over the arena's bytes */
    const unsigned char *b = (const unsigned char *)stage;
    for (size_t i = 0; !st && i < bytes; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    bool same;
    int cst = clvae_dist_same_u64(st ? 0 : h, &same); /* every rank calls it, also after a failure */
    if (st || cst) return st ? st : cst;
    if (!same)
        return clvae_error(CLVAE_ERR_INTERNAL, "the ranks' parameters differ after step %llu: the "
                                               "gradient sums were not the same bits on every "
                                               "rank (an MPI reduction that is not reproducible)",
                           (unsigned long long)m->step);
    return CLVAE_OK;
}

int clvae_dist_sum_losses(clvae_losses *l)
{
    if (clvae_dist_size() == 1) return CLVAE_OK;
    double v[3 + CLVAE_MAX_STOCH] = {l->recon, l->kl, l->neg_bound};
    memcpy(v + 3, l->kl_layer, sizeof l->kl_layer);
    int st = clvae_dist_sum_f64(v, 3 + CLVAE_MAX_STOCH);
    l->recon = v[0];
    l->kl = v[1];
    l->neg_bound = v[2];
    memcpy(l->kl_layer, v + 3, sizeof l->kl_layer);
    return st;
}
