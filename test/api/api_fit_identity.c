/* clvae_vae_fit on arrays trains the same model as `clvae train` on the same rows with the same
 * config and seed: every tensor of the two checkpoints (parameters and optimizer moments) is
 * equal bit for bit (no tolerance: the same batches, noise and arithmetic on the reference
 * backend), on the first 600 Fashion-MNIST images for 2 epochs (12 steps of 100 rows). So is
 * the same run split into trainer calls, which keep the device, model, optimizer state and
 * batch scheduler between calls: 4 + 5 + 3 steps (stopping inside epochs), 1 + 1 epochs, 12
 * single steps, inference between calls, a second trainer on the same model, a trainer on
 * a model saved and loaded part-way, and a run cancelled by the progress callback then
 * continued. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_common.h"
#include "io/safetensors.h"

#define ROWS 600

static const char *sets[] = {"device.backend=ref", "model.encoder=64", "model.decoder=64",
                             "model.latent=4", "train.epochs=2", "train.batch=100",
                             "train.seed=7"};
#define N_SETS 7

static int run_cli(const api_env *env, const char *dir)
{
    char cmd[4096];
    int n = api_train_cmd(cmd, sizeof cmd, env, "default.ini", ROWS, dir, sets, N_SETS);
    snprintf(cmd + n, sizeof cmd - n, " > '%s.log' 2>&1", dir);
    return system(cmd);
}

/* Every tensor of a present in b with the same bytes; returns the number of differences. */
static int compare(const char *pa, const char *pb)
{
    clvae_st_file *a = NULL, *b = NULL;
    int bad = 0;
    if (clvae_st_open(pa, &a) || clvae_st_open(pb, &b)) {
        fprintf(stderr, "FAIL: cannot open the checkpoints: %s\n", clvae_last_error());
        clvae_st_close(a);
        return 1;
    }
    int n = clvae_st_count(a);
    if (n != clvae_st_count(b) || n < 4) {
        fprintf(stderr, "FAIL: %d tensors in %s, %d in %s\n", n, pa, clvae_st_count(b), pb);
        bad++;
    }
    for (int i = 0; i < n; i++) {
        const clvae_st_tensor *t = clvae_st_tensor_at(a, i), *u = clvae_st_find(b, t->name);
        if (!u || u->nbytes != t->nbytes || memcmp(u->data, t->data, t->nbytes)) {
            fprintf(stderr, "FAIL: tensor %s differs\n", t->name);
            bad++;
        }
    }
    const char *sa = clvae_st_meta(a, "step"), *sb = clvae_st_meta(b, "step");
    if (!sa || !sb || strcmp(sa, sb)) {
        fprintf(stderr, "FAIL: step %s vs %s\n", sa ? sa : "-", sb ? sb : "-");
        bad++;
    }
    printf("%d tensors compared, step %s, %d differences\n", n, sa ? sa : "-", bad);
    clvae_st_close(a);
    clvae_st_close(b);
    return bad;
}

/* Between trainer calls: encode and ELBO on the model being trained (they must not disturb
 * the training that follows). */
static int inference(clvae_vae *vae, const clvae_array *x)
{
    static float mu[ROWS * 4];
    double elbo;
    int st = clvae_vae_encode(vae, x, NULL, mu, NULL);
    return st ? st : clvae_vae_elbo(vae, x, NULL, &elbo);
}

static int cancel_next; /* the progress callback cancels the run at its next report */

static int on_progress(void *user, const clvae_progress_info *p)
{
    (void)user;
    (void)p;
    int c = cancel_next;
    cancel_next = 0;
    return c;
}

/* C: 2 epochs cancelled at their first progress report (CLVAE_ERR_INTERRUPTED, the model where
 * it stopped), then the steps left to 12. */
static int cancel_and_finish(clvae_vae *vae, clvae_trainer *tr)
{
    clvae_vae_info info;
    cancel_next = 1;
    int st = clvae_trainer_run(tr, 2, 0, NULL);
    if (st != CLVAE_ERR_INTERRUPTED) {
        fprintf(stderr, "FAIL: the cancelled run returned %d\n", st);
        return st ? st : CLVAE_ERR_INTERNAL;
    }
    if ((st = clvae_vae_get_info(vae, &info))) return st;
    printf("(cancelled at step %lld) ", (long long)info.steps);
    return info.steps < 12 ? clvae_trainer_run(tr, 0, 12 - info.steps, NULL) : CLVAE_OK;
}

/* Saves vae, frees it and loads the file as *vae (a new handle). */
static int reload(clvae_context *ctx, clvae_vae **vae, const char *tmp)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/api_fit_reload.safetensors", tmp);
    int st = clvae_vae_save(*vae, path);
    clvae_vae_free(*vae);
    *vae = NULL;
    return st ? st : clvae_vae_load(ctx, path, vae);
}

/* A fresh model trained by the trainer calls of `plan`, then compared with the CLI's
 * checkpoint. Plan tokens: sN = N more steps, eN = N more epochs, i = encode + ELBO, t = a new
 * trainer on the same model, L = save, load into a new handle and a new trainer, C = a run
 * cancelled by the progress callback, then the steps left to 12. */
static int split_run(clvae_context *ctx, const char *cfg_path, const clvae_array *x,
                     const char *plan, const char *cli_ckpt, const char *tmp)
{
    char path[1100];
    clvae_vae *vae = NULL;
    clvae_trainer *tr = NULL;
    clvae_fit_options opt = {.progress = on_progress};
    int st = clvae_vae_create(ctx, cfg_path, sets, N_SETS, &vae);
    if (!st) st = clvae_trainer_create(vae, x, NULL, &opt, &tr);
    for (const char *p = plan; *p && !st; p++) {
        char *end;
        long n = strtol(p + 1, &end, 10);
        if (*p == 's' || *p == 'e') {
            st = clvae_trainer_run(tr, *p == 'e' ? (int)n : 0, *p == 's' ? n : 0, NULL);
            p = end - 1;
        } else if (*p == 'i') {
            st = inference(vae, x);
        } else if (*p == 'C') {
            st = cancel_and_finish(vae, tr);
        } else if (*p == 't' || *p == 'L') {
            clvae_trainer_free(tr);
            tr = NULL;
            if (*p == 'L') st = reload(ctx, &vae, tmp);
            if (!st) st = clvae_trainer_create(vae, x, NULL, &opt, &tr);
        }
    }
    snprintf(path, sizeof path, "%s/api_fit_split.safetensors", tmp);
    if (!st) st = clvae_vae_save(vae, path);
    printf("trainer calls %-40s: ", plan);
    int bad = st ? 1 : compare(cli_ckpt, path);
    if (st) fprintf(stderr, "FAIL: the split run %s: %s\n", plan, clvae_last_error());
    clvae_trainer_free(tr);
    clvae_vae_free(vae);
    return bad;
}

int main(void)
{
    char dir[1024], cli_ckpt[1100], api_ckpt[1100], cfg_path[1100];
    api_env env;
    int rc = api_env_open(&env, "api_fit_identity", ROWS);
    if (rc) return rc;
    const char *src = env.src, *tmp = env.tmp;
    snprintf(dir, sizeof dir, "%s/api_fit_identity", tmp);
    snprintf(cli_ckpt, sizeof cli_ckpt, "%s/checkpoint.safetensors", dir);
    snprintf(api_ckpt, sizeof api_ckpt, "%s/api_fit_identity.safetensors", tmp);
    snprintf(cfg_path, sizeof cfg_path, "%s/config/default.ini", src);
    rc = run_cli(&env, dir);
    if (rc != 0) {
        fprintf(stderr, "FAIL: clvae train exited with %d (log: %s.log)\n", rc, dir);
        api_env_close(&env);
        return 1;
    }
    clvae_context *ctx = NULL;
    clvae_vae *vae = NULL;
    int st = clvae_context_create(NULL, &ctx);
    if (!st) st = clvae_vae_create(ctx, cfg_path, sets, N_SETS, &vae);
    if (!st) st = clvae_vae_fit(vae, &env.x, NULL, NULL, NULL);
    if (!st) st = clvae_vae_save(vae, api_ckpt);
    if (st) fprintf(stderr, "FAIL: the API's fit: %s\n", clvae_last_error());
    int bad = st ? 1 : compare(cli_ckpt, api_ckpt);
    /* the trainer keeps everything in memory between calls: no run directory, no temporary
     * checkpoint (TMPDIR unusable), except to continue a loaded model (L) */
    const char *plans[] = {"s4 s5 s3", "e1 e1", "s1 s1 s1 s1 s1 s1 s1 s1 s1 s1 s1 s1",
                           "s4 i s5 e1", "e1 i s6", "s5 t s7", "s5 L s7", "C", "s2 C"};
    for (int i = 0; i < (int)(sizeof plans / sizeof *plans); i++) {
        setenv("TMPDIR", strchr(plans[i], 'L') ? tmp : "/nonexistent/clvae", 1);
        bad += split_run(ctx, cfg_path, &env.x, plans[i], cli_ckpt, tmp);
    }
    setenv("TMPDIR", tmp, 1);
    clvae_vae_free(vae);
    clvae_context_free(ctx);
    api_env_close(&env);
    printf("api_fit_identity: %s\n", bad ? "FAILED" : "passed");
    return bad ? 1 : 0;
}
