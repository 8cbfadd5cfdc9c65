/* Parsing one config value (INI line or --set) into its clvae_config field: numbers with
 * ranges, booleans, enums, width lists and | groups; on error nothing changes. */
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

char *clvae_cfg_trim(char *s)
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
    char *v = clvae_cfg_trim(out);
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
    if (ks->names && clvae_cfg_name_index(ks->names, v) >= 0) {
        *out = clvae_cfg_name_index(ks->names, v) == 1;
        return 0;
    }
    if (clvae_cfg_name_index(yes, v) >= 0 || clvae_cfg_name_index(no, v) >= 0) {
        *out = clvae_cfg_name_index(yes, v) >= 0;
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
    if (*clvae_cfg_trim(buf)) {
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
            long long w;
            if (n == max || parse_ll(clvae_cfg_trim(tok), 1, MAX_WIDTH, &w)) return -1;
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
    void *p = clvae_cfg_field(cfg, ks->off);
    long long ll;
    if (ks->type == K_INT || ks->type == K_LONG) {
        long long hi = ks->type == K_INT ? INT_MAX : LONG_MAX;
        if (parse_ll(v, ks->type == K_INT ? INT_MIN : LONG_MIN, hi, &ll) ||
            !clvae_cfg_in_range(ks, (double)ll))
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
    if (!*v || *end || errno == ERANGE || !isfinite(x) || !clvae_cfg_in_range(ks, x)) return -1;
    *(double *)p = x;
    return 0;
}

/* Parses `raw` into the field of `ks`; on error fills `why` and changes nothing. */
int clvae_cfg_apply_value(clvae_config *cfg, const key_spec *ks, const char *raw, char *why,
                       size_t why_size)
{
    char v[VALUE_MAX];
    void *p = clvae_cfg_field(cfg, ks->off);
    int rc = normalize_value(raw, v, sizeof v);
    why[0] = '\0';
    if (rc == 0) {
        switch (ks->type) {
        case K_STR:
            rc = strlen(v) < ks->aux && string_writable(v) ? 0 : -1;
            if (rc == 0) memcpy(p, v, strlen(v) + 1);
            break;
        case K_BOOL: rc = parse_bool(ks, v, (bool *)p); break;
        case K_ENUM: {
            int i = clvae_cfg_name_index(ks->names, v);
            rc = i < 0 ? -1 : 0;
            if (rc == 0) *(int *)p = i;
            break;
        }
        case K_LIST: rc = parse_sizes(v, (int *)p, (int *)clvae_cfg_field(cfg, ks->aux)); break;
        case K_GROUPS:
            rc = clvae_cfg_parse_groups(v, (clvae_widths *)p, (int *)clvae_cfg_field(cfg, ks->aux),
                                        why, why_size);
            break;
        case K_ITEM: rc = clvae_cfg_parse_out_item(v, (clvae_item *)p, why, why_size); break;
        case K_ENUMS:
        case K_GXK: rc = clvae_cfg_parse_latent(cfg, ks, v); break;
        default: rc = parse_number(cfg, ks, v); break;
        }
    }
    if (rc) {
        char reason[1024], valid[1024];
        snprintf(reason, sizeof reason, "%s", why);
        clvae_cfg_describe(ks, valid, sizeof valid);
        snprintf(why, why_size, "%s%s%s", reason, reason[0] ? "; " : "", valid);
    }
    return rc;
}
