/* Run configuration: defaults, the INI reader (libinih), --set overrides, validation, writer. */
#include "clvae/config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "clvae/status.h"

#define MAX_WIDTH 65536
#define VALUE_MAX 4096

typedef enum { K_STR, K_INT, K_LONG, K_U64, K_DBL, K_BOOL, K_ENUM, K_LIST, K_GROUPS } key_type;

/* Range flags of numeric keys. */
enum { R_LO = 1, R_LO_OPEN = 2, R_HI = 4, R_HI_OPEN = 8 };

typedef struct key_spec {
    const char *section;
    const char *key;
    key_type type;
    size_t off; /* offset of the field in clvae_config */
    size_t aux; /* K_STR: buffer size; K_LIST, K_GROUPS: offset of the count field */
    int range;  /* R_* flags (numbers) */
    double lo, hi;
    const char *const *names; /* K_ENUM choices; K_BOOL: {false-name, true-name} or NULL */
    const char *comment;      /* written above the key by clvae_config_write */
} key_spec;

static const char *const backend_names[] = {"auto", "opencl", "ref", NULL};
static const char *const devtype_names[] = {"any", "gpu", "cpu", "accelerator", NULL};
static const char *const autotune_names[] = {"off", "first-use", NULL};
static const char *const format_names[] = {"auto", "idx", "npy", NULL};
static const char *const residency_names[] = {"auto", "device", "stream", NULL};
static const char *const act_names[] = {"relu", "tanh", "softplus", "identity", NULL};
static const char *const lik_names[] = {"bernoulli", "gaussian", "gaussian-learned", NULL};
static const char *const opt_names[] = {"adam", "sgd", NULL};
static const char *const init_names[] = {"xavier", "he", NULL};
static const char *const objective_names[] = {"elbo", "iwae", NULL};
static const char *const binarize_names[] = {"none", "dynamic", "fixed", NULL};
static const char *const section_names[] = {"device", "data", "model", "train", "output", NULL};

// clang-format off
#define OFF(s, k) offsetof(clvae_config, s.k)
#define SZ(s, k) sizeof(((clvae_config *)0)->s.k)
#define STR(s, k, c) {#s, #k, K_STR, OFF(s, k), SZ(s, k), 0, 0, 0, NULL, c}
#define ENUM(s, k, n, c) {#s, #k, K_ENUM, OFF(s, k), 0, 0, 0, 0, n, c}
#define BOOL(s, k, n, c) {#s, #k, K_BOOL, OFF(s, k), 0, 0, 0, 0, n, c}
#define NUM(s, k, t, r, lo, hi, c) {#s, #k, t, OFF(s, k), 0, r, lo, hi, NULL, c}
#define LIST(s, k, c) {#s, #k, K_LIST, OFF(s, k), OFF(s, n_##k), 0, 0, 0, NULL, c}
#define GROUPS(s, k, c) {#s, #k, K_GROUPS, OFF(s, k), OFF(s, n_##k), 0, 0, 0, NULL, c}
// clang-format on

static const key_spec keys[] = {
    ENUM(device, backend, backend_names, "auto (best OpenCL device, else ref) | opencl | ref"),
    ENUM(device, type, devtype_names, "any | gpu | cpu | accelerator"),
    STR(device, platform, "platform index or name substring (\"\" = any)"),
    STR(device, device, "device index or name substring (\"\" = any)"),
    BOOL(device, autotune, autotune_names,
         "first-use (tune GEMMs when no tuning file exists) | off"),
    STR(device, cache, "kernel and tuning cache (\"\" = $XDG_CACHE_HOME/clvae)"),
    STR(data, train, "training images: IDX or NPY, raw or .gz"),
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
    STR(data, image_shape, "image height x width for the grids: auto (from the file) | HxW | none"),
    ENUM(data, binarize, binarize_names,
         "none | dynamic (a Bernoulli draw per pixel each time a row is drawn) | fixed (once)"),
    GROUPS(model, encoder, "inference MLPs' hidden widths, one group per stochastic layer, "
                           "x side first (e.g. 200,200 | 100,100; \"\" = none)"),
    GROUPS(model, decoder, "generative MLPs' hidden widths, one group per stochastic layer: "
                           "top first, the last group maps layer 1 to x"),
    LIST(model, latent, "latent sizes, one per stochastic layer, the layer nearest x first"),
    ENUM(model, activation, act_names, "relu | tanh | softplus | identity"),
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
    STR(output, dir, "run directory: metrics.jsonl, checkpoint.safetensors, config.ini"),
    NUM(output, checkpoint_every, K_INT, R_LO, 0, 0,
        "epochs between checkpoints (0 = only at the end)"),
};
#define N_KEYS (sizeof keys / sizeof keys[0])

/* Enum fields are read and written through int pointers. */
_Static_assert(sizeof(clvae_act) == sizeof(int) && sizeof(clvae_backend_kind) == sizeof(int),
               "enum fields must be int-sized");

/* ---- small helpers ---- */

static void *field(const clvae_config *cfg, size_t off)
{
    return (char *)cfg + off;
}

static int name_index(const char *const *names, const char *v)
{
    for (int i = 0; names[i]; i++)
        if (strcasecmp(names[i], v) == 0) return i;
    return -1;
}

static int names_count(const char *const *names)
{
    int n = 0;
    while (names[n])
        n++;
    return n;
}

static void join_names(const char *const *names, const char *sep, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; names[i] && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? sep : "", names[i]);
}

static const key_spec *find_key(const char *section, const char *key)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].key, key) == 0) return &keys[i];
    return NULL;
}

/* "valid keys in [model]: encoder, decoder, ..." */
static void list_keys(const char *section, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "valid keys in [%s]:", section);
    int first = 1;
    for (size_t i = 0; i < N_KEYS && used < size; i++) {
        if (strcmp(keys[i].section, section) != 0) continue;
        used += (size_t)snprintf(buf + used, size - used, "%s %s", first ? "" : ",", keys[i].key);
        first = 0;
    }
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Copies `in` trimmed into `out`, dropping one pair of surrounding double quotes. */
static int normalize_value(const char *in, char *out, size_t size)
{
    if (strlen(in) >= size) return -1;
    strcpy(out, in);
    char *v = trim(out);
    size_t n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v[n - 1] = '\0';
        v++;
    }
    memmove(out, v, strlen(v) + 1);
    return 0;
}

/* Whether config.ini can hold the string so that it reads back the same: no control characters
 * (a newline would end the line) and no ';' after a space or tab (libinih starts an inline
 * comment there). Leading/trailing spaces, quotes and a leading ';' survive: the writer quotes
 * such values. */
static int string_writable(const char *v)
{
    for (const char *p = v; *p; p++) {
        if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f) return 0;
        if (*p == ';' && p > v && (p[-1] == ' ' || p[-1] == '\t')) return 0;
    }
    return 1;
}

/* ---- what a key accepts, and parsing one value ---- */

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
static void describe(const key_spec *ks, char *buf, size_t size)
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
            join_names(ks->names, " or ", extra, sizeof extra);
        else
            snprintf(extra, sizeof extra, "true or false (also yes/no, on/off, 1/0)");
        break;
    case K_ENUM: join_names(ks->names, ", ", extra, sizeof extra); break;
    case K_LIST:
        snprintf(extra, sizeof extra,
                 "a comma list of 1 to %d sizes, each an integer in [1, %d]", CLVAE_MAX_STOCH,
                 MAX_WIDTH);
        break;
    case K_GROUPS:
        snprintf(extra, sizeof extra,
                 "1 to %d groups separated by |, each a comma list of at most %d widths in "
                 "[1, %d] (\"\" = no hidden layer), e.g. 200,200 | 100,100",
                 CLVAE_MAX_STOCH, CLVAE_MAX_LAYERS, MAX_WIDTH);
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

static int in_range(const key_spec *ks, double v)
{
    if ((ks->range & R_LO) && !(v >= ks->lo)) return 0;
    if ((ks->range & R_LO_OPEN) && !(v > ks->lo)) return 0;
    if ((ks->range & R_HI) && !(v <= ks->hi)) return 0;
    if ((ks->range & R_HI_OPEN) && !(v < ks->hi)) return 0;
    return 1;
}

static int parse_ll(const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi) return -1;
    *out = x;
    return 0;
}

static int parse_bool(const key_spec *ks, const char *v, bool *out)
{
    static const char *const yes[] = {"true", "yes", "1", "on", NULL};
    static const char *const no[] = {"false", "no", "0", "off", NULL};
    if (ks->names && name_index(ks->names, v) >= 0) {
        *out = name_index(ks->names, v) == 1;
        return 0;
    }
    if (name_index(yes, v) >= 0 || name_index(no, v) >= 0) {
        *out = name_index(yes, v) >= 0;
        return 0;
    }
    return -1;
}

/* "512,256" -> {512, 256}, n = 2; "" -> n = 0; at most `max` items. Writes nothing on error. */
static int parse_list(const char *v, int max, int *widths, int *n_out)
{
    int tmp[CLVAE_MAX_LAYERS], n = 0;
    char buf[VALUE_MAX];
    snprintf(buf, sizeof buf, "%s", v);
    if (*trim(buf)) {
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
            long long w;
            if (n == max || parse_ll(trim(tok), 1, MAX_WIDTH, &w)) return -1;
            tmp[n++] = (int)w;
        }
        /* "400," or ",400" leave an empty item: strtok_r skips it, so check commas */
        size_t len = strlen(v);
        int commas = 0;
        for (size_t i = 0; i < len; i++)
            commas += v[i] == ',';
        if (commas != n - 1) return -1;
    }
    memcpy(widths, tmp, sizeof(int) * (size_t)n);
    *n_out = n;
    return 0;
}

/* "200,200 | 100,100" -> two groups; every group may be empty ("" or "| 100"). */
static int parse_groups(const char *v, clvae_widths *groups, int *n_out)
{
    clvae_widths tmp[CLVAE_MAX_STOCH] = {0}; /* unused entries zero: configs compare bytewise */
    char buf[VALUE_MAX];
    int n = 0;
    snprintf(buf, sizeof buf, "%s", v);
    for (char *p = buf, *bar;; p = bar + 1) {
        bar = strchr(p, '|');
        if (bar) *bar = '\0';
        if (n == CLVAE_MAX_STOCH || parse_list(p, CLVAE_MAX_LAYERS, tmp[n].w, &tmp[n].n))
            return -1;
        n++;
        if (!bar) break;
    }
    memcpy(groups, tmp, sizeof tmp);
    *n_out = n;
    return 0;
}

/* latent = 100,50: one size per stochastic layer, at least one. */
static int parse_sizes(const char *v, int *sizes, int *n_out)
{
    int tmp[CLVAE_MAX_STOCH] = {0}, n = 0;
    if (parse_list(v, CLVAE_MAX_STOCH, tmp, &n) || n == 0) return -1;
    memcpy(sizes, tmp, sizeof tmp);
    *n_out = n;
    return 0;
}

static int parse_number(clvae_config *cfg, const key_spec *ks, const char *v)
{
    void *p = field(cfg, ks->off);
    long long ll;
    if (ks->type == K_INT || ks->type == K_LONG) {
        long long hi = ks->type == K_INT ? INT_MAX : LONG_MAX;
        if (parse_ll(v, ks->type == K_INT ? INT_MIN : LONG_MIN, hi, &ll) ||
            !in_range(ks, (double)ll))
            return -1;
        if (ks->type == K_INT)
            *(int *)p = (int)ll;
        else
            *(long *)p = (long)ll;
        return 0;
    }
    if (ks->type == K_U64) {
        char *end;
        errno = 0;
        unsigned long long x = strtoull(v, &end, 10);
        if (!isdigit((unsigned char)*v) || *end || errno) return -1;
        *(unsigned long long *)p = x;
        return 0;
    }
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (!*v || *end || errno == ERANGE || !isfinite(x) || !in_range(ks, x)) return -1;
    *(double *)p = x;
    return 0;
}

/* Parses `raw` into the field of `ks`; on error fills `why` and changes nothing. */
static int apply_value(clvae_config *cfg, const key_spec *ks, const char *raw, char *why,
                       size_t why_size)
{
    char v[VALUE_MAX];
    void *p = field(cfg, ks->off);
    int rc = normalize_value(raw, v, sizeof v);
    if (rc == 0) {
        switch (ks->type) {
        case K_STR:
            rc = strlen(v) < ks->aux && string_writable(v) ? 0 : -1;
            if (rc == 0) memcpy(p, v, strlen(v) + 1);
            break;
        case K_BOOL: rc = parse_bool(ks, v, (bool *)p); break;
        case K_ENUM: {
            int i = name_index(ks->names, v);
            rc = i < 0 ? -1 : 0;
            if (rc == 0) *(int *)p = i;
            break;
        }
        case K_LIST: rc = parse_sizes(v, (int *)p, (int *)field(cfg, ks->aux)); break;
        case K_GROUPS: rc = parse_groups(v, (clvae_widths *)p, (int *)field(cfg, ks->aux)); break;
        default: rc = parse_number(cfg, ks, v); break;
        }
    }
    if (rc) describe(ks, why, why_size);
    return rc;
}

/* ---- the INI file ---- */

typedef struct load_state {
    clvae_config cfg; /* parsed into a copy; committed only when the whole file is good */
    const char *path;
    FILE *f;
    char *line; /* the current line, any length */
    size_t cap;
    int lineno;
    const char *long_value; /* value of a line too long for libinih's buffer, or NULL */
    int status;
    int err_line;
} load_state;

#define LONG_VALUE_MARK "\x01"

static void load_fail(load_state *st, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    if (st->status) return; /* keep the first error */
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    st->status = clvae_error(CLVAE_ERR_CONFIG, "%s", msg);
    st->err_line = st->lineno;
}

static void check_section_header(load_state *st)
{
    const char *s = st->line;
    while (isspace((unsigned char)*s))
        s++;
    const char *end = *s == '[' ? strchr(s, ']') : NULL;
    if (!end) return;
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)(end - s - 1), s + 1);
    if (name_index(section_names, name) < 0) {
        char valid[256];
        join_names(section_names, ", ", valid, sizeof valid);
        load_fail(st, "%s:%d: [%s]: unknown section; valid sections: %s", st->path, st->lineno,
                  name, valid);
    }
}

/* libinih's line reader: counts lines (for messages) and lets values longer than libinih's fixed
 * line buffer through by handing it "key=MARK" and keeping the value in `long_value`. */
static char *config_line_reader(char *str, int num, void *stream)
{
    load_state *st = stream;
    ssize_t n = getline(&st->line, &st->cap, st->f);
    if (n < 0) return NULL;
    st->lineno++;
    st->long_value = NULL;
    check_section_header(st);
    if (n < num) {
        memcpy(str, st->line, (size_t)n + 1);
        return str;
    }
    const char *s = st->line;
    while (isspace((unsigned char)*s))
        s++;
    char *eq = strpbrk(st->line, "=:");
    if (*s == ';' || *s == '#' || !eq || (eq - st->line) + 3 >= num) {
        if (*s != ';' && *s != '#')
            load_fail(st, "%s:%d: line too long and not a key = value line", st->path, st->lineno);
        snprintf(str, (size_t)num, ";\n");
        return str;
    }
    size_t k = (size_t)(eq - st->line) + 1;
    memcpy(str, st->line, k);
    memcpy(str + k, LONG_VALUE_MARK "\n", 3);
    st->long_value = st->line + k;
    return str;
}

/* The value of a long line, processed as libinih does: inline " ;" comments end it. */
static const char *long_line_value(const char *v, char *buf, size_t size)
{
    snprintf(buf, size, "%s", v);
    for (char *p = buf; *p; p++)
        if (*p == ';' && p > buf && isspace((unsigned char)p[-1])) {
            *p = '\0';
            break;
        }
    return trim(buf);
}

static int config_key_handler(void *user, const char *section, const char *name, const char *value)
{
    load_state *st = user;
    char long_buf[VALUE_MAX], why[1024], valid[1024];
    if (st->status) return 1;
    if (st->long_value && strcmp(value, LONG_VALUE_MARK) == 0)
        value = long_line_value(st->long_value, long_buf, sizeof long_buf);
    if (!*section) {
        join_names(section_names, ", ", valid, sizeof valid);
        load_fail(st, "%s:%d: %s: key outside any section; put it under one of: %s", st->path,
                  st->lineno, name, valid);
        return 1;
    }
    if (name_index(section_names, section) < 0) { /* normally reported at its header already */
        join_names(section_names, ", ", valid, sizeof valid);
        load_fail(st, "%s:%d: [%s]: unknown section; valid sections: %s", st->path, st->lineno,
                  section, valid);
        return 1;
    }
    const key_spec *ks = find_key(section, name);
    if (!ks) {
        list_keys(section, valid, sizeof valid);
        load_fail(st, "%s:%d: [%s] %s: unknown key; %s", st->path, st->lineno, section, name,
                  valid);
        return 1;
    }
    if (apply_value(&st->cfg, ks, value, why, sizeof why))
        load_fail(st, "%s:%d: [%s] %s = %s: %s", st->path, st->lineno, section, name, value, why);
    return 1;
}

int clvae_config_load(clvae_config *cfg, const char *path)
{
    load_state *st = calloc(1, sizeof *st);
    if (!st) return clvae_error(CLVAE_ERR_NOMEM, "config %s: out of memory", path);
    int status = CLVAE_OK;
    st->cfg = *cfg;
    st->path = path;
    st->f = fopen(path, "r");
    if (!st->f) {
        status = clvae_error(CLVAE_ERR_CONFIG, "config file %s: %s", path, strerror(errno));
        goto cleanup;
    }
    int rc = ini_parse_stream(config_line_reader, st, config_key_handler, st);
    if (rc == -2) {
        status = clvae_error(CLVAE_ERR_NOMEM, "config %s: out of memory", path);
        goto cleanup;
    }
    if (rc > 0 && (!st->status || rc < st->err_line)) {
        st->status = clvae_error(CLVAE_ERR_CONFIG,
                                 "%s:%d: cannot parse this line; expected [section], "
                                 "key = value or a ; comment",
                                 path, rc);
    }
    if (!st->status && ferror(st->f))
        st->status = clvae_error(CLVAE_ERR_CONFIG, "config file %s: read error", path);
    status = st->status;
    if (status == CLVAE_OK) *cfg = st->cfg;
cleanup:
    if (st->f) fclose(st->f);
    free(st->line);
    free(st);
    return status;
}

/* ---- --set ---- */

int clvae_config_set(clvae_config *cfg, const char *assignment)
{
    char buf[VALUE_MAX + 256], why[1024], valid[1024];
    if (strlen(assignment) >= sizeof buf)
        return clvae_error(CLVAE_ERR_CONFIG, "--set %.64s...: argument too long", assignment);
    strcpy(buf, assignment);
    char *eq = strchr(buf, '=');
    char *dot = eq ? memchr(buf, '.', (size_t)(eq - buf)) : NULL;
    if (!eq || !dot)
        return clvae_error(CLVAE_ERR_CONFIG,
                           "--set %s: expected SECTION.KEY=VALUE (e.g. model.latent=32)",
                           assignment);
    *eq = *dot = '\0';
    const char *section = trim(buf), *key = trim(dot + 1), *value = eq + 1;
    if (name_index(section_names, section) < 0) {
        join_names(section_names, ", ", valid, sizeof valid);
        return clvae_error(CLVAE_ERR_CONFIG, "--set %s: unknown section [%s]; valid sections: %s",
                           assignment, section, valid);
    }
    const key_spec *ks = find_key(section, key);
    if (!ks) {
        list_keys(section, valid, sizeof valid);
        return clvae_error(CLVAE_ERR_CONFIG, "--set %s: unknown key [%s] %s; %s", assignment,
                           section, key, valid);
    }
    if (apply_value(cfg, ks, value, why, sizeof why))
        return clvae_error(CLVAE_ERR_CONFIG, "--set %s: %s", assignment, why);
    return CLVAE_OK;
}

/* ---- defaults, validation, writing ---- */

void clvae_config_defaults(clvae_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->device.backend = CLVAE_BACKEND_AUTO;
    cfg->device.type = CLVAE_DEVTYPE_ANY;
    cfg->device.autotune = true;
    snprintf(cfg->data.train, sizeof cfg->data.train, "%s", CLVAE_BUILTIN_TRAIN);
    snprintf(cfg->data.test, sizeof cfg->data.test, "%s", CLVAE_BUILTIN_TEST);
    snprintf(cfg->data.train_labels, sizeof cfg->data.train_labels, "%s", CLVAE_LABELS_AUTO);
    snprintf(cfg->data.test_labels, sizeof cfg->data.test_labels, "%s", CLVAE_LABELS_AUTO);
    cfg->data.format = CLVAE_FORMAT_AUTO;
    cfg->data.residency = CLVAE_RESIDENCY_AUTO;
    cfg->data.overlap = true;
    snprintf(cfg->data.image_shape, sizeof cfg->data.image_shape, "auto");
    cfg->model.encoder[0] = (clvae_widths){1, {400}};
    cfg->model.n_encoder = 1;
    cfg->model.decoder[0] = (clvae_widths){1, {400}};
    cfg->model.n_decoder = 1;
    cfg->model.latent[0] = 20;
    cfg->model.n_latent = 1;
    cfg->model.activation = CLVAE_ACT_RELU;
    cfg->model.likelihood = CLVAE_LIK_BERNOULLI;
    cfg->model.sigma_x = 1.0;
    cfg->model.beta = 1.0;
    cfg->model.init = CLVAE_INIT_XAVIER;
    cfg->train.epochs = 10;
    cfg->train.batch = 128;
    cfg->train.optimizer = CLVAE_OPT_ADAM;
    cfg->train.lr = 1e-3;
    cfg->train.momentum = 0.9;
    cfg->train.seed = 1;
    cfg->train.samples = 1;
    cfg->train.log_every = 50;
    snprintf(cfg->output.dir, sizeof cfg->output.dir, "runs/default");
    cfg->output.checkpoint_every = 1;
}

/* The shortest %g form that reads back to the same double. */
static void format_double(double x, char *buf, size_t size)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) return;
    }
}

/* "400,200"; "" (quoted) when empty. */
static void format_widths(const int *w, int n, char *buf, size_t size)
{
    size_t used = 0;
    snprintf(buf, size, "%s", n > 0 ? "" : "\"\"");
    for (int i = 0; i < n && i < CLVAE_MAX_LAYERS && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%d", i ? "," : "", w[i]);
}

static void format_value(const clvae_config *cfg, const key_spec *ks, char *buf, size_t size)
{
    const void *p = field(cfg, ks->off);
    switch (ks->type) {
    case K_STR: {
        /* quoted when reading back would trim or unquote it: one pair of quotes is dropped */
        const char *v = p;
        size_t n = strlen(v);
        int quote = n == 0 || isspace((unsigned char)v[0]) || isspace((unsigned char)v[n - 1]) ||
                    v[0] == ';' || /* "dir = ;x" would be a comment */
                    (v[0] == '"' && n >= 2 && v[n - 1] == '"');
        snprintf(buf, size, quote ? "\"%s\"" : "%s", v);
        break;
    }
    case K_INT: snprintf(buf, size, "%d", *(const int *)p); break;
    case K_LONG: snprintf(buf, size, "%ld", *(const long *)p); break;
    case K_U64: snprintf(buf, size, "%llu", *(const unsigned long long *)p); break;
    case K_DBL: format_double(*(const double *)p, buf, size); break;
    case K_BOOL: {
        int b = *(const bool *)p ? 1 : 0;
        snprintf(buf, size, "%s", ks->names ? ks->names[b] : (b ? "true" : "false"));
        break;
    }
    case K_ENUM: {
        int v = *(const int *)p;
        snprintf(buf, size, "%s", v >= 0 && v < names_count(ks->names) ? ks->names[v] : "?");
        break;
    }
    case K_LIST: format_widths(p, *(const int *)field(cfg, ks->aux), buf, size); break;
    case K_GROUPS: {
        const clvae_widths *g = p;
        int n = *(const int *)field(cfg, ks->aux);
        size_t used = 0;
        buf[0] = '\0';
        for (int i = 0; i < n && i < CLVAE_MAX_STOCH && used < size; i++) {
            char one[VALUE_MAX];
            format_widths(g[i].w, g[i].n, one, sizeof one);
            /* an empty group inside a list is written as nothing: "| 100" */
            used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? " | " : "",
                                     g[i].n || n == 1 ? one : "");
        }
        break;
    }
    }
}

static int widths_valid(const int *w, int n)
{
    for (int i = 0; i < n; i++)
        if (w[i] < 1 || w[i] > MAX_WIDTH) return 0;
    return 1;
}

static int field_valid(const clvae_config *cfg, const key_spec *ks)
{
    const void *p = field(cfg, ks->off);
    switch (ks->type) {
    case K_STR: return memchr(p, '\0', ks->aux) != NULL;
    case K_INT: return in_range(ks, *(const int *)p);
    case K_LONG: return in_range(ks, (double)*(const long *)p);
    case K_DBL: return isfinite(*(const double *)p) && in_range(ks, *(const double *)p);
    case K_ENUM: return *(const int *)p >= 0 && *(const int *)p < names_count(ks->names);
    case K_LIST: {
        const int *w = p, n = *(const int *)field(cfg, ks->aux);
        if (n < 1 || n > CLVAE_MAX_STOCH) return 0;
        return widths_valid(w, n);
    }
    case K_GROUPS: {
        const clvae_widths *g = p;
        int n = *(const int *)field(cfg, ks->aux);
        if (n < 1 || n > CLVAE_MAX_STOCH) return 0;
        for (int i = 0; i < n; i++)
            if (g[i].n < 0 || g[i].n > CLVAE_MAX_LAYERS || !widths_valid(g[i].w, g[i].n)) return 0;
        return 1;
    }
    default: return 1;
    }
}

/* A conditional model needs labels for both sets: given paths, or "auto" with the built-in data. */
static int validate_labels(const clvae_config *cfg)
{
    if (!cfg->model.conditional) return CLVAE_OK;
    for (int test = 0; test < 2; test++) {
        const char *labels = test ? cfg->data.test_labels : cfg->data.train_labels;
        const char *images = test ? cfg->data.test : cfg->data.train;
        const char *builtin = test ? CLVAE_BUILTIN_TEST : CLVAE_BUILTIN_TRAIN;
        bool none = !*labels || (strcmp(labels, CLVAE_LABELS_AUTO) == 0 && strcmp(images, builtin) != 0);
        if (none)
            return clvae_error(CLVAE_ERR_CONFIG,
                               "config: [model] conditional = true needs [data] %s: it is %s; "
                               "give the label file (IDX or NPY, integers 0..C-1, one per image "
                               "of %s), or conditional = false",
                               test ? "test_labels" : "train_labels",
                               *labels ? "auto, which means none with your own images" : "\"\" (none)",
                               images);
    }
    return CLVAE_OK;
}

/* Constraints between keys: one encoder and one decoder group per stochastic layer, and what
 * the importance-weighted bound cannot take. */
static int validate_cross(const clvae_config *cfg)
{
    int T = cfg->model.n_latent;
    const char *key = cfg->model.n_encoder != T ? "encoder" : cfg->model.n_decoder != T ? "decoder" : NULL;
    if (key) {
        int n = key[0] == 'e' ? cfg->model.n_encoder : cfg->model.n_decoder;
        return clvae_error(CLVAE_ERR_CONFIG,
                           "config: [model] %s has %d group%s but latent = lists %d stochastic "
                           "layer%s: give one group per layer, separated by | (e.g. latent = "
                           "100,50 with encoder = 200,200 | 100,100 and decoder = 100,100 | "
                           "200,200)",
                           key, n, n == 1 ? "" : "s", T, T == 1 ? "" : "s");
    }
    if (cfg->train.objective == CLVAE_OBJ_IWAE && cfg->model.beta != 1.0)
        return clvae_error(CLVAE_ERR_CONFIG,
                           "config: [model] beta = %g with [train] objective = iwae: the "
                           "importance-weighted bound has no KL term to weight; use beta = 1, or "
                           "objective = elbo for a beta-VAE",
                           cfg->model.beta);
    if (cfg->train.objective == CLVAE_OBJ_IWAE && cfg->model.beta_warmup > 0)
        return clvae_error(CLVAE_ERR_CONFIG,
                           "config: [model] beta_warmup = %ld with [train] objective = iwae: "
                           "warm-up weights the ELBO's KL term, which the importance-weighted "
                           "bound does not have; use beta_warmup = 0, or objective = elbo",
                           cfg->model.beta_warmup);
    return validate_labels(cfg);
}

int clvae_config_validate(const clvae_config *cfg)
{
    char value[VALUE_MAX], why[1024];
    for (size_t i = 0; i < N_KEYS; i++) {
        const key_spec *ks = &keys[i];
        if (field_valid(cfg, ks)) continue;
        if (ks->type == K_STR)
            snprintf(value, sizeof value, "(not terminated)");
        else
            format_value(cfg, ks, value, sizeof value);
        describe(ks, why, sizeof why);
        return clvae_error(CLVAE_ERR_CONFIG, "config: [%s] %s = %s: %s", ks->section, ks->key,
                           value, why);
    }
    return validate_cross(cfg);
}

static int write_keys(const clvae_config *cfg, FILE *f)
{
    char value[VALUE_MAX];
    const char *section = "";
    fprintf(f, "; clvae run configuration (written by clvae; read back with -c FILE)\n");
    for (size_t i = 0; i < N_KEYS; i++) {
        const key_spec *ks = &keys[i];
        if (strcmp(section, ks->section) != 0) {
            section = ks->section;
            fprintf(f, "\n[%s]\n", section);
        }
        format_value(cfg, ks, value, sizeof value);
        fprintf(f, "; %s\n%s = %s\n", ks->comment, ks->key, value);
    }
    return ferror(f) ? -1 : 0;
}

int clvae_config_write(const clvae_config *cfg, const char *path)
{
    char tmp[CLVAE_PATH_MAX + 16];
    int status = clvae_config_validate(cfg);
    if (status) return status;
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return clvae_error(CLVAE_ERR_IO, "config %s: path too long", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return clvae_error(CLVAE_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    int bad = write_keys(cfg, f);
    bad |= fflush(f) != 0;
    int err = errno;
    bad |= fclose(f) != 0;
    if (bad) {
        remove(tmp);
        return clvae_error(CLVAE_ERR_IO, "cannot write %s: %s", tmp, strerror(err ? err : EIO));
    }
    if (rename(tmp, path) != 0) {
        err = errno;
        remove(tmp);
        return clvae_error(CLVAE_ERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror(err));
    }
    return CLVAE_OK;
}

const char *clvae_act_name(clvae_act a)
{
    return (int)a >= 0 && (int)a < names_count(act_names) ? act_names[a] : "?";
}

const char *clvae_likelihood_name(clvae_likelihood l)
{
    return (int)l >= 0 && (int)l < names_count(lik_names) ? lik_names[l] : "?";
}
