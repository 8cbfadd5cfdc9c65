/* VAE forward, backward and optimizer step as sequences of backend ops (see vae.h). */
#include "core/philox.h"
#include "model/vae.h"

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        int st_ = (expr);                                                                          \
        if (st_) return st_;                                                                       \
    } while (0)

static clvae_view pv(const clvae_model *m, size_t off)
{
    return (clvae_view){m->p_buf, off * sizeof(float)};
}

static clvae_view gv(const clvae_model *m, size_t off)
{
    return (clvae_view){m->g_buf, off * sizeof(float)};
}

/* y (rows, out) = act(x (rows, in) W^T + b) */
static int layer_fwd(clvae_model *m, const clvae_layer *l, int rows, clvae_view x, clvae_view y)
{
    const clvae_backend_ops *o = m->be->ops;
    void *c = m->be->ctx;
    TRY(o->gemm(c, false, true, rows, l->out, l->in, 1.0f, x, l->in, pv(m, l->w), l->in, 0.0f, y,
                l->out));
    return o->bias_act(c, l->act, rows, l->out, pv(m, l->b), y);
}

/* Given dy (rows, out) of the pre-activation, accumulates dW (out, in) = dy^T x, db = colsum
 * dy, and when dx.buf is set writes dx (rows, in) = dy W. */
static int layer_bwd(clvae_model *m, const clvae_layer *l, int rows, clvae_view x, clvae_view dy,
                     clvae_view dx)
{
    const clvae_backend_ops *o = m->be->ops;
    void *c = m->be->ctx;
    TRY(o->gemm(c, true, false, l->out, l->in, rows, 1.0f, dy, l->out, x, l->in, 0.0f,
                gv(m, l->w), l->in));
    TRY(o->col_sum(c, rows, l->out, dy, gv(m, l->b)));
    if (!dx.buf) return CLVAE_OK;
    return o->gemm(c, false, false, rows, l->in, l->out, 1.0f, dy, l->out, pv(m, l->w), l->in,
                   0.0f, dx, l->in);
}

static int encode(clvae_model *m, int b)
{
    clvae_view h = m->x;
    for (int i = 0; i < m->n_enc; i++) {
        TRY(layer_fwd(m, &m->enc[i], b, h, m->enc_h[i]));
        h = m->enc_h[i];
    }
    return layer_fwd(m, &m->heads, b, h, m->hd);
}

static int decode(clvae_model *m, int rows)
{
    clvae_view h = m->z;
    for (int i = 0; i < m->n_dec; i++) {
        TRY(layer_fwd(m, &m->dec[i], rows, h, m->dec_h[i]));
        h = m->dec_h[i];
    }
    return layer_fwd(m, &m->out, rows, h, m->o);
}

int clvae_model_decode(clvae_model *m, int rows)
{
    return decode(m, rows);
}

static int reparam(clvae_model *m, int b, int s, uint64_t noise_step, uint32_t stream, bool given)
{
    clvae_reparam_args a = {.batch = b, .samples = s, .latent = m->latent, .seed = m->seed,
                            .step = noise_step, .stream = stream, .eps_given = given,
                            .heads = m->hd, .z = m->z, .eps = m->eps, .kl = m->kl};
    return m->be->ops->reparam(m->be->ctx, &a);
}

static int likelihood(clvae_model *m, int b, int s, bool grad)
{
    clvae_lik_args a = {.kind = m->likelihood, .rows = s * b, .batch = b, .dim = m->dim,
                        .sigma_x = m->sigma_x, .grad_scale = 1.0f / (float)(s * b),
                        .out = m->o, .x = m->x, .loss = m->loss};
    if (grad) a.dout = m->dout;
    return m->be->ops->likelihood(m->be->ctx, &a);
}

int clvae_model_forward(clvae_model *m, int b, int samples, uint64_t noise_step, uint32_t stream,
                        bool deterministic)
{
    if (deterministic) TRY(m->be->ops->fill(m->be->ctx, m->eps, (size_t)samples * b * m->latent, 0));
    TRY(encode(m, b));
    TRY(reparam(m, b, samples, noise_step, stream, deterministic));
    TRY(decode(m, samples * b));
    return likelihood(m, b, samples, false);
}

/* Backward through the decoder: from dout to dz (written into m->d1 or m->d2; returned). */
static int decoder_bwd(clvae_model *m, int rows, clvae_view *dz)
{
    const clvae_backend_ops *o = m->be->ops;
    clvae_view dy = m->dout, spare[2] = {m->d1, m->d2};
    int k = 0;
    for (int i = m->n_dec; i >= 0; i--) {
        const clvae_layer *l = i == m->n_dec ? &m->out : &m->dec[i];
        clvae_view x = i == 0 ? m->z : m->dec_h[i - 1];
        clvae_view dx = spare[k];
        TRY(layer_bwd(m, l, rows, x, dy, dx));
        if (i > 0) TRY(o->act_bwd(m->be->ctx, m->dec[i - 1].act, rows, l->in, x, dx));
        dy = dx;
        k ^= 1;
    }
    *dz = dy;
    return CLVAE_OK;
}

static int encoder_bwd(clvae_model *m, int b)
{
    const clvae_backend_ops *o = m->be->ops;
    clvae_view dy = m->dhd, spare[2] = {m->d1, m->d2}, none = {0};
    int k = 0;
    for (int i = m->n_enc; i >= 0; i--) {
        const clvae_layer *l = i == m->n_enc ? &m->heads : &m->enc[i];
        clvae_view x = i == 0 ? m->x : m->enc_h[i - 1];
        clvae_view dx = i == 0 ? none : spare[k];
        TRY(layer_bwd(m, l, b, x, dy, dx));
        if (i > 0) TRY(o->act_bwd(m->be->ctx, m->enc[i - 1].act, b, l->in, x, dx));
        dy = dx;
        k ^= 1;
    }
    return CLVAE_OK;
}

int clvae_model_forward_backward(clvae_model *m, int b, uint64_t noise_step, uint32_t stream)
{
    const clvae_backend_ops *o = m->be->ops;
    int s = m->samples;
    clvae_view dz;
    TRY(encode(m, b));
    TRY(reparam(m, b, s, noise_step, stream, false));
    TRY(decode(m, s * b));
    TRY(likelihood(m, b, s, true));
    TRY(o->sum_add(m->be->ctx, (size_t)s * b, m->loss, 1.0f / s, m->acc));
    TRY(o->sum_add(m->be->ctx, (size_t)b, m->kl, 1.0f, clvae_view_at(m->acc, 1)));
    TRY(decoder_bwd(m, s * b, &dz));
    clvae_reparam_bwd_args ra = {.batch = b, .samples = s, .latent = m->latent,
                                 .kl_weight = m->beta / (float)b, .heads = m->hd, .eps = m->eps,
                                 .dz = dz, .dheads = m->dhd};
    TRY(o->reparam_bwd(m->be->ctx, &ra));
    return encoder_bwd(m, b);
}

int clvae_model_train_step(clvae_model *m, int b)
{
    TRY(clvae_model_forward_backward(m, b, m->step, CLVAE_STREAM_EPS_TRAIN));
    m->step++;
    clvae_opt_args a = {.kind = m->opt, .n = m->n_floats, .lr = m->lr, .beta1 = 0.9f,
                        .beta2 = 0.999f, .eps = 1e-8f, .momentum = m->momentum, .t = m->step,
                        .params = {m->p_buf, 0}, .grads = {m->g_buf, 0}, .m = {m->m_buf, 0},
                        .v = {m->v_buf, 0}};
    return m->be->ops->optimizer(m->be->ctx, &a);
}

int clvae_model_take_losses(clvae_model *m, double *recon_sum, double *kl_sum)
{
    float acc[4];
    TRY(m->be->ops->download(m->be->ctx, m->acc, acc, sizeof acc));
    TRY(m->be->ops->fill(m->be->ctx, m->acc, 4, 0.0f));
    *recon_sum = acc[0];
    *kl_sum = acc[1];
    return CLVAE_OK;
}
