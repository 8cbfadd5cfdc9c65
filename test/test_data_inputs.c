/* Inputs as users bring them: which label files a config names (labels follow the data). */
#include <stdio.h>
#include <string.h>

#include "clvae/config.h"
#include "clvae/data.h"
#include "testutil.h"

static int same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void test_labels_follow_data(void)
{
    clvae_config c;
    clvae_config_defaults(&c);
    CHECK(same(clvae_data_labels_path(&c, false), CLVAE_BUILTIN_TRAIN_LABELS), "built-in train");
    CHECK(same(clvae_data_labels_path(&c, true), CLVAE_BUILTIN_TEST_LABELS), "built-in test");
    /* own images, labels left at auto: no labels for that set only */
    snprintf(c.data.train, sizeof c.data.train, "my_train.npy");
    CHECK(clvae_data_labels_path(&c, false) == NULL, "own train data gets no labels");
    CHECK(same(clvae_data_labels_path(&c, true), CLVAE_BUILTIN_TEST_LABELS), "test unchanged");
    snprintf(c.data.test, sizeof c.data.test, "my_test.npy");
    CHECK(clvae_data_labels_path(&c, true) == NULL, "own test data gets no labels");
    /* a given path is used as given (and checked by the loader); "" is none */
    snprintf(c.data.train_labels, sizeof c.data.train_labels, "my_labels.npy");
    CHECK(same(clvae_data_labels_path(&c, false), "my_labels.npy"), "explicit labels");
    clvae_config_defaults(&c);
    c.data.test_labels[0] = '\0';
    CHECK(clvae_data_labels_path(&c, true) == NULL, "\"\" = none, also with built-in data");
}

int main(void)
{
    test_labels_follow_data();
    return tu_finish("test_data_inputs");
}
