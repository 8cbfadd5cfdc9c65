/* Scaffolding shared by the API tests that hold the library against the CLI on the first rows
 * of Fashion-MNIST (api_fit_identity.c, api_categorical.c): the environment ctest sets, the
 * rows as a clvae_array, and the `clvae train` command line. */
#ifndef CLVAE_API_COMMON_H
#define CLVAE_API_COMMON_H

#include <stddef.h>

#include "clvae/clvae.h"
#include "clvae/data.h"

typedef struct api_env {
    const char *bin, *src, *tmp; /* CLVAE_BIN, CLVAE_SRC, CLVAE_TMP (default /tmp) */
    clvae_dataset ds;            /* the first rows of the default training set */
    clvae_array x;               /* ds's images, (n, D) uint8 */
} api_env;

/* Fills *env for the test `name` with the first `rows` images: 0, or the exit code after its
 * message: 1 when CLVAE_BIN or CLVAE_SRC is unset or the images do not load, 77 ("SKIP: ...")
 * when the data set is not installed. */
int api_env_open(api_env *env, const char *name, int rows);
void api_env_close(api_env *env);

/* Writes to cmd (size bytes) "'<bin>' train -c '<src>/config/<ini>' --quiet --set
 * data.limit_train=<rows> --set data.limit_test=100 --set output.dir='<dir>'" and " --set <s>"
 * for each of the n_sets sets; returns the length written. */
int api_train_cmd(char *cmd, size_t size, const api_env *env, const char *ini, int rows,
                  const char *dir, const char *const *sets, int n_sets);

#endif
