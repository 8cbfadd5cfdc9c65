/* The config key table: every section and key, its type, range, choices and comment, and how
 * a key describes what it accepts in error messages. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clvae/status.h"
#include "config_internal.h"

static const char *const backend_names[] = {"auto", "opencl", "ref", NULL};
static const char *const devtype_names[] = {"any", "gpu", "cpu", "accelerator", NULL};
static const char *const autotune_names[] = {"off", "first-use", NULL};
static const char *const cmdbuf_names[] = {"auto", "on", "off", NULL};
static const char *const format_names[] = {"auto", "idx", "npy", NULL};
static const char *const residency_names[] = {"auto", "device", "stream", NULL};
static const char *const act_names[] = {"relu", "tanh", "softplus", "identity", "leaky_relu", NULL};
static const char *const lik_names[] = {"bernoulli", "gaussian", "gaussian-learned", NULL};
static const char *const opt_names[] = {"adam", "sgd", NULL};
static const char *const init_names[] = {"xavier", "he", NULL};
static const char *const objective_names[] = {"elbo", "iwae", NULL};
static const char *const binarize_names[] = {"none", "dynamic", "fixed", NULL};
static const char *const channels_names[] = {"auto", "1", "3", NULL};
static const char *const bad_image_names[] = {"error", "skip", NULL};
static const char *const latent_type_names[] = {"gaussian", "categorical", NULL};
const char *const clvae_cfg_section_names[] = {"device", "data", "model", "train", "output", NULL};

// clang-format off
#define OFF(s, k) offsetof(clvae_config, s.k)
#define SZ(s, k) sizeof(((clvae_config *)0)->s.k)
#define STR(s, k, c) {#s, #k, K_STR, OFF(s, k), SZ(s, k), 0, 0, 0, NULL, c}
#define ENUM(s, k, n, c) {#s, #k, K_ENUM, OFF(s, k), 0, 0, 0, 0, n, c}
#define BOOL(s, k, n, c) {#s, #k, K_BOOL, OFF(s, k), 0, 0, 0, 0, n, c}
#define NUM(s, k, t, r, lo, hi, c) {#s, #k, t, OFF(s, k), 0, r, lo, hi, NULL, c}
#define LIST(s, k, c) {#s, #k, K_LIST, OFF(s, k), OFF(s, n_##k), 0, 0, 0, NULL, c}
#define GROUPS(s, k, c) {#s, #k, K_GROUPS, OFF(s, k), OFF(s, n_##k), 0, 0, 0, NULL, c}
#define ENUMS(s, k, n, c) {#s, #k, K_ENUMS, OFF(s, k), OFF(s, n_##k), 0, 0, 0, n, c}
#define GXK(s, k, c) {#s, #k, K_GXK, OFF(s, k), 0, 0, 0, 0, NULL, c}
#define ITEM(s, k, c) {#s, #k, K_ITEM, OFF(s, k), 0, 0, 0, 0, NULL, c}
// clang-format on

const key_spec clvae_cfg_keys[] = {
    ENUM(device, backend, backend_names, "auto (best OpenCL device, else ref) | opencl | ref"),
    ENUM(device, type, devtype_names, "any | gpu | cpu | accelerator"),
    STR(device, platform, "platform index or name substring (\"\" = any)"),
    STR(device, device, "device index or name substring (\"\" = any)"),
    BOOL(device, autotune, autotune_names,
         "first-use (tune GEMMs when no tuning file exists) | off"),
    ENUM(device, command_buffer, cmdbuf_names,
         "auto (record the training step once and replay it where the device has "
         "cl_khr_command_buffer) | on (the same; an error where it has not) | off"),
    STR(device, cache, "kernel and tuning cache (\"\" = $XDG_CACHE_HOME/clvae)"),
    STR(data, train, "training images: IDX or NPY, raw or .gz, or a folder of PNG/JPEG images"),
    STR(data, test, "test images"),
    STR(data, train_labels,
        "training labels: auto (the built-in labels with the built-in data, else none) | PATH "
        "| \"\" = none"),
    STR(data, test_labels, "test labels: auto | PATH | \"\" = none"),
    ENUM(data, format, format_names, "auto (by magic) | idx | npy"),
    ENUM(data, residency, residency_names, "auto | device (whole set on the device) | stream"),
    BOOL(data, overlap, NULL, "overlap batch uploads with compute: true | false"),
    NUM(data, limit_train, K_LONG, R_LO, 0, 0, "use only the first N training images (0 = all)"),
    NUM(data, limit_test, K_LONG, R_LO, 0, 0, "use only the first N test images (0 = all)"),
    NUM(data, valid, K_DBL, R_LO, 0, 0,
        "validation rows held out of the training set: N rows, or a fraction < 1 (0 = none)"),
    STR(data, image_shape, "image shape: auto (from the data) | HxW | HxWxC | none"),
    STR(data, image_size, "image folders: resize every image to HxW (\"\" = all the same size)"),
    STR(data, center_crop, "image folders: crop HxW at the centre before resizing (\"\" = none)"),
    ENUM(data, channels, channels_names, "image folders: auto (3 when any file has colour) | 1 | 3"),
    ENUM(data, on_bad_image, bad_image_names,
         "image folders: error (exit 2 naming the file) | skip (count them in one warning)"),
    ENUM(data, binarize, binarize_names,
         "none | dynamic (a Bernoulli draw per pixel each time a row is drawn) | fixed (once)"),
    GROUPS(model, encoder, "inference nets' hidden layers, one group per stochastic layer, "
                           "x side first (e.g. 200,200 | 100,100; \"\" = none); the first group "
                           "may start with conv layers (conv 32 k4 s2 p1 bn, ...)"),
    GROUPS(model, decoder, "generative nets' hidden layers, one group per stochastic layer: "
                           "top first, the last group maps layer 1 to x and may end in a CxHxW "
                           "view and convt / conv layers (64x7x7, convt 32 k4 s2 p1)"),
    LIST(model, latent, "latent sizes, one per stochastic layer, the layer nearest x first"),
    ENUM(model, activation, act_names, "relu | tanh | softplus | identity | leaky_relu"),
    ENUM(model, likelihood, lik_names, "bernoulli | gaussian | gaussian-learned"),
    NUM(model, sigma_x, K_DBL, R_LO_OPEN, 0, 0, "decoder std-dev for likelihood = gaussian"),
    NUM(model, beta, K_DBL, R_LO, 0, 0, "KL weight (beta-VAE; 1 = plain ELBO)"),
    ENUM(model, init, init_names, "weight init: xavier (uniform) | he (normal)"),
    NUM(model, beta_warmup, K_LONG, R_LO, 0, 0,
        "steps of linear KL warm-up from 0 to beta (0 = none)"),
    BOOL(model, conditional, NULL,
         "conditional VAE: every inference, prior and decoder MLP also takes onehot(label) "
         "(needs data.train_labels and data.test_labels): true | false"),
    NUM(model, classes, K_INT, R_LO, 0, 0,
        "classes C of the one-hot label (0 = from the training labels, max + 1)"),
    ENUMS(model, latent_type, latent_type_names,
          "gaussian | categorical (Gumbel-softmax): one value, or one per stochastic layer; only "
          "the top layer can be categorical (its latent entry is unused: it has G*K units)"),
    GXK(model, categorical, "a categorical layer's G groups of K categories: GxK (e.g. 30x10)"),
    BOOL(model, hard, NULL,
         "straight-through Gumbel-softmax (one-hot forward, relaxed gradient): true | false"),
    ITEM(model, decoder_out, "the layer that outputs the likelihood's parameters: dense | "
                             "convt [C] k.. s.. p.. o.. | conv [C] k.. (after decoder maps; C = "
                             "the image's channels)"),
    NUM(model, leaky_slope, K_DBL, R_LO_OPEN, 0, 0, "negative slope of leaky_relu (PyTorch's 0.01)"),
    NUM(train, epochs, K_INT, R_LO, 0, 0, "passes over the training set"),
    NUM(train, batch, K_INT, R_LO, 1, 0, "minibatch size"),
    ENUM(train, optimizer, opt_names, "adam | sgd"),
    NUM(train, lr, K_DBL, R_LO_OPEN, 0, 0, "learning rate"),
    NUM(train, momentum, K_DBL, R_LO | R_HI_OPEN, 0, 1, "SGD momentum, in [0, 1)"),
    NUM(train, seed, K_U64, 0, 0, 0, "seed of every random stream (Philox)"),
    NUM(train, samples, K_INT, R_LO, 1, 0, "epsilon samples per input (K of objective = iwae)"),
    ENUM(train, objective, objective_names,
         "elbo (average of samples single-sample ELBOs) | iwae (importance-weighted bound)"),
    NUM(train, max_steps, K_LONG, R_LO, 0, 0, "stop after N optimizer steps (0 = no limit)"),
    NUM(train, log_every, K_INT, R_LO, 1, 0, "steps between loss read-backs and progress lines"),
    NUM(train, tau, K_DBL, R_LO_OPEN, 0, 0,
        "Gumbel-softmax temperature at step 0: tau_t = max(tau_min, tau * exp(-tau_decay * t))"),
    NUM(train, tau_min, K_DBL, R_LO_OPEN, 0, 0, "the temperature's floor"),
    NUM(train, tau_decay, K_DBL, R_LO, 0, 0, "the temperature's decay rate per step"),
    STR(output, dir, "run directory: metrics.jsonl, checkpoint.safetensors, config.ini"),
    NUM(output, checkpoint_every, K_INT, R_LO, 0, 0,
        "epochs between checkpoints (0 = only at the end)"),
};
const size_t clvae_cfg_n_keys = sizeof clvae_cfg_keys / sizeof clvae_cfg_keys[0];

/* Enum fields are read and written through int pointers. */
_Static_assert(sizeof(clvae_act) == sizeof(int) && sizeof(clvae_backend_kind) == sizeof(int),
               "enum fields must be int-sized");

void *clvae_cfg_field(const clvae_config *cfg, size_t off)
{
    return (char *)cfg + off;
}

int clvae_cfg_name_index(const char *const *names, const char *v)
{
    for (int i = 0; names[i]; i++)
        if (strcasecmp(names[i], v) == 0) return i;
    return -1;
}

int clvae_cfg_names_count(const char *const *names)
{
    int n = 0;
    while (names[n])
        n++;
    return n;
}

void clvae_cfg_join_names(const char *const *names, const char *sep, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; names[i] && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? sep : "", names[i]);
}

const key_spec *clvae_cfg_find_key(const char *section, const char *key)
{
    for (size_t i = 0; i < clvae_cfg_n_keys; i++)
        if (strcmp(clvae_cfg_keys[i].section, section) == 0 && strcmp(clvae_cfg_keys[i].key, key) == 0) return &clvae_cfg_keys[i];
    return NULL;
}

/* "valid keys in [model]: encoder, decoder, ..." */
void clvae_cfg_list_keys(const char *section, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "valid keys in [%s]:", section);
    int first = 1;
    for (size_t i = 0; i < clvae_cfg_n_keys && used < size; i++) {
        if (strcmp(clvae_cfg_keys[i].section, section) != 0) continue;
        used += (size_t)snprintf(buf + used, size - used, "%s %s", first ? "" : ",", clvae_cfg_keys[i].key);
        first = 0;
    }
}

static void describe_range(const key_spec *ks, char *buf, size_t size)
{
    const char *lb = (ks->range & R_LO_OPEN) ? "(" : "[";
    const char *rb = (ks->range & R_HI_OPEN) ? ")" : "]";
    int has_lo = ks->range & (R_LO | R_LO_OPEN), has_hi = ks->range & (R_HI | R_HI_OPEN);
    if (has_lo && has_hi)
        snprintf(buf, size, " in %s%g, %g%s", lb, ks->lo, ks->hi, rb);
    else if (has_lo)
        snprintf(buf, size, " %s %g", (ks->range & R_LO_OPEN) ? ">" : ">=", ks->lo);
    else
        buf[0] = '\0';
}

/* "latent must be an integer >= 1" */
void clvae_cfg_describe(const key_spec *ks, char *buf, size_t size)
{
    char extra[512];
    describe_range(ks, extra, sizeof extra);
    switch (ks->type) {
    case K_STR:
        snprintf(extra, sizeof extra,
                 "at most %zu characters, without control characters or ' ;' (which starts a "
                 "comment)",
                 ks->aux - 1);
        break;
    case K_INT:
    case K_LONG: break;
    case K_U64: snprintf(extra, sizeof extra, "an unsigned integer"); break;
    case K_DBL: break;
    case K_BOOL:
        if (ks->names)
            clvae_cfg_join_names(ks->names, " or ", extra, sizeof extra);
        else
            snprintf(extra, sizeof extra, "true or false (also yes/no, on/off, 1/0)");
        break;
    case K_ENUM: clvae_cfg_join_names(ks->names, ", ", extra, sizeof extra); break;
    case K_LIST:
        snprintf(extra, sizeof extra,
                 "a comma list of 1 to %d sizes, each an integer in [1, %d]", CLVAE_MAX_STOCH,
                 MAX_WIDTH);
        break;
    case K_GROUPS:
        snprintf(extra, sizeof extra,
                 "1 to %d groups separated by |, each a comma list of at most %d items: a width "
                 "in [1, %d], a CxHxW view with an optional activation, or conv C / convt C "
                 "then kK or kKHxKW (kernel), sS, pP, oP (convt), dD, bn and an activation "
                 "(\"\" = no hidden layer), e.g. 200,200 | 100,100 or conv 32 k4 s2 p1, 64",
                 CLVAE_MAX_STOCH, CLVAE_MAX_LAYERS, MAX_WIDTH);
        break;
    case K_ITEM:
        snprintf(extra, sizeof extra,
                 "dense, or conv / convt with an optional channel count and the words kK or "
                 "kKHxKW, sS, pP, oP (convt), dD, e.g. convt k4 s2 p1");
        break;
    case K_ENUMS: {
        char names[256];
        clvae_cfg_join_names(ks->names, " or ", names, sizeof names);
        snprintf(extra, sizeof extra,
                 "%s, or a comma list of 1 to %d of them (one per stochastic layer)", names,
                 CLVAE_MAX_STOCH);
        break;
    }
    case K_GXK:
        snprintf(extra, sizeof extra,
                 "GxK: G groups (an integer in [1, %d]) of K categories (an integer in [2, %d]), "
                 "e.g. 30x10",
                 CLVAE_MAX_GROUPS, CLVAE_MAX_CATS);
        break;
    }
    if (ks->type == K_INT || ks->type == K_LONG)
        snprintf(buf, size, "%s must be an integer%s", ks->key, extra);
    else if (ks->type == K_DBL)
        snprintf(buf, size, "%s must be a number%s", ks->key, extra);
    else if (ks->type == K_ENUM)
        snprintf(buf, size, "%s must be one of: %s", ks->key, extra);
    else
        snprintf(buf, size, "%s must be %s", ks->key, extra);
}

int clvae_cfg_in_range(const key_spec *ks, double v)
{
    if ((ks->range & R_LO) && !(v >= ks->lo)) return 0;
    if ((ks->range & R_LO_OPEN) && !(v > ks->lo)) return 0;
    if ((ks->range & R_HI) && !(v <= ks->hi)) return 0;
    if ((ks->range & R_HI_OPEN) && !(v < ks->hi)) return 0;
    return 1;
}

const char *clvae_act_name(clvae_act a)
{
    return (int)a >= 0 && (int)a < clvae_cfg_names_count(act_names) ? act_names[a] : "?";
}

const char *clvae_likelihood_name(clvae_likelihood l)
{
    return (int)l >= 0 && (int)l < clvae_cfg_names_count(lik_names) ? lik_names[l] : "?";
}
