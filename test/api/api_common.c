/* Shared scaffolding of the API tests against the CLI (see api_common.h). */
#include "api_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int api_env_open(api_env *env, const char *name, int rows)
{
    clvae_config cfg;
    memset(env, 0, sizeof *env);
    env->bin = getenv("CLVAE_BIN");
    env->src = getenv("CLVAE_SRC");
    env->tmp = getenv("CLVAE_TMP") ? getenv("CLVAE_TMP") : "/tmp";
    if (!env->bin || !env->src) {
        fprintf(stderr, "%s: CLVAE_BIN and CLVAE_SRC must be set\n", name);
        return 1;
    }
    clvae_config_defaults(&cfg);
    if (access(cfg.data.train, R_OK) != 0) {
        printf("SKIP: %s missing (Debian: dataset-fashion-mnist)\n", cfg.data.train);
        return 77;
    }
    int st = clvae_dataset_load(&env->ds, cfg.data.train, NULL, CLVAE_FORMAT_AUTO, rows);
    if (st || !env->ds.u8) {
        fprintf(stderr, "FAIL: loading %s: %s\n", cfg.data.train, clvae_last_error());
        if (!st) clvae_dataset_free(&env->ds);
        return 1;
    }
    env->x = (clvae_array){.data = env->ds.u8, .dtype = CLVAE_DTYPE_U8, .ndim = 2,
                           .shape = {(int64_t)env->ds.n, (int64_t)env->ds.dim}};
    return 0;
}

void api_env_close(api_env *env)
{
    clvae_dataset_free(&env->ds);
}

int api_train_cmd(char *cmd, size_t size, const api_env *env, const char *ini, int rows,
                  const char *dir, const char *const *sets, int n_sets)
{
    int n = snprintf(cmd, size, "'%s' train -c '%s/config/%s' --quiet "
                                "--set data.limit_train=%d --set data.limit_test=100 "
                                "--set output.dir='%s'", env->bin, env->src, ini, rows, dir);
    for (int i = 0; i < n_sets && n >= 0 && (size_t)n < size; i++)
        n += snprintf(cmd + n, size - n, " --set %s", sets[i]);
    return n;
}
