/* Config: contract defaults, config/default.ini, error messages (file:line, key), --set,
 * round-trip. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clvae/config.h"
#include "clvae/status.h"
#include "testutil.h"

static const char *write_ini(const char *leaf, const char *text)
{
    const char *path = tu_tmp_path(leaf);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
    return path;
}

static int has(const char *s, const char *part)
{
    return strstr(s, part) != NULL;
}

static void test_defaults(void)
{
    clvae_config c;
    clvae_config_defaults(&c);
    CHECK(c.device.backend == CLVAE_BACKEND_AUTO && c.device.type == CLVAE_DEVTYPE_ANY, "device");
    CHECK(c.device.autotune && !c.device.platform[0] && !c.device.device[0] && !c.device.cache[0],
          "device strings/autotune");
    CHECK(strcmp(c.data.train, "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") == 0,
          "train path %s", c.data.train);
    CHECK(strcmp(c.data.test_labels, "auto") == 0 && strcmp(c.data.train_labels, "auto") == 0,
          "labels %s %s", c.data.train_labels, c.data.test_labels);
    CHECK(c.data.format == CLVAE_FORMAT_AUTO && c.data.residency == CLVAE_RESIDENCY_AUTO, "data");
    CHECK(c.data.overlap && c.data.limit_train == 0 && c.data.limit_test == 0, "data flags");
    CHECK(c.model.n_encoder == 1 && c.model.encoder[0].n == 1 && c.model.encoder[0].w[0] == 400, "encoder");
    CHECK(c.model.n_decoder == 1 && c.model.decoder[0].n == 1 && c.model.decoder[0].w[0] == 400, "decoder");
    CHECK(c.model.n_latent == 1 && c.model.latent[0] == 20 && c.model.activation == CLVAE_ACT_RELU, "latent/activation");
    CHECK(c.model.likelihood == CLVAE_LIK_BERNOULLI && c.model.sigma_x == 1.0 &&
              c.model.beta == 1.0,
          "likelihood");
    CHECK(c.model.init == CLVAE_INIT_XAVIER, "init");
    CHECK(c.train.epochs == 10 && c.train.batch == 128 && c.train.optimizer == CLVAE_OPT_ADAM,
          "train");
    CHECK(c.train.lr == 1e-3 && c.train.momentum == 0.9 && c.train.seed == 1 &&
              c.train.samples == 1,
          "train numbers");
    CHECK(c.train.max_steps == 0 && c.train.log_every == 50, "train extensions");
    CHECK(strcmp(c.output.dir, "runs/default") == 0 && c.output.checkpoint_every == 1, "output");
    CHECK(clvae_config_validate(&c) == CLVAE_OK, "defaults validate: %s", clvae_last_error());
    CHECK(strcmp(clvae_act_name(CLVAE_ACT_SOFTPLUS), "softplus") == 0, "act name");
    CHECK(strcmp(clvae_likelihood_name(CLVAE_LIK_GAUSSIAN_LEARNED), "gaussian-learned") == 0,
          "likelihood name");
}

static void test_default_ini(void)
{
    char path[4096];
    const char *src = getenv("CLVAE_SRC");
    snprintf(path, sizeof path, "%s/config/default.ini", src && *src ? src : "..");
    clvae_config d, c;
    clvae_config_defaults(&d);
    clvae_config_defaults(&c);
    int rc = clvae_config_load(&c, path);
    CHECK(rc == CLVAE_OK, "load %s: %s", path, clvae_last_error());
    CHECK(memcmp(&c, &d, sizeof c) == 0, "config/default.ini matches the built-in defaults");
    /* loading on top of other values resets them to the file's */
    clvae_config_defaults(&c);
    c.model.latent[0] = 7;
    c.model.n_encoder = 0;
    rc = clvae_config_load(&c, path);
    CHECK(rc == CLVAE_OK && c.model.latent[0] == 20 && c.model.n_encoder == 1, "load on top");
}

/* Loads `text` from a file and expects CLVAE_ERR_CONFIG with all of `parts` in the message. */
static void expect_load_error(const char *text, int line, const char *part1, const char *part2)
{
    const char *path = write_ini("test_config_bad.ini", text);
    char where[4200];
    snprintf(where, sizeof where, "%s:%d:", path, line);
    clvae_config c, before;
    clvae_config_defaults(&c);
    before = c;
    int rc = clvae_config_load(&c, path);
    const char *msg = clvae_last_error();
    CHECK(rc == CLVAE_ERR_CONFIG, "rc %d for %s", rc, text);
    CHECK(has(msg, where), "message names %s: %s", where, msg);
    CHECK(has(msg, part1), "message names '%s': %s", part1, msg);
    CHECK(!part2 || has(msg, part2), "message names '%s': %s", part2, msg);
    CHECK(!strchr(msg, '\n'), "one-line message: %s", msg);
    CHECK(memcmp(&c, &before, sizeof c) == 0, "a failed load changes nothing");
}

static void test_load_errors(void)
{
    expect_load_error("[model]\nlatent = 32\n\nlatnet = 3\n", 4, "[model] latnet: unknown key",
                      "valid keys in [model]: encoder, decoder, latent, activation");
    expect_load_error("; hi\n[modle]\nlatent = 3\n", 2, "[modle]", "valid sections: device, data");
    expect_load_error("[model]\nactivation = relux\n", 2, "relux", "relu, tanh, softplus");
    expect_load_error("[model]\nlikelihood = poisson\n", 2, "likelihood", "gaussian-learned");
    expect_load_error("[model]\nlatent = 0\n", 2, "latent", "comma list of 1 to 4 sizes");
    /* the model family's keys (issue 9) */
    expect_load_error("[model]\nlatent = \"\"\n", 2, "latent", "1 to 4 sizes");
    expect_load_error("[model]\nlatent = 100,,50\n", 2, "latent", "[1, 65536]");
    expect_load_error("[model]\nlatent = 100,-5\n", 2, "latent", "[1, 65536]");
    expect_load_error("[model]\nlatent = 5,4,3,2,1\n", 2, "latent", "1 to 4 sizes");
    expect_load_error("[model]\nencoder = 200 | 100 | 50 | 20 | 10\n", 2, "encoder",
                      "1 to 4 groups separated by |");
    expect_load_error("[model]\nencoder = 200,200 | 100,x\n", 2, "encoder", "e.g. 200,200 | 100,100");
    expect_load_error("[model]\ndecoder = 0 | 200\n", 2, "decoder", "[1, 65536]");
    expect_load_error("[train]\nobjective = iwa\n", 2, "objective", "elbo, iwae");
    expect_load_error("[data]\nbinarize = yes\n", 2, "binarize", "none, dynamic, fixed");
    expect_load_error("[model]\nbeta_warmup = -1\n", 2, "beta_warmup", ">= 0");
    expect_load_error("[train]\nbatch = abc\n", 2, "batch = abc", "integer >= 1");
    expect_load_error("[train]\nbatch = 12x\n", 2, "batch", "integer");
    expect_load_error("[train]\nlr = 0\n", 2, "lr", "> 0");
    expect_load_error("[train]\nlr = nan\n", 2, "lr", "number");
    expect_load_error("[train]\nmomentum = 1\n", 2, "momentum", "[0, 1)");
    expect_load_error("[train]\nepochs = -1\n", 2, "epochs", ">= 0");
    expect_load_error("[train]\nsamples = 0\n", 2, "samples", ">= 1");
    expect_load_error("[train]\nlog_every = 0\n", 2, "log_every", ">= 1");
    expect_load_error("[train]\nseed = -1\n", 2, "seed", "unsigned");
    expect_load_error("[model]\nsigma_x = 0\n", 2, "sigma_x", "> 0");
    expect_load_error("[model]\nbeta = -0.5\n", 2, "beta", ">= 0");
    expect_load_error("[output]\ncheckpoint_every = -2\n", 2, "checkpoint_every", ">= 0");
    expect_load_error("[model]\nencoder = 0\n", 2, "encoder", "65536");
    expect_load_error("[model]\nencoder = 400,,200\n", 2, "encoder", "comma list");
    expect_load_error("[model]\ndecoder = 1,2,3,4,5,6,7,8,9\n", 2, "decoder", "at most 8");
    expect_load_error("[data]\noverlap = maybe\n", 2, "overlap", "true or false");
    expect_load_error("[data]\nformat = csv\n", 2, "format", "auto, idx, npy");
    expect_load_error("[device]\nautotune = always\n", 2, "autotune", "first-use");
    expect_load_error("[device]\nbackend = cuda\n", 2, "backend", "opencl");
    expect_load_error("latent = 3\n", 1, "latent", "outside any section");
    expect_load_error("[model]\nlatent 3\n", 2, "cannot parse", NULL);
    expect_load_error("[model]\nlatent = 3\n[train]\nbatch = 0\nfoo = 1\n", 4, "batch", NULL);

    clvae_config c;
    clvae_config_defaults(&c);
    const char *missing = tu_tmp_path("no_such_config.ini");
    CHECK(clvae_config_load(&c, missing) == CLVAE_ERR_CONFIG, "missing file");
    CHECK(has(clvae_last_error(), missing), "missing file named: %s", clvae_last_error());
}

static void test_load_values(void)
{
    const char *path = write_ini("test_config_vals.ini",
                                 "# comment\n[model]\nencoder = 512, 256 ; two layers\n"
                                 "decoder = \"\"\nlatent=32\nactivation = TANH\n"
                                 "[data]\noverlap = off\ntrain_labels =\nlimit_train = 100\n"
                                 "[device]\nautotune = off\ntype = gpu\n"
                                 "[train]\nseed = 18446744073709551615\nlr = 3e-4\n");
    clvae_config c;
    clvae_config_defaults(&c);
    int rc = clvae_config_load(&c, path);
    CHECK(rc == CLVAE_OK, "load: %s", clvae_last_error());
    CHECK(c.model.n_encoder == 1 && c.model.encoder[0].n == 2 && c.model.encoder[0].w[0] == 512 &&
              c.model.encoder[0].w[1] == 256,
          "encoder list");
    CHECK(c.model.n_decoder == 1 && c.model.decoder[0].n == 0, "empty decoder list");
    CHECK(c.model.latent[0] == 32 && c.model.activation == CLVAE_ACT_TANH, "latent/activation");
    CHECK(!c.data.overlap && c.data.train_labels[0] == '\0' && c.data.limit_train == 100, "data");
    CHECK(!c.device.autotune && c.device.type == CLVAE_DEVTYPE_GPU, "device");
    CHECK(c.train.seed == 18446744073709551615ull && c.train.lr == 3e-4, "seed/lr");
}

static void test_set(void)
{
    clvae_config c;
    clvae_config_defaults(&c);
    CHECK(clvae_config_set(&c, "model.latent=32") == CLVAE_OK && c.model.latent[0] == 32,
          "set latent");
    CHECK(clvae_config_set(&c, "model.encoder=512,256") == CLVAE_OK && c.model.n_encoder == 1 &&
              c.model.encoder[0].w[1] == 256,
          "set encoder");
    CHECK(clvae_config_set(&c, "train.optimizer = sgd") == CLVAE_OK &&
              c.train.optimizer == CLVAE_OPT_SGD,
          "set with spaces");
    CHECK(clvae_config_set(&c, "data.train=/a/b=c.npy") == CLVAE_OK &&
              strcmp(c.data.train, "/a/b=c.npy") == 0,
          "value containing '='");
    CHECK(clvae_config_set(&c, "model.decoder=") == CLVAE_OK && c.model.decoder[0].n == 0,
          "empty list");

    CHECK(clvae_config_set(&c, "model.latent=0") == CLVAE_ERR_CONFIG, "latent=0");
    CHECK(strcmp(clvae_last_error(), "--set model.latent=0: latent must be a comma list of 1 to 4 sizes, each an integer in [1, 65536]") == 0,
          "message: %s", clvae_last_error());
    CHECK(c.model.latent[0] == 32, "failed set changes nothing");
    CHECK(clvae_config_set(&c, "model.latnet=3") == CLVAE_ERR_CONFIG, "typo key");
    CHECK(has(clvae_last_error(), "--set model.latnet=3") && has(clvae_last_error(), "latent"),
          "message: %s", clvae_last_error());
    CHECK(clvae_config_set(&c, "modle.latent=3") == CLVAE_ERR_CONFIG, "typo section");
    CHECK(has(clvae_last_error(), "modle") && has(clvae_last_error(), "model"), "message: %s",
          clvae_last_error());
    CHECK(clvae_config_set(&c, "latent=3") == CLVAE_ERR_CONFIG, "no section");
    CHECK(has(clvae_last_error(), "SECTION.KEY=VALUE"), "message: %s", clvae_last_error());
    CHECK(clvae_config_set(&c, "model.latent") == CLVAE_ERR_CONFIG, "no value");
    CHECK(clvae_config_set(&c, "train.lr=fast") == CLVAE_ERR_CONFIG, "lr not a number");
    CHECK(has(clvae_last_error(), "--set train.lr=fast") && has(clvae_last_error(), "> 0"),
          "message: %s", clvae_last_error());
    CHECK(clvae_config_set(&c, "model.init=lecun") == CLVAE_ERR_CONFIG, "bad init");
    CHECK(has(clvae_last_error(), "xavier, he"), "message: %s", clvae_last_error());
}

static void test_validate(void)
{
    clvae_config c;
    clvae_config_defaults(&c);
    c.model.n_latent = 0;
    CHECK(clvae_config_validate(&c) == CLVAE_ERR_CONFIG, "latent 0 invalid");
    CHECK(has(clvae_last_error(), "latent"), "message: %s", clvae_last_error());
    clvae_config_defaults(&c);
    c.model.activation = (clvae_act)42;
    CHECK(clvae_config_validate(&c) == CLVAE_ERR_CONFIG, "enum out of range invalid");
    clvae_config_defaults(&c);
    c.model.decoder[0].n = CLVAE_MAX_LAYERS + 1;
    CHECK(clvae_config_validate(&c) == CLVAE_ERR_CONFIG, "too many layers invalid");
}

/* The per-layer lists of a hierarchical model, and the constraints between keys. */
static void test_layers(void)
{
    clvae_config c;
    clvae_config_defaults(&c);
    CHECK(clvae_config_set(&c, "model.latent=100,50") == CLVAE_OK, "latent list");
    CHECK(c.model.n_latent == 2 && c.model.latent[0] == 100 && c.model.latent[1] == 50,
          "latent 100,50");
    CHECK(clvae_config_validate(&c) == CLVAE_ERR_CONFIG, "two layers, one encoder group");
    CHECK(has(clvae_last_error(), "[model] encoder has 1 group") &&
              has(clvae_last_error(), "one group per layer, separated by |"),
          "message: %s", clvae_last_error());
    CHECK(clvae_config_set(&c, "model.encoder=200,200|100,100") == CLVAE_OK, "groups, no spaces");
    CHECK(c.model.n_encoder == 2 && c.model.encoder[0].n == 2 && c.model.encoder[1].w[1] == 100,
          "encoder groups");
    CHECK(clvae_config_validate(&c) == CLVAE_ERR_CONFIG && has(clvae_last_error(), "decoder"),
          "decoder groups missing: %s", clvae_last_error());
    CHECK(clvae_config_set(&c, "model.decoder= 100,100 |  | ") == CLVAE_OK &&
              c.model.n_decoder == 3 && c.model.decoder[2].n == 0,
          "three decoder groups, two of them empty");
    CHECK(clvae_config_set(&c, "model.decoder = 100,100 | 200,200") == CLVAE_OK &&
              c.model.n_decoder == 2 && c.model.decoder[1].w[0] == 200,
          "decoder groups");
    CHECK(clvae_config_validate(&c) == CLVAE_OK, "IWAE paper's two-layer model: %s",
          clvae_last_error());
    CHECK(clvae_config_set(&c, "model.encoder=| 64") == CLVAE_OK && c.model.n_encoder == 2 &&
              c.model.encoder[0].n == 0 && c.model.encoder[1].n == 1,
          "an empty group: no hidden layer for layer 1");
    CHECK(clvae_config_set(&c, "train.objective=iwae") == CLVAE_OK &&
              c.train.objective == CLVAE_OBJ_IWAE,
          "objective");
    CHECK(clvae_config_validate(&c) == CLVAE_OK, "iwae with beta 1");
    c.model.beta = 2;
    CHECK(clvae_config_validate(&c) == CLVAE_ERR_CONFIG && has(clvae_last_error(), "beta = 2") &&
              has(clvae_last_error(), "objective = iwae"),
          "iwae with beta 2: %s", clvae_last_error());
    c.model.beta = 1;
    c.model.beta_warmup = 100;
    CHECK(clvae_config_validate(&c) == CLVAE_ERR_CONFIG && has(clvae_last_error(), "beta_warmup"),
          "iwae with warm-up: %s", clvae_last_error());
    /* a two-layer config survives write + load */
    clvae_config back;
    c.model.beta_warmup = 0;
    c.data.binarize = CLVAE_BIN_DYNAMIC;
    const char *path = tu_tmp_path("test_config_layers.ini");
    CHECK(clvae_config_write(&c, path) == CLVAE_OK, "write: %s", clvae_last_error());
    clvae_config_defaults(&back);
    CHECK(clvae_config_load(&back, path) == CLVAE_OK, "reload: %s", clvae_last_error());
    CHECK(memcmp(&c, &back, sizeof c) == 0, "two-layer round trip reproduces the struct");
}

static void test_round_trip(void)
{
    clvae_config c, back;
    char longpath[700];
    clvae_config_defaults(&c);
    memset(longpath, 'p', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    snprintf(c.data.train, sizeof c.data.train, "%s", longpath);
    c.data.test_labels[0] = '\0';
    snprintf(c.device.device, sizeof c.device.device, "NVIDIA H100");
    c.device.backend = CLVAE_BACKEND_REF;
    c.device.autotune = false;
    c.data.overlap = false;
    c.data.residency = CLVAE_RESIDENCY_STREAM;
    c.data.limit_test = 123;
    c.model.encoder[0] = (clvae_widths){.n = 3, .w = {512, 256, 1}};
    c.model.decoder[0] = (clvae_widths){0};
    c.model.likelihood = CLVAE_LIK_GAUSSIAN;
    c.model.sigma_x = 0.1;
    c.model.beta = 4.0 / 3.0;
    c.model.init = CLVAE_INIT_HE;
    c.train.lr = 3e-4;
    c.train.momentum = 0.95;
    c.train.seed = 0xfedcba9876543210ull;
    c.train.max_steps = 1000000000L;
    c.train.log_every = 7;
    c.output.checkpoint_every = 0;
    const char *path = tu_tmp_path("test_config_roundtrip.ini");
    int rc = clvae_config_write(&c, path);
    CHECK(rc == CLVAE_OK, "write: %s", clvae_last_error());
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(access(tmp, F_OK) != 0, "no temp file left behind");
    clvae_config_defaults(&back);
    rc = clvae_config_load(&back, path);
    CHECK(rc == CLVAE_OK, "reload: %s", clvae_last_error());
    CHECK(memcmp(&c, &back, sizeof c) == 0, "round trip reproduces the struct");
    CHECK(strcmp(back.data.train, longpath) == 0, "long path survives");
    CHECK(back.model.beta == 4.0 / 3.0 && back.train.lr == 3e-4, "doubles exact");

    c.model.latent[0] = -1;
    CHECK(clvae_config_write(&c, path) == CLVAE_ERR_CONFIG, "invalid config is not written");
    CHECK(clvae_config_write(&back, tu_tmp_path("no_such_dir/x.ini")) == CLVAE_ERR_IO,
          "unwritable path");
}

int main(void)
{
    test_defaults();
    test_default_ini();
    test_load_errors();
    test_load_values();
    test_set();
    test_validate();
    test_round_trip();
    test_layers();
    return tu_finish("test_config");
}
