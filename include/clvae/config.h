/* The resolved run configuration (contract.md's INI sections), its parser and its writer. */
#ifndef CLVAE_CONFIG_H
#define CLVAE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define CLVAE_MAX_LAYERS 8   /* hidden layers per MLP */
#define CLVAE_MAX_STOCH 4    /* stochastic layers */
#define CLVAE_PATH_MAX 1024

/* The built-in data set (Debian's dataset-fashion-mnist); label keys default to "auto":
 * these labels with this data, no labels with a user's own data files. */
#define CLVAE_BUILTIN_DATA_DIR "/usr/share/datasets/fashion-mnist/"
#define CLVAE_BUILTIN_TRAIN CLVAE_BUILTIN_DATA_DIR "train-images-idx3-ubyte.gz"
#define CLVAE_BUILTIN_TEST CLVAE_BUILTIN_DATA_DIR "t10k-images-idx3-ubyte.gz"
#define CLVAE_BUILTIN_TRAIN_LABELS CLVAE_BUILTIN_DATA_DIR "train-labels-idx1-ubyte.gz"
#define CLVAE_BUILTIN_TEST_LABELS CLVAE_BUILTIN_DATA_DIR "t10k-labels-idx1-ubyte.gz"
#define CLVAE_LABELS_AUTO "auto"

typedef enum { CLVAE_BACKEND_AUTO, CLVAE_BACKEND_OPENCL, CLVAE_BACKEND_REF } clvae_backend_kind;
typedef enum { CLVAE_DEVTYPE_ANY, CLVAE_DEVTYPE_GPU, CLVAE_DEVTYPE_CPU, CLVAE_DEVTYPE_ACCEL } clvae_device_type;
typedef enum { CLVAE_FORMAT_AUTO, CLVAE_FORMAT_IDX, CLVAE_FORMAT_NPY } clvae_data_format;
typedef enum { CLVAE_RESIDENCY_AUTO, CLVAE_RESIDENCY_DEVICE, CLVAE_RESIDENCY_STREAM } clvae_residency;
/* device.command_buffer: record the training step once and replay it (cl_khr_command_buffer). */
typedef enum { CLVAE_CMDBUF_AUTO, CLVAE_CMDBUF_ON, CLVAE_CMDBUF_OFF } clvae_cmdbuf_mode;
/* CLVAE_ACT_LEAKY_RELU takes a slope: only the ops that say so accept it (bias_leaky, leaky_bwd,
 * bn_fwd); bias_act and act_bwd take the four before it. */
typedef enum {
    CLVAE_ACT_RELU, CLVAE_ACT_TANH, CLVAE_ACT_SOFTPLUS, CLVAE_ACT_IDENTITY, CLVAE_ACT_LEAKY_RELU
} clvae_act;
typedef enum { CLVAE_LIK_BERNOULLI, CLVAE_LIK_GAUSSIAN, CLVAE_LIK_GAUSSIAN_LEARNED } clvae_likelihood;
typedef enum { CLVAE_OPT_ADAM, CLVAE_OPT_SGD } clvae_optimizer;
typedef enum { CLVAE_INIT_XAVIER, CLVAE_INIT_HE } clvae_init;
typedef enum { CLVAE_OBJ_ELBO, CLVAE_OBJ_IWAE } clvae_objective;
typedef enum { CLVAE_BIN_NONE, CLVAE_BIN_DYNAMIC, CLVAE_BIN_FIXED } clvae_binarize;
typedef enum { CLVAE_LATENT_GAUSSIAN, CLVAE_LATENT_CATEGORICAL } clvae_latent_type;

/* One item of an encoder / decoder list (contract.md "Wave 3"): a dense width, a CxHxW view (a
 * dense layer of C*H*W units read as C maps of H x W), or a Conv2d / ConvTranspose2d layer.
 * All-zero is a plain dense item. Pairs are (h, w). */
typedef enum { CLVAE_ITEM_DENSE, CLVAE_ITEM_VIEW, CLVAE_ITEM_CONV, CLVAE_ITEM_CONVT } clvae_item_kind;
typedef struct clvae_item {
    clvae_item_kind kind;
    int channels;               /* conv/convt: output channels (decoder_out: 0 = the image's); view: C */
    int view_h, view_w;         /* view: H, W */
    int k[2], s[2], p[2], o[2], d[2];   /* kernel, stride, padding, output padding, dilation */
    bool bn;                    /* BatchNorm2d after the conv, before the activation */
    bool has_act;               /* an activation word overrides model.activation */
    int act;                    /* clvae_act when has_act */
} clvae_item;

/* The hidden layers of one net, input side first: w[i] is a dense layer's width (a view's
 * C*H*W, a conv layer's output channels); item[i] says which kind it is. */
typedef struct clvae_widths {
    int n;
    int w[CLVAE_MAX_LAYERS];
    clvae_item item[CLVAE_MAX_LAYERS];
} clvae_widths;

typedef struct clvae_config {
    struct {
        clvae_backend_kind backend;   /* backend = auto|opencl|ref */
        clvae_device_type type;       /* type = any|gpu|cpu|accelerator */
        char platform[256];           /* index or case-insensitive name substring; "" = any */
        char device[256];             /* index or case-insensitive name substring; "" = any */
        bool autotune;                /* autotune = first-use (true) | off (false) */
        clvae_cmdbuf_mode command_buffer; /* command_buffer = auto|on|off */
        char cache[CLVAE_PATH_MAX];   /* cache = PATH; "" = $XDG_CACHE_HOME/clvae or ~/.cache/clvae */
    } device;
    struct {
        char train[CLVAE_PATH_MAX];
        char test[CLVAE_PATH_MAX];
        char train_labels[CLVAE_PATH_MAX];   /* "auto" (built-in labels only with built-in data), PATH, "" = none */
        char test_labels[CLVAE_PATH_MAX];    /* same, for the test set */
        clvae_data_format format;
        clvae_residency residency;
        bool overlap;
        long limit_train;   /* limit_train = N: use only the first N training images (0 = all) */
        long limit_test;    /* limit_test = N: use only the first N test images (0 = all) */
        double valid;       /* valid = N rows (>= 1) or a fraction (< 1) held out for validation */
        char image_shape[32];   /* image_shape = auto | HxW | HxWxC | none */
        char image_size[32];    /* image folders: image_size = HxW resize ("" = keep the size) */
        char center_crop[32];   /* image folders: center_crop = HxW before the resize ("" = none) */
        int channels;           /* image folders: channels = auto | 1 | 3 (index into those names) */
        int on_bad_image;       /* image folders: on_bad_image = error (0) | skip (1) */
        clvae_binarize binarize;   /* binarize = none | dynamic | fixed */
    } data;
    struct {
        /* T stochastic layers, the one nearest x first: latent = 100,50 */
        int latent[CLVAE_MAX_STOCH];
        int n_latent;
        /* inference MLPs, one group per layer ("200,200 | 100,100"): x -> layer 1, 1 -> 2, ... */
        clvae_widths encoder[CLVAE_MAX_STOCH];
        int n_encoder;
        /* generative MLPs, one group per layer: top -> layer T-1 prior, ..., layer 1 -> x */
        clvae_widths decoder[CLVAE_MAX_STOCH];
        int n_decoder;
        clvae_act activation;
        double leaky_slope;             /* negative slope of activation leaky_relu */
        /* the layer that outputs the likelihood's parameters: dense (kind DENSE, the default) or
         * a conv / convt item whose channels are the image's */
        clvae_item decoder_out;
        clvae_likelihood likelihood;
        double sigma_x;
        double beta;
        clvae_init init;                /* init = xavier|he (extension) */
        long beta_warmup;               /* steps of linear KL warm-up from 0 to beta */
        bool conditional;               /* cVAE: every MLP also takes onehot(label) */
        int classes;                    /* C of the one-hot; 0 = from the labels (max + 1) */
        /* latent_type = gaussian|categorical: one value (every layer) or one per layer */
        clvae_latent_type latent_type[CLVAE_MAX_STOCH];
        int n_latent_type;
        int categorical[2];             /* categorical = GxK: {G, K}, a categorical layer's G*K units */
        bool hard;                      /* straight-through Gumbel-softmax */
    } model;
    struct {
        int epochs;
        int batch;
        clvae_optimizer optimizer;
        double lr;
        double momentum;
        unsigned long long seed;
        int samples;
        clvae_objective objective;   /* objective = elbo | iwae (K = samples) */
        long max_steps;     /* max_steps = N: stop after N optimizer steps (0 = no limit) */
        int log_every;      /* log_every = N steps between device loss read-backs / progress */
        /* Gumbel-softmax temperature max(tau_min, tau * exp(-tau_decay * step)) */
        double tau, tau_min, tau_decay;
    } train;
    struct {
        char dir[CLVAE_PATH_MAX];
        int checkpoint_every;
    } output;
} clvae_config;

/* Fills `cfg` with the defaults of contract.md (data paths: Debian's dataset-fashion-mnist). */
void clvae_config_defaults(clvae_config *cfg);

/* Parses an INI file on top of what `cfg` holds. Errors (CLVAE_ERR_CONFIG) name file:line, the
 * section/key and the valid values; unknown sections and keys are errors. */
int clvae_config_load(clvae_config *cfg, const char *path);

/* Applies one "SECTION.KEY=VALUE" override; errors name the --set argument. */
int clvae_config_set(clvae_config *cfg, const char *assignment);

/* Checks cross-key constraints (e.g. latent >= 1, batch >= 1) after all sources were applied. */
int clvae_config_validate(const clvae_config *cfg);

/* Writes the resolved config as INI that clvae_config_load reads back to the same values.
 * Writes to a temp file and renames it, so `path` is never half-written. */
int clvae_config_write(const clvae_config *cfg, const char *path);

/* Names for enum values as they appear in the INI file ("relu", "bernoulli", ...). */
const char *clvae_act_name(clvae_act a);
const char *clvae_likelihood_name(clvae_likelihood l);

#endif
