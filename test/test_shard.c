/* Data-parallel shards without MPI: a batch of G rows trained as shards of b rows
 * (clvae_model_train_grads with a row offset) draws exactly the eps of the whole batch, and the
 * shards' gradients and loss sums add up to the whole batch's. That is what makes N ranks of
 * G/N rows train the model of one rank of G rows (test/cli_mpi.sh runs it under mpirun).
 * Models: the classic VAE (1 sample), the two-layer IWAE (K = 5, a layer above the first one
 * samples per block) and the two-layer conditional VAE (2 samples), on the reference backend and
 * every OpenCL platform present; an even split (2 x 32) and an uneven one (20 + 44, an epoch's
 * last batch). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "clvae/data.h"
#include "model/vae.h"
#include "testutil.h"
#include "train/eval.h"

#define G 64
/* Shard gradients are the same per-row terms summed in another order (two partial GEMM/column
 * sums added instead of one): float32 rounding of sums over 64 rows, measured <= 1.2e-6 of the
 * largest gradient entry on the reference, PoCL and rusticl. Bound: 1e-5 of the largest entry. */
#define GRAD_TOL 1e-5
/* Loss sums: float accumulators of up to 64 terms ~ 250 nats each, same terms, another order. */
#define LOSS_TOL 1e-5

static const char *DATA = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
static const char *LABELS = "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz";

typedef struct run {
    float *grads;                       /* (n_floats) summed over the shards */
    float *eps[CLVAE_MAX_STOCH];        /* (S*G, R_l) in the whole batch's row order */
    double loss;                        /* recon + kl sums */
} run;

static void config_for(clvae_config *c, int kind)
{
    clvae_config_defaults(c);
    c->model.encoder[0] = (clvae_widths){.n = 1, .w = {64}};
    c->model.decoder[0] = (clvae_widths){.n = 1, .w = {64}};
    c->train.batch = G;
    if (kind == 0) return;
    clvae_config_set(c, "model.latent=16,8");
    clvae_config_set(c, "model.encoder=64 | 32");
    clvae_config_set(c, "model.decoder=32 | 64");
    c->model.activation = CLVAE_ACT_TANH;
    c->train.objective = kind == 1 ? CLVAE_OBJ_IWAE : CLVAE_OBJ_ELBO;
    c->train.samples = kind == 1 ? 5 : 2;
    c->model.conditional = kind == 2;
    c->model.classes = kind == 2 ? 10 : 0;
    if (kind == 1) c->data.binarize = CLVAE_BIN_DYNAMIC; /* a shard's Bernoulli draws too */
    if (kind < 3) return;
    /* Gumbel-softmax top layer 8x8 (R = 64), relaxed below a Gaussian layer / hard alone */
    c->model.n_latent_type = 2;
    c->model.latent_type[0] = CLVAE_LATENT_GAUSSIAN;
    c->model.latent_type[1] = CLVAE_LATENT_CATEGORICAL;
    c->model.categorical[0] = c->model.categorical[1] = 8;
    c->model.hard = kind == 4;
    c->train.tau = 0.9, c->train.tau_min = 0.5, c->train.tau_decay = 0.1;
    if (kind == 3) return;
    clvae_config_set(c, "model.latent=1");
    clvae_config_set(c, "model.encoder=64");
    clvae_config_set(c, "model.decoder=64");
    c->model.n_latent_type = 1;
    c->model.latent_type[0] = CLVAE_LATENT_CATEGORICAL;
    c->train.samples = 1;
}

/* Trains the rows [0, G) as shards of sizes[0..n) with two steps (the second after an optimizer
 * step, so a step counter != 0 is covered) and keeps the second step's gradients and eps. */
static int run_shards(const clvae_config *c, const clvae_dataset *ds, clvae_backend *be,
                      const int *sizes, int n, run *out)
{
    clvae_model m;
    float *stage = malloc((size_t)G * ds->dim * sizeof(float)), *g = NULL, *e = NULL;
    int st = stage ? clvae_model_layout(&m, c, (int)ds->dim) : CLVAE_ERR_NOMEM;
    if (!st) st = clvae_model_init(&m, be, G, c->train.samples, true);
    if (st) goto done;
    int S = m.samples;
    g = malloc(m.n_floats * sizeof(float));
    e = malloc((size_t)S * G * 64 * sizeof(float));
    out->grads = calloc(m.n_floats, sizeof(float));
    for (int l = 0; l < m.T; l++) out->eps[l] = calloc((size_t)S * G * m.lat[l].R, sizeof(float));
    if (!g || !e || !out->grads) { st = CLVAE_ERR_NOMEM; goto done; }
    /* step 1 on the whole batch, then the sharded step 2 */
    if ((st = clvae_upload_range(&m, ds, 0, G, stage))) goto done;
    if ((st = clvae_model_train_step(&m, G))) goto done;
    double recon, kl;
    if ((st = clvae_model_take_losses(&m, &recon, &kl))) goto done;
    out->loss = 0;
    for (int k = 0, row0 = 0; k < n; row0 += sizes[k++]) {
        int b = sizes[k];
        if ((st = clvae_upload_range(&m, ds, (size_t)row0, b, stage))) goto done;
        if ((st = clvae_model_train_grads(&m, b, row0, G))) goto done;
        if ((st = clvae_model_get_grads(&m, g))) goto done;
        for (size_t i = 0; i < m.n_floats; i++) out->grads[i] += g[i];
        if ((st = clvae_model_take_losses(&m, &recon, &kl))) goto done;
        out->loss += recon + kl;
        for (int l = 0; l < m.T; l++) {
            int R = m.lat[l].R;
            size_t bytes = (size_t)S * b * R * sizeof(float);
            if ((st = be->ops->download(be->ctx, m.lat[l].eps, e, bytes))) goto done;
            for (int s = 0; s < S; s++) /* local row s*b + i is row s*G + row0 + i */
                memcpy(out->eps[l] + ((size_t)s * G + row0) * R, e + (size_t)s * b * R,
                       (size_t)b * R * sizeof(float));
        }
    }
done:
    if (stage) clvae_model_free(&m);
    free(stage);
    free(g);
    free(e);
    return st;
}

static void run_free(run *r)
{
    free(r->grads);
    for (int l = 0; l < CLVAE_MAX_STOCH; l++) free(r->eps[l]);
    memset(r, 0, sizeof *r);
}

static void check_backend(clvae_backend *be, const clvae_dataset *ds, const clvae_dataset *dsl)
{
    static const char *kinds[] = {"VAE", "IWAE K=5 2l binarized", "cVAE S=2 2 layers",
                                  "gauss|gumbel 8x8 S=2", "gumbel 8x8 hard"};
    static const int whole[] = {G}, even[] = {G / 2, G / 2}, uneven[] = {20, 44};
    const char *dev = be->ops->device_name(be->ctx);
    for (int kind = 0; kind < 5; kind++) {
        clvae_config c;
        config_for(&c, kind);
        const clvae_dataset *d = kind == 2 ? dsl : ds;
        clvae_model lay;
        CHECK(clvae_model_layout(&lay, &c, (int)d->dim) == CLVAE_OK, "%s", clvae_last_error());
        run ref = {0}, sh[2] = {{0}};
        const int *split[2] = {even, uneven};
        int st = run_shards(&c, d, be, whole, 1, &ref);
        CHECK(st == CLVAE_OK, "%s %s whole batch: %s", dev, kinds[kind], clvae_last_error());
        for (int v = 0; v < 2 && !st; v++) {
            st = run_shards(&c, d, be, split[v], 2, &sh[v]);
            CHECK(st == CLVAE_OK, "%s %s shards: %s", dev, kinds[kind], clvae_last_error());
            if (st) break;
            size_t eps_n = 0, eps_diff = 0;
            for (int l = 0; l < lay.T; l++) {
                size_t n = (size_t)c.train.samples * G * lay.lat[l].R;
                eps_n += n;
                for (size_t i = 0; i < n; i++) eps_diff += sh[v].eps[l][i] != ref.eps[l][i];
            }
            double gmax = 0, gdiff = 0;
            for (size_t i = 0; i < lay.n_floats; i++) {
                gmax = fmax(gmax, fabs(ref.grads[i]));
                gdiff = fmax(gdiff, fabs(sh[v].grads[i] - ref.grads[i]));
            }
            double lrel = fabs(sh[v].loss - ref.loss) / fabs(ref.loss);
            printf("%-28.28s %-18s %s: eps %zu/%zu differ, grads max diff %.3g of max %.3g, "
                   "loss rel %.3g\n", dev, kinds[kind], v ? "20+44" : "32+32", eps_diff, eps_n,
                   gdiff / gmax, gmax, lrel);
            CHECK(eps_diff == 0, "%s %s: shards drew other eps than the whole batch", dev,
                  kinds[kind]);
            CHECK(gdiff <= GRAD_TOL * gmax, "%s %s: shard gradients sum to %g off (max %g)", dev,
                  kinds[kind], gdiff, gmax);
            CHECK(lrel <= LOSS_TOL, "%s %s: shard losses sum %g vs %g", dev, kinds[kind],
                  sh[v].loss, ref.loss);
        }
        run_free(&ref);
        run_free(&sh[0]);
        run_free(&sh[1]);
    }
}

int main(void)
{
    clvae_dataset ds, dsl;
    if (clvae_dataset_load(&ds, DATA, NULL, CLVAE_FORMAT_AUTO, G) != CLVAE_OK ||
        clvae_dataset_load(&dsl, DATA, LABELS, CLVAE_FORMAT_AUTO, G) != CLVAE_OK) {
        printf("SKIP: %s\n", clvae_last_error());
        return TU_SKIP;
    }
    clvae_backend be;
    clvae_ref_backend_create(&be);
    check_backend(&be, &ds, &dsl);
    clvae_backend_free(&be);
#ifdef CLVAE_HAVE_OPENCL
    setenv("RUSTICL_ENABLE", "swrast", 1);
    static const char *platforms[] = {"portable", "rusticl"};
    for (int p = 0; p < 2; p++) {
        clvae_config c;
        clvae_config_defaults(&c);
        c.device.backend = CLVAE_BACKEND_OPENCL;
        snprintf(c.device.platform, sizeof c.device.platform, "%s", platforms[p]);
        if (clvae_opencl_backend_create(&c, &be) != CLVAE_OK) {
            printf("SKIP platform %s: %s\n", platforms[p], clvae_last_error());
            continue;
        }
        check_backend(&be, &ds, &dsl);
        clvae_backend_free(&be);
    }
#endif
    clvae_dataset_free(&ds);
    clvae_dataset_free(&dsl);
    return tu_finish("test_shard");
}
