/* Run configuration: the INI reader (libinih), --set overrides, defaults and the writer. The key
 * table is in config_keys.c, value parsing in config_parse.c, validation in config_validate.c. */
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
#include "config_internal.h"

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
    if (clvae_cfg_name_index(clvae_cfg_section_names, name) < 0) {
        char valid[256];
        clvae_cfg_join_names(clvae_cfg_section_names, ", ", valid, sizeof valid);
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
    return clvae_cfg_trim(buf);
}

static int config_key_handler(void *user, const char *section, const char *name, const char *value)
{
    load_state *st = user;
    char long_buf[VALUE_MAX], why[1024], valid[1024];
    if (st->status) return 1;
    if (st->long_value && strcmp(value, LONG_VALUE_MARK) == 0)
        value = long_line_value(st->long_value, long_buf, sizeof long_buf);
    if (!*section) {
        clvae_cfg_join_names(clvae_cfg_section_names, ", ", valid, sizeof valid);
        load_fail(st, "%s:%d: %s: key outside any section; put it under one of: %s", st->path,
                  st->lineno, name, valid);
        return 1;
    }
    if (clvae_cfg_name_index(clvae_cfg_section_names, section) < 0) { /* normally reported at its header already */
        clvae_cfg_join_names(clvae_cfg_section_names, ", ", valid, sizeof valid);
        load_fail(st, "%s:%d: [%s]: unknown section; valid sections: %s", st->path, st->lineno,
                  section, valid);
        return 1;
    }
    const key_spec *ks = clvae_cfg_find_key(section, name);
    if (!ks) {
        clvae_cfg_list_keys(section, valid, sizeof valid);
        load_fail(st, "%s:%d: [%s] %s: unknown key; %s", st->path, st->lineno, section, name,
                  valid);
        return 1;
    }
    if (clvae_cfg_apply_value(&st->cfg, ks, value, why, sizeof why))
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
    const char *section = clvae_cfg_trim(buf), *key = clvae_cfg_trim(dot + 1), *value = eq + 1;
    if (clvae_cfg_name_index(clvae_cfg_section_names, section) < 0) {
        clvae_cfg_join_names(clvae_cfg_section_names, ", ", valid, sizeof valid);
        return clvae_error(CLVAE_ERR_CONFIG, "--set %s: unknown section [%s]; valid sections: %s",
                           assignment, section, valid);
    }
    const key_spec *ks = clvae_cfg_find_key(section, key);
    if (!ks) {
        clvae_cfg_list_keys(section, valid, sizeof valid);
        return clvae_error(CLVAE_ERR_CONFIG, "--set %s: unknown key [%s] %s; %s", assignment,
                           section, key, valid);
    }
    if (clvae_cfg_apply_value(cfg, ks, value, why, sizeof why))
        return clvae_error(CLVAE_ERR_CONFIG, "--set %s: %s", assignment, why);
    return CLVAE_OK;
}

/* ---- defaults and writing ---- */

void clvae_config_defaults(clvae_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->device.backend = CLVAE_BACKEND_AUTO;
    cfg->device.type = CLVAE_DEVTYPE_ANY;
    cfg->device.autotune = true;
    cfg->device.command_buffer = CLVAE_CMDBUF_AUTO;
    snprintf(cfg->data.train, sizeof cfg->data.train, "%s", CLVAE_BUILTIN_TRAIN);
    snprintf(cfg->data.test, sizeof cfg->data.test, "%s", CLVAE_BUILTIN_TEST);
    snprintf(cfg->data.train_labels, sizeof cfg->data.train_labels, "%s", CLVAE_LABELS_AUTO);
    snprintf(cfg->data.test_labels, sizeof cfg->data.test_labels, "%s", CLVAE_LABELS_AUTO);
    cfg->data.format = CLVAE_FORMAT_AUTO;
    cfg->data.residency = CLVAE_RESIDENCY_AUTO;
    cfg->data.overlap = true;
    snprintf(cfg->data.image_shape, sizeof cfg->data.image_shape, "auto");
    cfg->model.encoder[0] = (clvae_widths){.n = 1, .w = {400}};
    cfg->model.n_encoder = 1;
    cfg->model.decoder[0] = (clvae_widths){.n = 1, .w = {400}};
    cfg->model.n_decoder = 1;
    cfg->model.latent[0] = 20;
    cfg->model.n_latent = 1;
    cfg->model.activation = CLVAE_ACT_RELU;
    cfg->model.leaky_slope = 0.01;
    cfg->model.likelihood = CLVAE_LIK_BERNOULLI;
    cfg->model.sigma_x = 1.0;
    cfg->model.beta = 1.0;
    cfg->model.init = CLVAE_INIT_XAVIER;
    cfg->model.latent_type[0] = CLVAE_LATENT_GAUSSIAN;
    cfg->model.n_latent_type = 1;
    cfg->model.categorical[0] = 30;
    cfg->model.categorical[1] = 10;
    cfg->train.epochs = 10;
    cfg->train.batch = 128;
    cfg->train.optimizer = CLVAE_OPT_ADAM;
    cfg->train.lr = 1e-3;
    cfg->train.momentum = 0.9;
    cfg->train.seed = 1;
    cfg->train.samples = 1;
    cfg->train.log_every = 50;
    cfg->train.tau = 1.0;
    cfg->train.tau_min = 0.5;
    cfg->train.tau_decay = 3e-5;
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

/* "conv 32 k4 s2 p1, 64"; "" (quoted) when empty. */
static void format_items(const clvae_widths *g, char *buf, size_t size)
{
    size_t used = 0;
    snprintf(buf, size, "%s", g->n > 0 ? "" : "\"\"");
    for (int i = 0; i < g->n && i < CLVAE_MAX_LAYERS && used < size; i++) {
        char one[256];
        clvae_cfg_format_item(&g->item[i], g->w[i], one, sizeof one);
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", one);
    }
}

void clvae_cfg_format_value(const clvae_config *cfg, const key_spec *ks, char *buf, size_t size)
{
    const void *p = clvae_cfg_field(cfg, ks->off);
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
        snprintf(buf, size, "%s", v >= 0 && v < clvae_cfg_names_count(ks->names) ? ks->names[v] : "?");
        break;
    }
    case K_LIST: format_widths(p, *(const int *)clvae_cfg_field(cfg, ks->aux), buf, size); break;
    case K_ITEM: {
        const clvae_item *it = p;
        if (it->kind == CLVAE_ITEM_DENSE) snprintf(buf, size, "dense");
        else clvae_cfg_format_item(it, it->channels, buf, size);
        break;
    }
    case K_GROUPS: {
        const clvae_widths *g = p;
        int n = *(const int *)clvae_cfg_field(cfg, ks->aux);
        size_t used = 0;
        buf[0] = '\0';
        for (int i = 0; i < n && i < CLVAE_MAX_STOCH && used < size; i++) {
            char one[VALUE_MAX];
            format_items(&g[i], one, sizeof one);
            /* an empty group inside a list is written as nothing: "| 100" */
            used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? " | " : "",
                                     g[i].n || n == 1 ? one : "");
        }
        break;
    }
    case K_ENUMS:
    case K_GXK: clvae_cfg_format_latent(cfg, ks, buf, size); break;
    }
}






static int write_keys(const clvae_config *cfg, FILE *f)
{
    char value[VALUE_MAX];
    const char *section = "";
    fprintf(f, "; clvae run configuration (written by clvae; read back with -c FILE)\n");
    for (size_t i = 0; i < clvae_cfg_n_keys; i++) {
        const key_spec *ks = &clvae_cfg_keys[i];
        if (strcmp(section, ks->section) != 0) {
            section = ks->section;
            fprintf(f, "\n[%s]\n", section);
        }
        clvae_cfg_format_value(cfg, ks, value, sizeof value);
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


