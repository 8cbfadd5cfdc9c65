/* clvae's C API (the umbrella header of the installed library libclvae): train a VAE on arrays
 * held in memory and use it (encode, decode, sample, reconstruct, ELBO, IWAE), save and load the
 * CLI's checkpoints, list devices. See docs/library.md.
 *
 * Conventions
 * - Every call returns a status (CLVAE_OK = 0, negative = error, clvae/status.h); on an error
 *   clvae_last_error() gives this thread's message (which file, key or argument, what is valid).
 *   The library never exits, aborts or prints on bad input; it logs only through clvae_set_log.
 * - Handles are opaque and come in create/free pairs; *_free(NULL) is a no-op.
 * - Arrays are C-contiguous, owned by the caller, and read (or written) only during the call.
 * - Threads: calls on different handles may run concurrently on different threads; calls on
 *   one handle (a model and what uses it) must not overlap. clvae_set_log is process-wide:
 *   call it before any other thread uses the library. clvae_vae_fit installs no signal handler
 *   (cancel through the progress callback).
 */
#ifndef CLVAE_CLVAE_H
#define CLVAE_CLVAE_H

#include <stdint.h>

#include "clvae/export.h"
#include "clvae/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CLVAE_VERSION_MAJOR 0
#define CLVAE_VERSION_MINOR 3
#define CLVAE_VERSION_PATCH 0
#define CLVAE_VERSION_STRING "0.3.0"

/* The library's version ("0.3.0"): may differ from CLVAE_VERSION_STRING of the header a
 * program was built with. */
CLVAE_API const char *clvae_version(void);

/* ---- logging ---- */
typedef enum clvae_log_threshold {
    CLVAE_LOG_LEVEL_DEBUG = 0,
    CLVAE_LOG_LEVEL_INFO = 1,
    CLVAE_LOG_LEVEL_WARN = 2,
    CLVAE_LOG_LEVEL_ERROR = 3,
    CLVAE_LOG_LEVEL_OFF = 4 /* the library's default: nothing is printed */
} clvae_log_threshold;

/* A log line (no trailing newline) at `level`; called on the thread that logs. */
typedef void (*clvae_log_fn)(void *user, int level, const char *message);

/* Messages at `level` or above go to fn (NULL: stderr, "clvae: ..."). Process-wide. */
CLVAE_API int clvae_set_log(int level, clvae_log_fn fn, void *user);

/* ---- devices ---- */
typedef struct clvae_device_info {
    char name[256];     /* the device's name ("reference" for the plain-C backend) */
    char platform[256]; /* the OpenCL platform's name ("" for the reference backend) */
    char type[16];      /* "cpu", "gpu", "accelerator", "other" */
    char backend[16];   /* "ref" or "opencl" */
} clvae_device_info;

/* Fills out[0 .. min(*count, cap)) and sets *count to the number of devices (the reference
 * backend first, then every OpenCL device). out may be NULL with cap = 0 to count. */
CLVAE_API int clvae_devices(clvae_device_info *out, int cap, int *count);

/* ---- context: which device models run on ---- */
typedef struct clvae_context clvae_context;

/* device: NULL or "" (each model's config decides), "auto", "ref", "opencl", "gpu", "cpu",
 * or an OpenCL device name substring (case-insensitive). A selection is checked when a model
 * opens its device (create/load/fit), where a mismatch is CLVAE_ERR_INPUT listing the devices. */
CLVAE_API int clvae_context_create(const char *device, clvae_context **out);
CLVAE_API void clvae_context_free(clvae_context *ctx);

/* ---- arrays ---- */
typedef enum clvae_dtype { CLVAE_DTYPE_U8 = 1, CLVAE_DTYPE_F32 = 2 } clvae_dtype;

/* (n, D) or (n, C, H, W): uint8 in 0..255 (scaled by 1/255) or float32 in [0, 1]. */
typedef struct clvae_array {
    const void *data;
    clvae_dtype dtype;
    int ndim;         /* 2 or 4 */
    int64_t shape[4];
} clvae_array;

/* ---- models ---- */
typedef struct clvae_vae clvae_vae;

/* A model from an INI config (config_path NULL: the built-in defaults; config_text: the INI
 * text itself) with sets[0 .. n_sets) "section.key=value" overrides applied in order. Its
 * parameters exist after clvae_vae_fit (the input size comes from the data). The context must
 * outlive the model. */
CLVAE_API int clvae_vae_create(clvae_context *ctx, const char *config_path,
                               const char *const *sets, int n_sets, clvae_vae **out);
CLVAE_API int clvae_vae_create_from_string(clvae_context *ctx, const char *config_text,
                                           const char *const *sets, int n_sets, clvae_vae **out);
/* A trained model from a checkpoint written by clvae_vae_save or `clvae train`
 * (checkpoint.safetensors: its config and parameters). */
CLVAE_API int clvae_vae_load(clvae_context *ctx, const char *checkpoint_path, clvae_vae **out);
CLVAE_API void clvae_vae_free(clvae_vae *vae);

typedef struct clvae_vae_info {
    int fitted;        /* 1 when the model has parameters (fit or loaded) */
    int64_t dim;       /* D, features per sample (0 before fit) */
    int latent;        /* units of the top latent layer */
    int classes;       /* conditional model: classes of its labels; 0: unconditional */
    int epochs_done;
    int64_t steps;
    char device[256];  /* the device it ran on (after fit/load) */
    char backend[16];
} clvae_vae_info;
CLVAE_API int clvae_vae_get_info(const clvae_vae *vae, clvae_vae_info *info);

/* ---- training ---- */
typedef struct clvae_progress_info {
    int epoch, epochs;      /* the epoch running (1-based) and the config's train.epochs */
    int64_t step;           /* optimizer steps so far */
    double train_loss;      /* the epoch's mean loss so far (negative ELBO per sample, nats) */
} clvae_progress_info;

/* Called every train.log_every steps and at the end of every epoch, on the calling thread;
 * return non-zero to cancel: the fit then stops after the next step with
 * CLVAE_ERR_INTERRUPTED; clvae_vae_fit's model keeps the parameters it had before the fit,
 * clvae_trainer_run's stands where it stopped and can continue. */
typedef int (*clvae_progress_fn)(void *user, const clvae_progress_info *p);

typedef struct clvae_fit_options {
    const clvae_array *test;     /* evaluated after each epoch (NULL: the training array) */
    const uint8_t *test_labels;  /* (n_test) for a conditional model */
    clvae_progress_fn progress;  /* NULL: none */
    void *user;                  /* passed to progress */
} clvae_fit_options;

typedef struct clvae_fit_result {
    double train_loss, test_loss; /* the last epoch's, per sample, nats */
    int epochs;
    int64_t steps;
    double samples_per_s;
} clvae_fit_result;

/* Trains the model from fresh parameters for train.epochs epochs (or train.max_steps) on x
 * with labels (n) (NULL: none; a conditional model needs them), exactly as `clvae train` does
 * on the same rows with the same config: same batches, same noise, the same parameters bit
 * for bit. opt and res may be NULL. */
CLVAE_API int clvae_vae_fit(clvae_vae *vae, const clvae_array *x, const uint8_t *labels,
                            const clvae_fit_options *opt, clvae_fit_result *res);

/* ---- training in steps or epochs ---- */
typedef struct clvae_trainer clvae_trainer;

/* A trainer of vae on x (n, ...) with labels (NULL: none): it copies x, labels and opt's
 * arrays, opens the model on the vae's device (once per vae) and keeps the model, optimizer
 * state and batch feeding until clvae_trainer_free; vae must outlive it. x must have the fitted
 * model's width; a fitted model continues from where it stands. Create it once and call
 * clvae_trainer_run many times: creating one costs a copy and upload of the data. */
CLVAE_API int clvae_trainer_create(clvae_vae *vae, const clvae_array *x, const uint8_t *labels,
                                   const clvae_fit_options *opt, clvae_trainer **out);
/* Trains `epochs` more epochs, or (epochs = 0) `steps` more optimizer steps (an epoch may end
 * part-way), from where the model stands (fresh parameters if it has none yet): runs split
 * into any calls give the parameters of one uninterrupted `clvae train`, bit for bit. Nothing
 * is set up again between calls (no files written): single steps run at training speed.
 * After the first call the trainer's model is the vae's (encode, save, ... use it); a cancel
 * leaves it where it stopped, able to continue. Another fit, load or trainer on the vae ends
 * this trainer's calls (CLVAE_ERR_INPUT). */
CLVAE_API int clvae_trainer_run(clvae_trainer *tr, int epochs, int64_t steps,
                                clvae_fit_result *res);
CLVAE_API void clvae_trainer_free(clvae_trainer *tr);

/* ---- using a trained model (labels: (n), needed by a conditional model, else ignored) ---- */
/* The posterior's mean and log-variance of the top layer: mu, logvar (n, latent); logvar may
 * be NULL. A categorical (Gumbel-softmax) top layer of G groups of K: mu (n, G*K) gets each
 * group's category probabilities (the mean of its one-hot samples); logvar must be NULL. */
CLVAE_API int clvae_vae_encode(clvae_vae *vae, const clvae_array *x, const uint8_t *labels,
                               float *mu, float *logvar);
/* Decoder means (n, D) of the top-layer latents z (n, latent). */
CLVAE_API int clvae_vae_decode(clvae_vae *vae, const float *z, int64_t n, const uint8_t *labels,
                               float *out);
/* Decoder means (n, D) of z ~ p(z) (Philox draw `draw`: the same draw gives the same samples;
 * draw 0 gives `clvae sample`'s); a conditional model draws class `label` (0..classes-1); a
 * categorical top layer draws one-hot codes from its uniform prior. */
CLVAE_API int clvae_vae_sample(clvae_vae *vae, int64_t n, int label, uint64_t draw, float *out);
/* Decoder means (n, D) of z = the posterior mean of each row of x. */
CLVAE_API int clvae_vae_reconstruct(clvae_vae *vae, const clvae_array *x, const uint8_t *labels,
                                    float *out);
/* The mean negative ELBO per sample over x (nats), as `clvae eval` reports test_loss. */
CLVAE_API int clvae_vae_elbo(clvae_vae *vae, const clvae_array *x, const uint8_t *labels,
                             double *neg_elbo);
/* The mean importance-weighted estimate of log p(x) with k samples (nats). */
CLVAE_API int clvae_vae_iwae(clvae_vae *vae, const clvae_array *x, const uint8_t *labels, int k,
                             double *loglik);

/* Writes the model's checkpoint (the CLI's format: parameters, optimizer state, config). */
CLVAE_API int clvae_vae_save(clvae_vae *vae, const char *path);

#ifdef __cplusplus
}
#endif
#endif
